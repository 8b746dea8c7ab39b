"""This machine's dense matrix-multiply rate per device and precision: the denominator of MFU.

Method: square `torch.matmul` of n x n matrices (n = 2048 on CPU, 8192 on accelerators: large
enough that the GEMM kernels run at their steady rate), 2 * n**3 FLOPs per matmul (n**2 outputs,
n multiply-adds each, 2 FLOPs per multiply-add as torch's FlopCounterMode counts them), one warm-up
call, then the median rate over ROUNDS timed rounds of enough calls to last ROUND_S seconds.

Figures are cached per environment fingerprint (CPU, cores, torch, threads, GPUs, allocator) in
$TRADEOFF_BENCH_CACHE, else $XDG_CACHE_HOME/tradeoff-bench, else ~/.cache/tradeoff-bench: measured
once per machine setup, reported in the environment block of every run that used them. A figure
measured while other work shared the machine stays cached unless its rounds were noisy (NOISY_IQR):
delete the file to measure again.
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

from suite.devices import time_region
from suite.errors import ConfigError, choices_error
from suite.results import write_json_atomic
from suite.stats import spread

PRECISIONS = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
              "fp64": torch.float64}
GEMM_SIZE = {"cpu": 2048}
ACCELERATOR_GEMM_SIZE = 8192
ROUNDS = 5
ROUND_S = 0.1
# IQR/median above which a figure is flagged noisy and not cached (torch.utils.benchmark's Measurement
# warns on a large IQR/median the same way; 10% is the agreement the ceiling is held to)
NOISY_IQR = 0.1
CACHE_ENV = "TRADEOFF_BENCH_CACHE"

_measured: dict[str, dict] = {}  # ceiling_name -> record, for this process


def measure_ceiling(device: torch.device, precision: str = "fp32", n: int | None = None,
                    rounds: int = ROUNDS) -> dict:
    """Time square matmuls on `device` and return the rate (FLOP/s) with its spread and method."""
    if precision not in PRECISIONS:
        raise choices_error("precision", precision, PRECISIONS)
    if precision == "tf32" and device.type != "cuda":
        raise ConfigError(f"precision 'tf32' is a CUDA matmul mode; on {device.type} measure 'fp32'")
    n = n or GEMM_SIZE.get(device.type, ACCELERATOR_GEMM_SIZE)
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=generator).to(device, PRECISIONS[precision]) for _ in range(2))
    out = torch.empty_like(a)

    def call():
        torch.matmul(a, b, out=out)

    with matmul_tf32(device, precision) as tf32:
        time_region(device, call)  # untimed warm-up
        iterations = max(1, round(ROUND_S / time_region(device, call)))
        seconds = [time_region(device, call, iterations) / iterations for _ in range(rounds)]
        matmul_precision = torch.get_float32_matmul_precision()
    rate = spread([2 * n**3 / s for s in seconds])
    return {
        "device": device.type, "precision": precision, "flops_per_s": rate["median"],
        "flops_per_s_min": rate["min"], "flops_per_s_max": rate["max"], "flops_per_s_iqr": rate["iqr"],
        "noisy": rate["iqr"] > NOISY_IQR * rate["median"], "rounds": rounds, "iterations": iterations, "n": n,
        "torch_threads": torch.get_num_threads(), "tf32": tf32,
        "float32_matmul_precision": matmul_precision,
        "method": f"median over {rounds} rounds of {iterations} torch.matmul of two {n}x{n} {precision} matrices, "
                  f"2*n^3 FLOPs each",
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
    from suite.devices import environment

    return environment()["fingerprint"]


def ceiling_name(device: torch.device, precision: str) -> str:
    """'cpu-fp32-t2' (a CPU's rate depends on the intra-op thread count the case runs with), 'cuda-bf16'."""
    threads = f"-t{torch.get_num_threads()}" if device.type == "cpu" else ""
    return f"{device.type}-{precision}{threads}"


def get_ceiling(device: torch.device, precision: str = "fp32", fingerprint: str | None = None) -> dict:
    """The ceiling of a device type and precision here: from this process, else the cache, else measured."""
    name = ceiling_name(device, precision)
    if name not in _measured:
        fingerprint = fingerprint or _current_fingerprint()
        path = cache_dir() / f"ceiling-{fingerprint}.json"
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # absent or unreadable: measure and rewrite
            cached = {}
        if not isinstance(cached.get(name), dict) or "flops_per_s" not in cached[name]:
            begin = time.perf_counter()
            cached[name] = measure_ceiling(device, precision) | {"fingerprint": fingerprint}
            cached[name]["measure_seconds"] = time.perf_counter() - begin
            if not cached[name]["noisy"]:  # a noisy figure serves this process only
                write_json_atomic(path, cached)
        _measured[name] = cached[name]
    return _measured[name]


def environment_ceilings(fingerprint: str) -> dict:
    """The ceilings for the environment block: CPU fp32 at the current thread count, plus every one
    this process used."""
    get_ceiling(torch.device("cpu"), "fp32", fingerprint)
    return dict(sorted(_measured.items()))
