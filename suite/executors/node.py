"""Measure one case on this node and record which node it was: its environment fingerprint and host name.

The fingerprint is the one of suite.measure.devices.environment_parts (CPU brand and instruction-set class among
its parts), taken with the parent process's allocator and the intra-op thread count in effect for cases that set
none (on Ray, the CPUs the task reserved). It describes the machine only: a lever a case sets (its `threads`, an
allocator) is in the case, so compare pairs the variant with its base. So the same plan gives the same
fingerprints under every executor, and a node with other hardware, software or default thread count gives another.
Beside it, the `process_*` keys record what the process that measured the case ran with (suite.levers.environment)."""

from __future__ import annotations

import functools
import os
import socket
import time

import torch

from suite import levers, runner
from suite.executors.instructions import CountConfig, count_case
from suite.levers import environment
from suite.levers.threads import intra_op_threads
from suite.measure.devices import allocator_info, cpu_info, fingerprint, gpu_info, tf32_settings
from suite.plumbing.errors import ConfigError
from suite.results.isa import isa_class
from suite.results.schema import CaseResult


@functools.cache
def _fixed_parts() -> dict:
    """The parts of the environment that do not change within a process (cpuinfo takes about a second)."""
    cpu = cpu_info()
    return {"cpu_brand": cpu.get("brand_raw", "unknown"), "cpu_isa": isa_class(cpu), "cpu_cores": os.cpu_count(),
            "torch": torch.__version__, "gpus": gpu_info(), "allocator": allocator_info()}


def node_identity(threads: int) -> dict:
    """{"fingerprint", "host"} of this node, whose cases that set no thread count run with `threads`."""
    env = {**_fixed_parts(), "torch_threads": threads, "tf32": tf32_settings()}
    return {"fingerprint": fingerprint(env), "host": socket.gethostname()}


def measure_here(case, request, threads: int | None = None, progress=None, own_process: bool = False):
    """(CaseResult, seconds): `case` measured in this process by the runner, under `threads` intra-op
    threads when the case sets none (None: the count in effect), with the node's identity attached;
    `progress` (suite.plumbing.progress.CaseProgress) is passed to the runner. With request.isolation "process", or
    for a case that sets an environment lever, the case is measured by this function in a fresh interpreter
    instead (suite.executors.isolated), which calls it with `own_process` (the case's process: its environment
    levers are applied and checked here)."""
    default_threads = threads or torch.get_num_threads()
    variables = levers.process_environment(case)  # a case that needs them runs in a process of its own
    if not own_process and (request.isolation != "none" or variables):
        from suite.executors.isolated import measure_in_child

        result, seconds = measure_in_child(case, request, threads, env=variables)
        result.node = {**(result.node or {}), **node_identity(default_threads)}  # this node's, not the child's
        return result, seconds
    start = time.perf_counter()
    evidence = applied_levers(case) if own_process else None
    with intra_op_threads(threads if case.threads is None else None):
        if isinstance(evidence, str):
            result = CaseResult(case.id, case.as_dict(), "error", evidence)
        else:
            result = measure_with(case, request.config, request.data_dir, request.download, progress)
        evidence = evidence if isinstance(evidence, dict) else environment.process_evidence()
        process = {f"process_{k}": v for k, v in evidence.items()}
        # a case's own process leaves the identity to its parent: the child's allocator is the case's lever
        result.node = process if own_process else {**node_identity(default_threads), **process}
    return result, time.perf_counter() - start


def applied_levers(case) -> dict | str:
    """In the case's own process: its environment levers applied and checked; what the process runs with, or the
    error when a lever did not take."""
    try:
        levers.in_process(case)
        evidence = environment.process_evidence()
        environment.check_applied(case, evidence)
    except (RuntimeError, ConfigError) as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return evidence


def measure_with(case, config, data_dir=None, download: bool = False, progress=None):
    """`case` measured as `config` asks: timed by the runner (suite.runner.MeasureConfig) or its instructions
    counted under valgrind (suite.executors.instructions.CountConfig)."""
    if isinstance(config, CountConfig):
        return count_case(case, config, data_dir, download)
    return runner.run_case(case, config, data_dir=data_dir, download=download, progress=progress)
