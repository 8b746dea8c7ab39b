"""Measurements: timed rounds, throughput and latency statistics, and FLOPs per sample."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from suite.devices import time_region
from suite.stats import spread
from suite.train import task_loss


def time_rounds(fn, device: torch.device, rounds: int, iterations: int, warmup_rounds: int) -> list[float]:
    """Seconds per call of fn, one figure per round of `iterations` calls, after warm-up rounds.

    This is what pytest-benchmark's `pedantic(fn, rounds, iterations, warmup_rounds)` records,
    with the device synchronized (or CUDA events) around each round.
    """
    for _ in range(warmup_rounds * iterations):
        fn()
    return [time_region(device, fn, iterations) / iterations for _ in range(rounds)]


def throughput_metrics(prefix: str, seconds_per_call, samples_per_call: int) -> dict:
    """`{prefix}_samples_per_s` (median over rounds) with `_min`, `_max`, `_iqr` and `_rounds`."""
    rates = spread([samples_per_call / s for s in seconds_per_call])
    key = f"{prefix}_samples_per_s"
    return {key: rates["median"], f"{key}_min": rates["min"], f"{key}_max": rates["max"],
            f"{key}_iqr": rates["iqr"], f"{key}_rounds": rates["rounds"]}


def latency_metrics(seconds_per_call) -> dict:
    """Batch-1 inference latency percentiles in milliseconds, with the sample count."""
    ms = np.asarray(seconds_per_call, dtype=float) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"infer_latency_ms_p50": float(p50), "infer_latency_ms_p90": float(p90),
            "infer_latency_ms_p99": float(p99), "infer_latency_samples": int(ms.size)}


def flops_per_sample(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Forward and forward+backward FLOPs for one sample, as torch's FlopCounterMode counts them
    (matrix multiplies and convolutions, 2 FLOPs per multiply-add; elementwise ops not counted)."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as forward:
        model(x[:1])
    model.train()
    with FlopCounterMode(display=False) as train:
        task_loss(model(x[:1]), y[:1]).backward()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {"flops_per_sample": int(forward.get_total_flops()),
            "train_flops_per_sample": int(train.get_total_flops())}
