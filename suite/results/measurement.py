"""A `Measurement`: one timed figure as the measuring code returns it, its statistics taken once from its raw rounds
(torch.utils.benchmark's Measurement keeps its raw times and its spread the same way). A case's results store it
under the metric's key and its companions; the report, the run's summary and `compare` read those, and nothing
downstream derives them again."""

from __future__ import annotations

from dataclasses import dataclass

from suite.metrics import INFER_LATENCY_MS_P50, TRAIN_RATE, number
from suite.plumbing.stats import spread

# IQR/median above which a timing is called noisy (torch.utils.benchmark's Measurement warns the same way).
NOISY_RELATIVE_IQR = 0.10


def is_noisy(median: float, iqr: float) -> bool:
    """Whether rounds with this median and interquartile range are noisy: the IQR over 10% of the median."""
    return median > 0 and iqr / median > NOISY_RELATIVE_IQR


@dataclass(frozen=True)
class Measurement:
    """The raw value of each round (in `unit`), with the median, extremes, interquartile range, count and noise flag
    taken from them."""

    values: tuple[float, ...]
    unit: str
    median: float
    min: float
    max: float
    iqr: float
    count: int
    noisy: bool  # the IQR exceeds NOISY_RELATIVE_IQR of the median

    @classmethod
    def of(cls, values, unit: str) -> Measurement:
        """The Measurement of raw round values (at least one)."""
        values = tuple(float(v) for v in values)
        s = spread(values)
        median, iqr = s["median"], s["iqr"]
        return cls(values, unit, median, s["min"], s["max"], iqr, s["rounds"], is_noisy(median, iqr))

    def metrics(self, key: str) -> dict:
        """The figure under `key` with its companions: `_min`, `_max`, `_iqr`, `_rounds` and `_noisy`."""
        return {key: self.median, f"{key}_min": self.min, f"{key}_max": self.max, f"{key}_iqr": self.iqr,
                f"{key}_rounds": self.count, f"{key}_noisy": self.noisy}


def legacy_noise_flags(metrics: dict) -> dict:
    """The noise flags of a case stored before results schema 6, which kept none: taken here, once, from the stored
    IQR and median of the two timings flagged then (training throughput and batch-1 latency p50)."""
    flags = {}
    for key, iqr_key in ((TRAIN_RATE, f"{TRAIN_RATE}_iqr"), (INFER_LATENCY_MS_P50, "infer_latency_ms_iqr")):
        median, iqr = number(metrics.get(key)), number(metrics.get(iqr_key))
        if median is not None and iqr is not None and f"{key}_noisy" not in metrics:
            flags[f"{key}_noisy"] = is_noisy(median, iqr)
    return flags
