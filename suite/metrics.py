"""Every metric the suite reports, declared once: what it is, how it is shown, compared, gated and exported.

The measuring code writes a metric under its key; everything downstream reads this registry: the results
file puts the key in its pytest-benchmark group (suite/results/schema.py), the report takes its label,
format and direction (suite/report/), `compare` and the nightly gate judge the metrics they watch
(suite/results/compare.py, gate.py), and `export` emits the ones with a github-action-benchmark direction
(suite/results/export.py). Imports nothing of the suite, and no torch.

A new metric is one `Metric(...)` line below plus the code that measures it; see the README's
"Add a metric".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SUFFIXES = ("_min", "_max", "_iqr", "_rounds", "_noisy", "_reason", "_source")  # a metric's companions in extra_info


@dataclass(frozen=True)
class Metric:
    """One metric. `scale` converts the stored value to the unit shown (and exported)."""

    key: str
    label: str  # the report's column header
    unit: str  # the unit shown, after `scale`
    better: str  # "higher", "lower" or "" (no best marked)
    group: str  # the pytest-benchmark group whose extra_info carries it: train | infer | accuracy
    digits: str = "{:,.3g}"  # format of the shown value
    scale: float = 1.0
    effect: str = "ratio"  # how the report states a change: "ratio" (xR), "pp" (percentage points), "diff"
    # How its spread is known: "rounds" (the raw seconds per call of `rounds`), "seeds" (one value per seed of a
    # plan), "exact" (a count: no spread), or another metric's key whose timing it is computed from.
    spread: str = "seeds"
    rounds: str | None = None  # the raw-samples group a timing derives from: train | infer | infer_batch
    watch: str = ""  # compare and the gate: timing | accuracy | loss | count | exact, or "" (not watched)
    threshold: float | None = None  # watched: timing and count in %, accuracy in pp, loss in nats
    process_spread: float | None = None  # timing: the between-process spread of log(value) on the CI machine
    export: str = ""  # github-action-benchmark direction: "bigger", "smaller" or "" (not exported)
    summary: bool = False  # a column of the report's trade-off summary (in registry order)
    table: str = ""  # the report's metric table that shows it as a column (in registry order), or "" (none)

    @property
    def exact(self) -> bool:
        """A count, not a measurement: it has no spread."""
        return self.spread == "exact"


# Every metric's name, for the modules that read it (report, compare, gate, export, the run's lines): spelled here
# and in the code that measures it only (tests/test_layout.py holds the readers to it).
TRAIN_RATE = "train_samples_per_s"
INFER_RATE = "infer_samples_per_s"
PARAMS = "params"
MODEL_FILE_BYTES = "model_file_bytes"
FLOPS_PER_SAMPLE = "flops_per_sample"
TRAIN_FLOPS_PER_SAMPLE = "train_flops_per_sample"
TEST_ACCURACY = "test_accuracy"
TEST_LOSS = "test_loss"
VAL_LOSS = "val_loss"
BITS_PER_CHAR = "bits_per_char"
TRAIN_E2E_SAMPLES_PER_S = "train_e2e_samples_per_s"
TRAIN_TOKENS_PER_S = "train_tokens_per_s"
INFER_LATENCY_MS_P50 = "infer_latency_ms_p50"
INFER_LATENCY_MS_P90 = "infer_latency_ms_p90"
INFER_LATENCY_MS_P99 = "infer_latency_ms_p99"
INFER_LATENCY_MS_MAX = "infer_latency_ms_max"
INFER_LATENCY_SAMPLES = "infer_latency_samples"
TRAIN_SECONDS = "train_seconds"
TRAIN_PEAK_MEM_MB = "train_peak_mem_mb"
INFER_PEAK_MEM_MB = "infer_peak_mem_mb"
TRAIN_JOULES_PER_SAMPLE = "train_joules_per_sample"
INFER_JOULES_PER_SAMPLE = "infer_joules_per_sample"
TRAIN_MFU = "train_mfu"
INFER_MFU = "infer_mfu"
FLOPS_PER_TOKEN = "flops_per_token"
TRAIN_FLOPS_PER_TOKEN = "train_flops_per_token"
TIME_TO_TARGET_S = "time_to_target_s"
STEPS_TO_TARGET = "steps_to_target"
TRAIN_INSTRUCTIONS_PER_SAMPLE = "train_instructions_per_sample"
INFER_INSTRUCTIONS_PER_CALL = "infer_instructions_per_call"

# Between-process spreads: the largest per-case figure over 4 back-to-back `tradeoff-bench run --plan quick`
# processes on the 2-core CI machine class (README, "Regressions, night after night"; medians 7.7%, 24%, 23%).
# Batch-1 latency of small models moves by up to 8% between two processes of the same code, every call
# alike, so its threshold is 10%. Instruction counts repeat within 0.5% between processes: 1.5% decides.
REGISTRY = [
    Metric(PARAMS, "params", "params", "lower", "infer", "{:,.0f}", spread="exact", watch="exact",
           summary=True, table="model"),
    Metric(MODEL_FILE_BYTES, "model file (KiB)", "KiB", "lower", "infer", "{:,.1f}", 1 / 1024, spread="exact"),
    Metric(FLOPS_PER_SAMPLE, "FLOPs/sample", "FLOPs", "lower", "infer", "{:,.0f}", spread="exact",
           watch="exact", summary=True, table="model"),
    Metric(TRAIN_FLOPS_PER_SAMPLE, "train FLOPs/sample", "FLOPs", "lower", "infer", "{:,.0f}", spread="exact",
           watch="exact", table="model"),
    Metric(TEST_ACCURACY, "test acc (%)", "%", "higher", "accuracy", "{:.2f}", 100.0, "pp", watch="accuracy",
           threshold=0.5, export="bigger", summary=True, table="accuracy"),
    Metric(TEST_LOSS, "test loss", "nats", "lower", "accuracy", "{:.4f}", effect="diff", summary=True,
           table="accuracy"),
    # 0.02 nats is about 1% of a character model's held-out loss near 1.9 (the shakespeare plan's base case)
    Metric(VAL_LOSS, "val loss (nats/token)", "nats/token", "lower", "accuracy", "{:.4f}", effect="diff",
           watch="loss", threshold=0.02, export="smaller", summary=True, table="language model"),
    Metric(BITS_PER_CHAR, "bits/char", "bits/char", "lower", "accuracy", "{:.4f}", effect="diff",
           table="language model"),
    Metric(TRAIN_RATE, "train samples/s", "samples/s", "higher", "train", "{:,.0f}", spread="rounds",
           rounds="train", watch="timing", threshold=5.0, process_spread=0.27, export="bigger", summary=True),
    Metric(TRAIN_E2E_SAMPLES_PER_S, "train e2e samples/s", "samples/s", "higher", "train", "{:,.0f}",
           export="bigger", table="training"),
    Metric(TRAIN_TOKENS_PER_S, "train tokens/s", "tokens/s", "higher", "train", "{:,.0f}", spread="rounds",
           rounds="train", export="bigger", summary=True, table="training"),
    Metric(INFER_LATENCY_MS_P50, "latency p50 (ms)", "ms", "lower", "infer", "{:.4f}", spread="rounds",
           rounds="infer", watch="timing", threshold=10.0, process_spread=0.31, export="smaller", summary=True,
           table="inference"),
    Metric(INFER_LATENCY_MS_P90, "latency p90 (ms)", "ms", "lower", "infer", "{:.4f}", rounds="infer",
           export="smaller", table="inference"),
    Metric(INFER_LATENCY_MS_P99, "latency p99 (ms)", "ms", "lower", "infer", "{:.4f}", rounds="infer",
           export="smaller", table="inference"),
    Metric(INFER_LATENCY_MS_MAX, "latency max (ms)", "ms", "lower", "infer", "{:.4f}", table="inference"),
    Metric(INFER_LATENCY_SAMPLES, "latency samples", "calls", "", "infer", "{:,.0f}", spread="exact",
           table="inference"),
    # batched inference: its raw rounds are kept as `infer_batch_seconds`
    Metric(INFER_RATE, "batched infer samples/s", "samples/s", "higher", "infer", "{:,.0f}",
           rounds="infer_batch", watch="timing", threshold=5.0, process_spread=0.47, export="bigger",
           summary=True, table="inference"),
    Metric(TRAIN_SECONDS, "train time (s)", "s", "lower", "accuracy", "{:.3f}", spread=TRAIN_RATE,
           summary=True, table="accuracy"),
    Metric(TRAIN_PEAK_MEM_MB, "train peak mem (MiB)", "MiB", "lower", "train", "{:,.1f}", summary=True,
           table="training"),
    Metric(INFER_PEAK_MEM_MB, "infer peak mem (MiB)", "MiB", "lower", "infer", "{:,.1f}", summary=True,
           table="inference"),
    Metric(TRAIN_JOULES_PER_SAMPLE, "train J/sample", "J", "lower", "train", "{:.3g}", summary=True,
           table="training"),
    Metric(INFER_JOULES_PER_SAMPLE, "infer J/sample", "J", "lower", "infer", "{:.3g}", summary=True,
           table="inference"),
    # MFU is stored as a fraction of peak FLOP/s (as nanoGPT's estimate_mfu returns it), shown in %
    Metric(TRAIN_MFU, "train MFU (%)", "%", "higher", "train", "{:.3g}", 100.0, spread=TRAIN_RATE,
           summary=True, table="training"),
    Metric(INFER_MFU, "infer MFU (%)", "%", "higher", "infer", "{:.3g}", 100.0, spread=INFER_RATE,
           summary=True, table="inference"),
    Metric(FLOPS_PER_TOKEN, "FLOPs/token", "FLOPs", "lower", "infer", "{:,.0f}", spread="exact", table="model"),
    Metric(TRAIN_FLOPS_PER_TOKEN, "train FLOPs/token", "FLOPs", "lower", "infer", "{:,.0f}", spread="exact",
           table="model"),
    Metric(TIME_TO_TARGET_S, "time to target (s)", "s", "lower", "accuracy", "{:.4g}", table="language model"),
    Metric(STEPS_TO_TARGET, "steps to target", "steps", "lower", "accuracy", "{:,.0f}", table="language model"),
    # --measure instructions (suite/executors/instructions.py): deterministic, so the threshold alone decides
    Metric(TRAIN_INSTRUCTIONS_PER_SAMPLE, "train instr/sample", "instructions", "lower", "train", "{:,.0f}",
           spread="exact", watch="count", threshold=1.5, summary=True, table="instruction counts"),
    Metric(INFER_INSTRUCTIONS_PER_CALL, "infer instr/call", "instructions", "lower", "infer", "{:,.0f}",
           spread="exact", watch="count", threshold=1.5, summary=True, table="instruction counts"),
]
METRICS: dict[str, Metric] = {m.key: m for m in REGISTRY}


def watched() -> dict[str, Metric]:
    """The metrics `compare` and the gate judge, in registry order."""
    return {key: m for key, m in METRICS.items() if m.watch}


def exported(direction: str) -> dict[str, Metric]:
    """The metrics exported for github-action-benchmark in one direction ("bigger" or "smaller")."""
    return {key: m for key, m in METRICS.items() if m.export == direction}


def process_spreads() -> dict[str, float]:
    """The default between-process spread of each watched timing."""
    return {key: m.process_spread for key, m in METRICS.items() if m.process_spread is not None}


def summary_keys() -> list[str]:
    """The report's trade-off summary columns, in registry order."""
    return [key for key, m in METRICS.items() if m.summary]


