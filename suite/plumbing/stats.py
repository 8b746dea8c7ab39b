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
