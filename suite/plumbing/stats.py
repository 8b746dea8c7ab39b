"""Summary statistics of raw samples (no torch import: reports use them too)."""

from __future__ import annotations

import numpy as np


def quartiles(values) -> tuple[float, float, float]:
    """(q1, median, q3) of raw samples, numpy's linear interpolation."""
    q1, median, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(q1), float(median), float(q3)


def spread(values) -> dict:
    """Median, min, max, interquartile range and count of raw samples."""
    q1, median, q3 = quartiles(values)
    a = np.asarray(values, dtype=float)
    return {"median": median, "min": float(a.min()), "max": float(a.max()), "iqr": q3 - q1, "rounds": int(a.size)}


def mann_whitney_p(a, b) -> float:
    """Two-sided Mann-Whitney U p-value that two sets of raw samples come from one distribution."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


# IQR/median above which a timing is called noisy (torch.utils.benchmark's Measurement warns the same way).
NOISY_RELATIVE_IQR = 0.10
# (median key, IQR key) of each timing whose rounds a case keeps.
TIMING_SPREADS = {"train_samples_per_s": "train_samples_per_s_iqr", "infer_latency_ms_p50": "infer_latency_ms_iqr"}


def noisy_metrics(metrics: dict) -> list[str]:
    """The timings of a case whose interquartile range exceeds 10% of their median."""
    noisy = []
    for key, iqr_key in TIMING_SPREADS.items():
        median, iqr = metrics.get(key), metrics.get(iqr_key)
        if isinstance(median, (int, float)) and isinstance(iqr, (int, float)) and median > 0:
            if iqr / median > NOISY_RELATIVE_IQR:
                noisy.append(key)
    return noisy