def table_keys(table: str) -> list[str]:
    """The columns of one of the report's metric tables, in registry order."""
    return [key for key, m in METRICS.items() if m.table == table]


def base_key(key: str) -> str:
    """The metric a results key belongs to: `train_samples_per_s_iqr` -> `train_samples_per_s`."""
    for suffix in SUFFIXES:
        if key.endswith(suffix) and key.removesuffix(suffix) in METRICS:
            return key.removesuffix(suffix)
    return key


# Below this, a peak-memory reading is the meter's noise, not the case's memory: the CPU meter reads the
# kernel's resident high-water mark, whose figure moves by a few hundred KiB with no change in the case
# (suite/measure/memory.py). Such a reading prints as "< resolution", is never starred and takes no ratio.
MEMORY_RESOLUTION_MIB = 1.0
MEMORY_KEYS = tuple(key for key, m in METRICS.items() if m.unit == "MiB")
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


def noisy_metrics(metrics: dict) -> list[str]:
    """The timings of a case that the report and the run's lines mark noisy: those whose spread the report takes from
    their rounds (`spread="rounds"`) and whose measurement flagged them (`KEY_noisy`: the rounds' interquartile range
    over 10% of their median, suite/results/measurement.py). Batched inference keeps its flag in the results, but
    its spread is read over the seeds."""
    return [key for key, m in METRICS.items() if m.spread == "rounds" and metrics.get(f"{key}_noisy") is True]
