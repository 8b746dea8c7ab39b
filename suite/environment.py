"""The run's context in pytest-benchmark's shape: machine_info (with our environment) and commit_info."""

from __future__ import annotations


def machine_info() -> dict:
    """pytest-benchmark's own machine_info plus a `tradeoff_bench` block (torch, threads, GPUs,
    allocator, fingerprint), exactly what the pytest hook adds."""
    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info

    info = pytest_benchmark_generate_machine_info()
    add_environment(info)
    return info


def add_environment(info: dict) -> None:
    """Add the suite's environment block to a machine_info dict (reusing its CPU description)."""
    from suite.devices import environment, keep_cpu_info

    if info.get("cpu"):
        keep_cpu_info(info["cpu"])  # read once: the per-case node identity (suite/executors/node.py) reuses it
    info["tradeoff_bench"] = environment(info.get("cpu") or None)


def commit_info() -> dict:
    """pytest-benchmark's commit_info for the current directory."""
    from pytest_benchmark.utils import get_commit_info

    return get_commit_info()
