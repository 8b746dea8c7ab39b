"""The metrics a report knows: label with unit, which direction is better, how to print and compare them.

Keys follow suite/results.py (and the cost metrics: peak memory, energy, MFU). A key absent from
every row is left out of every table, so one registry serves runs with and without the later metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """How one metric key is shown: `scale` converts the stored unit to the shown one."""

    key: str
    label: str
    better: str  # "higher", "lower" or "" (no best marked)
    digits: str = "{:,.3g}"  # format of the shown value
    compare: str = "ratio"  # "ratio" (xR), "pp" (difference in percentage points) or "diff" (signed)
    scale: float = 1.0
    exact: bool = False  # a count, not a measurement: it has no spread


METRICS = {m.key: m for m in [
    Metric("train_samples_per_s", "train samples/s", "higher", "{:,.0f}"),
    Metric("train_e2e_samples_per_s", "train e2e samples/s", "higher", "{:,.0f}"),
    Metric("infer_latency_ms_p50", "latency p50 (ms)", "lower", "{:.4f}"),
    Metric("infer_latency_ms_p90", "latency p90 (ms)", "lower", "{:.4f}"),
    Metric("infer_latency_ms_p99", "latency p99 (ms)", "lower", "{:.4f}"),
    Metric("infer_latency_ms_max", "latency max (ms)", "lower", "{:.4f}"),
    Metric("infer_latency_samples", "latency samples", "", "{:,.0f}"),
    Metric("infer_samples_per_s", "batched infer samples/s", "higher", "{:,.0f}"),
    Metric("params", "params", "lower", "{:,.0f}", exact=True),
    Metric("flops_per_sample", "FLOPs/sample", "lower", "{:,.0f}", exact=True),
    Metric("train_flops_per_sample", "train FLOPs/sample", "lower", "{:,.0f}", exact=True),
    Metric("test_accuracy", "test acc (%)", "higher", "{:.2f}", "pp", 100.0),
    Metric("test_loss", "test loss", "lower", "{:.4f}", "diff"),
    Metric("train_seconds", "train time (s)", "lower", "{:.3f}"),
    Metric("train_peak_mem_mb", "train peak mem (MiB)", "lower", "{:,.1f}"),
    Metric("infer_peak_mem_mb", "infer peak mem (MiB)", "lower", "{:,.1f}"),
    Metric("train_joules_per_sample", "train J/sample", "lower", "{:.3g}"),
    Metric("infer_joules_per_sample", "infer J/sample", "lower", "{:.3g}"),
    # MFU is stored as a fraction of peak FLOP/s (as nanoGPT's estimate_mfu returns it), shown in %
    Metric("train_mfu", "train MFU (%)", "higher", "{:.3g}", scale=100.0),
    Metric("infer_mfu", "infer MFU (%)", "higher", "{:.3g}", scale=100.0),
    # language models (suite/lm.py)
    Metric("val_loss", "val loss (nats/token)", "lower", "{:.4f}", "diff"),
    Metric("bits_per_char", "bits/char", "lower", "{:.4f}", "diff"),
    Metric("train_tokens_per_s", "train tokens/s", "higher", "{:,.0f}"),
    Metric("flops_per_token", "FLOPs/token", "lower", "{:,.0f}", exact=True),
    Metric("train_flops_per_token", "train FLOPs/token", "lower", "{:,.0f}", exact=True),
    Metric("time_to_target_s", "time to target (s)", "lower", "{:.4g}"),
    Metric("steps_to_target", "steps to target", "lower", "{:,.0f}"),
]}


# Below this, a peak-memory reading is the meter's noise, not the case's memory: the CPU meter reads the
# kernel's resident high-water mark, whose figure moves by a few hundred KiB with no change in the case
# (suite/memory.py). Such a reading prints as "< resolution", is never starred and takes no ratio.
MEMORY_RESOLUTION_MIB = 1.0
MEMORY_KEYS = ("train_peak_mem_mb", "infer_peak_mem_mb")
BELOW_RESOLUTION = "< resolution"


def below_resolution(key: str, value) -> bool:
    """Whether a value of `key` is a memory reading under the meter's resolution."""
    value = number(value)
    return key in MEMORY_KEYS and value is not None and value < MEMORY_RESOLUTION_MIB


def number(value) -> float | None:
    """A finite float, or None for anything else (missing, text, NaN, a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def show(key: str, value) -> str:
    """A stored value of `key` as table text in the shown unit; "-" where there is none."""
    value = number(value)
    if value is None:
        return "-"
    if below_resolution(key, value):
        return BELOW_RESOLUTION
    metric = METRICS.get(key)
    return (metric.digits if metric else "{:,.4g}").format(value * (metric.scale if metric else 1.0))
