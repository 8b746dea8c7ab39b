"""The run's context: the environment block (what the figures depend on, its fingerprint and the measured compute
ceilings), and pytest-benchmark's machine_info and commit_info around it."""

from __future__ import annotations

from suite.measure.ceiling import environment_ceilings
from suite.measure.devices import environment_parts, keep_cpu_info


def environment(cpu: dict | None = None) -> dict:
    """suite.measure.devices.environment_parts (with its fingerprint) and the measured matmul ceilings of that
    fingerprint (suite.measure.ceiling) under `compute_ceilings`."""
    env = environment_parts(cpu)
    env["compute_ceilings"] = environment_ceilings(env["fingerprint"])
    return env


def machine_info() -> dict:
    """pytest-benchmark's own machine_info plus a `tradeoff_bench` block (torch, threads, GPUs,
    allocator, fingerprint), exactly what the pytest hook adds."""
    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info

    info = pytest_benchmark_generate_machine_info()
    add_environment(info)
    return info


def add_environment(info: dict) -> None:
    """Add the suite's environment block to a machine_info dict (reusing its CPU description)."""
    if info.get("cpu"):
        keep_cpu_info(info["cpu"])  # read once: the per-case node identity (suite/executors/node.py) reuses it
    info["tradeoff_bench"] = environment(info.get("cpu") or None)


def commit_info() -> dict:
    """pytest-benchmark's commit_info for the current directory."""
    from pytest_benchmark.utils import get_commit_info

    return get_commit_info()
