"""Measure one case on this node and record which node it was: its environment fingerprint and host name.

The fingerprint is the one of suite.measure.devices.environment_parts (CPU brand and instruction-set class among
its parts), taken with the intra-op thread count the case ran with (its `threads`, else the count in effect: on
Ray, the CPUs the task reserved). So the same plan with the same `threads` gives the same fingerprints under every
executor, and a node with other hardware, software or thread count gives another.
"""

from __future__ import annotations

import functools
import os
import socket
import time

import torch

from suite import runner
from suite.executors.instructions import CountConfig, count_case
from suite.levers import intra_op_threads
from suite.measure.devices import allocator_info, cpu_info, fingerprint, gpu_info, tf32_settings
from suite.results.isa import isa_class


@functools.cache
def _fixed_parts() -> dict:
    """The parts of the environment that do not change within a process (cpuinfo takes about a second)."""
    cpu = cpu_info()
    return {"cpu_brand": cpu.get("brand_raw", "unknown"), "cpu_isa": isa_class(cpu), "cpu_cores": os.cpu_count(),
            "torch": torch.__version__, "gpus": gpu_info(), "allocator": allocator_info()}


def node_identity(threads: int) -> dict:
    """{"fingerprint", "host"} of this node for a case run with `threads` intra-op threads."""
    env = {**_fixed_parts(), "torch_threads": threads, "tf32": tf32_settings()}
    return {"fingerprint": fingerprint(env), "host": socket.gethostname()}


def measure_here(case, request, threads: int | None = None, progress=None):
    """(CaseResult, seconds): `case` measured in this process by the runner, under `threads` intra-op
    threads when the case sets none (None: the count in effect), with the node's identity attached;
    `progress` (suite.plumbing.progress.CaseProgress) is passed to the runner. With request.isolation "process" the
    case is measured by this function in a fresh interpreter instead (suite.executors.isolated)."""
    if request.isolation != "none":
        from suite.executors.isolated import measure_in_child

        return measure_in_child(case, request, threads)
    start = time.perf_counter()
    with intra_op_threads(threads if case.threads is None else None):
        result = measure_with(case, request.config, request.data_dir, request.download, progress)
        result.node = node_identity(case.threads or torch.get_num_threads())
    return result, time.perf_counter() - start


def measure_with(case, config, data_dir=None, download: bool = False, progress=None):
    """`case` measured as `config` asks: timed by the runner (suite.runner.MeasureConfig) or its instructions
    counted under valgrind (suite.executors.instructions.CountConfig)."""
    if isinstance(config, CountConfig):
        return count_case(case, config, data_dir, download)
    return runner.run_case(case, config, data_dir=data_dir, download=download, progress=progress)
