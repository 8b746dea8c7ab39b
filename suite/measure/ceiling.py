"""This machine's dense matrix-multiply rate per device and precision: the denominator of MFU.

Method: square `torch.matmul` of n x n matrices (n = 2048 on CPU, 8192 on accelerators: large
enough that the GEMM kernels run at their steady rate), 2 * n**3 FLOPs per matmul (n**2 outputs,
n multiply-adds each, 2 FLOPs per multiply-add as torch's FlopCounterMode counts them), one warm-up
call, then the median rate over ROUNDS timed rounds of enough calls to last ROUND_S seconds.

Every measurement, a re-check included, ends within MAX_SECONDS whatever the hardware (an emulated bf16
matmul of 2048 x 2048 takes tens of seconds on a CPU without bf16 instructions): the size grows from
START_SIZE, doubling while a call of the next size (8x the FLOPs) still fits its share of the time, up to n
(a size's call time is the fastest of three, so one stalled call does not stop the search);
rounds stop early when the next one would pass the bound. The record names the size and rounds used.

Figures are cached per environment fingerprint (CPU, cores, torch, threads, GPUs, allocator) in
$TRADEOFF_BENCH_CACHE, else $XDG_CACHE_HOME/tradeoff-bench, else ~/.cache/tradeoff-bench. A cached
figure is trusted for one process only after a short re-measurement (RECHECK_ROUNDS rounds, about half a
second) agrees with it within RECHECK_TOLERANCE; otherwise it is measured again in full and replaced.
Every measured figure is cached, so the fresh processes of one run reuse it; one measured on a busy machine
(noisy rounds, NOISY_IQR, or this process getting less than BUSY_CPU_SHARE of the CPU time its threads could
use while timing) is flagged, and like any cached figure serves a later process only while the re-check agrees
(a quieter machine measures it again). Every ceiling a run used is listed in its environment block, and each
case names its own (mfu_ceiling_key).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from suite.measure.devices import environment_parts, time_region
from suite.plumbing.errors import ConfigError, choices_error
from suite.plumbing.fileio import write_json_atomic
from suite.plumbing.stats import spread

PRECISIONS = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
              "fp64": torch.float64}
GEMM_SIZE = {"cpu": 2048}
ACCELERATOR_GEMM_SIZE = 8192
ROUNDS = 5
ROUND_S = 0.1
MAX_SECONDS = 5.0  # the bound on one measurement, whatever the hardware
START_SIZE = 32  # the first size timed: 65,536 FLOPs, a fraction of a second even emulated
SIZE_CALLS = 3  # calls timed per size while searching for the size that fits
# IQR/median above which a figure is flagged noisy (torch.utils.benchmark's Measurement
# warns on a large IQR/median the same way; 10% is the agreement the ceiling is held to)
NOISY_IQR = 0.1
CACHE_ENV = "TRADEOFF_BENCH_CACHE"
RECHECK_ROUNDS = 3
RECHECK_TOLERANCE = 0.10  # a cached ceiling off by more than 10% from a fresh short measurement is replaced
BUSY_CPU_SHARE = 0.85  # matmul threads busy less than 85% of the time: another process took the CPUs

_measured: dict[str, dict] = {}  # ceiling_name -> record, for this process


_matmul = torch.matmul  # the timed operation (tests put a simulated slow machine here)


def _gemm(device: torch.device, precision: str, n: int):
    """A call multiplying two seeded n x n matrices of `precision` on `device` into a preallocated output."""
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=generator).to(device, PRECISIONS[precision]) for _ in range(2))
    out = torch.empty_like(a)
    return lambda: _matmul(a, b, out=out)


def _fitting_size(device: torch.device, precision: str, wanted: int, share: float, known: bool = False):
    """(n, call, seconds per call): the largest of START_SIZE, 2x, 4x, ... (at most `wanted`) whose call leaves
    the next size (8x the FLOPs) over `share` seconds, or `wanted` itself. A size's call time is the fastest of
    SIZE_CALLS calls: the first allocates and picks kernels, and one call stalled by another process must not
    stop the search at a size too small to show the device's rate.

    `known`: `wanted` is a size measured here before (a re-check): one call per size, the search still bounding
    the time (a stalled call that stops it early gives a rate the re-check rejects, then a full measurement)."""
    n = min(START_SIZE, wanted)
    while True:
        call = _gemm(device, precision, n)
        per_call = min(time_region(device, call) for _ in range(1 if known else SIZE_CALLS))
        if n >= wanted or 8 * per_call > share:
            return n, call, per_call
        n = min(2 * n, wanted)


def _timed_round(device: torch.device, call, iterations: int, deadline: float) -> float:
    """Seconds per call over `iterations` calls, timed a tenth at a time and cut short once `deadline` has passed:
    a machine slowed down mid-round (other processes taking the cores) cannot hold a measurement past its bound."""
    chunk, done, elapsed = max(1, iterations // 10), 0, 0.0
    while done < iterations and (done == 0 or time.perf_counter() <= deadline):
        calls = min(chunk, iterations - done)
        elapsed += time_region(device, call, calls)
        done += calls
    return elapsed / done


def measure_ceiling(device: torch.device, precision: str = "fp32", n: int | None = None,
                    rounds: int = ROUNDS, max_seconds: float = MAX_SECONDS, known_size: bool = False) -> dict:
    """Time square matmuls on `device` and return the rate (FLOP/s) with its spread and method, within
    `max_seconds` (smaller matrices than `n`, or fewer rounds, where the hardware is slow). `known_size`: `n` was
    measured here before, so its call is timed first (see _fitting_size)."""
    if precision not in PRECISIONS:
        raise choices_error("precision", precision, PRECISIONS)
    if precision == "tf32" and device.type != "cuda":
        raise ConfigError(f"precision 'tf32' is a CUDA matmul mode; on {device.type} measure 'fp32'")
    wanted = n or GEMM_SIZE.get(device.type, ACCELERATOR_GEMM_SIZE)
    begin = time.perf_counter()
    with matmul_tf32(device, precision) as tf32:
        # the size search costs about 3.4 calls of the final size (3 per size, 1/8 as long for each size before), the
        # rounds `rounds` more at most
        n, call, per_call = _fitting_size(device, precision, wanted, max_seconds / (rounds + 4),
                                          known_size and n is not None)
        iterations = max(1, round(ROUND_S / per_call))
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        seconds, deadline = [], begin + max_seconds
        while len(seconds) < rounds and (not seconds or time.perf_counter() + seconds[-1] * iterations <= deadline):
            seconds.append(_timed_round(device, call, iterations, deadline))
        cpu_share = (time.process_time() - cpu_before) / ((time.perf_counter() - wall_before)
                                                          * torch.get_num_threads())
        matmul_precision = torch.get_float32_matmul_precision()
    rate = spread([2 * n**3 / s for s in seconds])
    return {
        "device": device.type, "precision": precision, "flops_per_s": rate["median"],
        "flops_per_s_min": rate["min"], "flops_per_s_max": rate["max"], "flops_per_s_iqr": rate["iqr"],
        "noisy": rate["iqr"] > NOISY_IQR * rate["median"], "rounds": len(seconds), "iterations": iterations,
        "n": n, "n_wanted": wanted, "seconds": round(time.perf_counter() - begin, 3),
        # on CPU the matmul keeps every thread busy: a lower share means other work shared the cores
        "busy": device.type == "cpu" and cpu_share < BUSY_CPU_SHARE, "cpu_share": round(cpu_share, 3),
        "torch_threads": torch.get_num_threads(), "tf32": tf32,
        "float32_matmul_precision": matmul_precision,
        "method": f"median over {len(seconds)} rounds of {iterations} torch.matmul of two {n}x{n} {precision} "
                  f"matrices, 2*n^3 FLOPs each" + (f" ({wanted}x{wanted} would pass the {max_seconds:g} s bound)"
                                                   if n < wanted else ""),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


@contextlib.contextmanager
def matmul_tf32(device: torch.device, precision: str):
    """On CUDA for fp32/tf32: TF32 matmuls off (fp32) or on (tf32) for the duration, the previous setting restored;
    yields whether TF32 was on (None where the setting does not apply)."""
    if device.type != "cuda" or precision not in ("fp32", "tf32"):
        yield None
        return
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        yield precision == "tf32"
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def cache_dir() -> Path:
    """Where ceilings are cached: $TRADEOFF_BENCH_CACHE, else the XDG cache directory."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tradeoff-bench"


