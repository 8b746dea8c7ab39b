"""Whether two measurements differ by more than their measured spread.

Two sets of raw samples differ when their interquartile ranges do not overlap AND a two-sided
Mann-Whitney U test rejects "same distribution" at ALPHA (scipy.stats.mannwhitneyu; the IQR is the
noise measure torch.utils.benchmark's Measurement reports). With only a min-max range for each side,
they differ when the ranges do not overlap. One value per side has no spread: it always differs.
"""

from __future__ import annotations

from suite.plumbing.stats import mann_whitney_p, quartiles

ALPHA = 0.05  # the conventional significance level


def samples_differ(a, b) -> bool:
    """Whether two sets of raw samples differ beyond their spread (see the module docstring)."""
    if len(a) < 2 or len(b) < 2:
        return True
    qa, qb = quartiles(a), quartiles(b)
    if qa[0] <= qb[2] and qb[0] <= qa[2]:
        return False
    return mann_whitney_p(a, b) < ALPHA


def ranges_differ(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two (min, max) ranges do not overlap."""
    return a[1] < b[0] or b[1] < a[0]
