"""Measurements: timed rounds, throughput and latency statistics, and FLOPs per sample."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from suite.measure.devices import time_region
from suite.results.measurement import Measurement


def time_rounds(fn, device: torch.device, rounds: int, iterations: int, warmup_rounds: int) -> list[float]:
    """Seconds per call of fn, one figure per round of `iterations` calls, after warm-up rounds.

    This is what pytest-benchmark's `pedantic(fn, rounds, iterations, warmup_rounds)` records,
    with the device synchronized (or CUDA events) around each round. A `fn.prepare(calls)`, where fn has
    one, runs before each round, outside the clock: host work such as drawing the next shuffled batch order.
    """
    prepare = getattr(fn, "prepare", lambda calls: None)
    prepare(warmup_rounds * iterations)
    for _ in range(warmup_rounds * iterations):
        fn()
    seconds = []
    for _ in range(rounds):
        prepare(iterations)
        seconds.append(time_region(device, fn, iterations) / iterations)
    return seconds


def throughput(seconds_per_call, samples_per_call: int) -> Measurement:
    """Samples per second of each timed round."""
    return Measurement.of([samples_per_call / s for s in seconds_per_call], "samples/s")


def throughput_metrics(prefix: str, seconds_per_call, samples_per_call: int) -> dict:
    """`{prefix}_samples_per_s` (median over rounds) with `_min`, `_max`, `_iqr`, `_rounds` and `_noisy`."""
    return throughput(seconds_per_call, samples_per_call).metrics(f"{prefix}_samples_per_s")


# A percentile needs enough samples beyond it to be more than the largest few: p99 from 100 calls is the
# second-largest sample. With fewer than 1,000 calls (10 beyond p99) p99 is omitted, with the reason.
P99_MIN_SAMPLES = 1000


def time_latency(fn, device: torch.device, calls: int, warmup: int, bound_s: float) -> tuple[list[float], str]:
    """Seconds of each of `calls` single calls of fn after `warmup` calls, and why fewer were taken ("" if not).

    The warm-up calls are timed one by one: when their median says `calls` calls would take longer than
    `bound_s` (a slow model), only as many calls as fit in `bound_s` are timed, and the reason says so.
    """
    warm = time_rounds(fn, device, warmup, 1, 0)
    per_call = float(np.median(warm)) if warm else 0.0
    if per_call * calls <= bound_s:
        return time_rounds(fn, device, calls, 1, 0), ""
    fitting = max(1, int(bound_s / per_call))
    reason = (f"{calls} calls would take about {per_call * calls:.3g} s (median of {len(warm)} warm-up calls), "
              f"over the {bound_s:g} s bound, so {fitting} were timed")
    return time_rounds(fn, device, fitting, 1, 0), reason


def latency_metrics(seconds_per_call, fewer_reason: str = "") -> dict:
    """Batch-1 inference latency in milliseconds: p50, p90, p99 (from 1,000 calls on; else absent with the
    reason, `fewer_reason` where time_latency took fewer calls), max and IQR, with the call count and the noise
    flag of p50 (its IQR over 10% of it)."""
    ms = Measurement.of(np.asarray(seconds_per_call, dtype=float) * 1000.0, "ms")
    p90, p99 = np.percentile(ms.values, [90, 99])
    metrics = {"infer_latency_ms_p50": ms.median, "infer_latency_ms_p90": float(p90),
               "infer_latency_ms_max": ms.max, "infer_latency_ms_iqr": ms.iqr, "infer_latency_samples": ms.count,
               "infer_latency_ms_p50_noisy": ms.noisy}
    if ms.count >= P99_MIN_SAMPLES:
        return metrics | {"infer_latency_ms_p99": float(p99)}
    reason = f"p99 needs at least {P99_MIN_SAMPLES} calls, {ms.count} were timed"
    return metrics | {"infer_latency_ms_p99_reason": reason + (f": {fewer_reason}" if fewer_reason else "")}


def flops_per_sample(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss) -> dict:
    """Forward and forward+backward FLOPs for one sample, as torch's FlopCounterMode counts them
    (matrix multiplies and convolutions, 2 FLOPs per multiply-add; elementwise ops not counted); `loss(output, y)`
    is the task's loss (suite.train.task_loss), whose backward the training count includes."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as forward:
        model(x[:1])
    # Still in eval mode: the same matrix multiplies and convolutions as a training step, while BatchNorm
    # neither needs more than one value per channel nor moves the initial model's running statistics.
    with FlopCounterMode(display=False) as train:
        loss(model(x[:1]), y[:1]).backward()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {"flops_per_sample": int(forward.get_total_flops()),
            "train_flops_per_sample": int(train.get_total_flops())}