@functools.cache
def _current_fingerprint() -> str:
    return environment_parts()["fingerprint"]


def ceiling_name(device: torch.device, precision: str) -> str:
    """'cpu-fp32-t2' (a CPU's rate depends on the intra-op thread count the case runs with), 'cuda-bf16'."""
    threads = f"-t{torch.get_num_threads()}" if device.type == "cpu" else ""
    return f"{device.type}-{precision}{threads}"


def _still_true(record: dict, device: torch.device, precision: str) -> tuple[bool, float]:
    """(whether a cached ceiling agrees with a short re-measurement within RECHECK_TOLERANCE, that figure)."""
    quick = measure_ceiling(device, precision, record.get("n"), rounds=RECHECK_ROUNDS,
                            known_size=True)["flops_per_s"]
    return abs(quick / record["flops_per_s"] - 1) <= RECHECK_TOLERANCE, quick


def get_ceiling(device: torch.device, precision: str = "fp32", fingerprint: str | None = None) -> dict:
    """The ceiling of a device type and precision here: from this process, else the cache after a short
    re-check, else measured (and cached unless measured on a busy machine)."""
    name = ceiling_name(device, precision)
    if name not in _measured:
        fingerprint = fingerprint or _current_fingerprint()
        path = cache_dir() / f"ceiling-{fingerprint}.json"
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # absent or unreadable: measure and rewrite
            cached = {}
        record = cached.get(name)
        usable = isinstance(record, dict) and isinstance(record.get("flops_per_s"), (int, float)) \
            and record["flops_per_s"] > 0
        if usable:
            agrees, quick = _still_true(record, device, precision)
            record = dict(record, rechecked_flops_per_s=quick, rechecked=agrees)
        if not usable or not record["rechecked"]:
            begin = time.perf_counter()
            replaced = record.get("flops_per_s") if usable else None
            record = measure_ceiling(device, precision) | {"fingerprint": fingerprint, "replaced_flops_per_s": replaced}
            record["measure_seconds"] = time.perf_counter() - begin
            write_json_atomic(path, {**cached, name: record})  # busy or noisy ones flagged: see the docstring
        _measured[name] = record
    return _measured[name]


def used_ceilings() -> dict:
    """Every ceiling this process used, by name."""
    return dict(sorted(_measured.items()))


def environment_ceilings(fingerprint: str) -> dict:
    """The ceilings for the environment block: CPU fp32 at the current thread count, plus every one
    this process used."""
    get_ceiling(torch.device("cpu"), "fp32", fingerprint)
    return used_ceilings()
