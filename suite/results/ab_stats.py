"""The statistic of `tradeoff-bench ab`: the HEAD/BASE time ratio of paired fresh-process runs, and its verdict.

Each pair is one BASE process and one HEAD process run back to back (in the order A B, then B A, ...), each giving
one time (the median of its rounds). The pair's log ratio log(head / base) cancels whatever moved both runs of the
pair (a slow stretch of a shared runner, a frequency change); the estimate is r = exp(mean of the log ratios), the
geometric mean ratio, and its 95% interval is Student's t-interval on the mean log ratio, exponentiated:

    exp(mean ± t(0.975, n-1) · sd / sqrt(n))

Why this and not a bootstrap: the verdict is wanted after as few as 3 pairs, where a bootstrap has only 10 distinct
resamples and its percentile interval is too narrow (it ignores that sd itself is estimated from 3 values); the
t-interval widens for that exactly when the log ratios are normal and is close for mildly skewed ones. Log ratios
rather than differences, because time noise is multiplicative (a slow process is slow by a factor) and a ratio of
1.1 then means the same for a 1 ms and a 1 s step.

The verdict (5% either way is the smallest change the gate is asked to call): `regressed` when the interval lies
above 1 and r > 1.05, `improved` when it lies below 1 and r < 0.95, `unchanged` when it lies inside [0.95, 1.05];
otherwise another pair is added, up to the cap, where it is `noise`. Looking after every pair (at least
`min_pairs`) makes the error rate of one look, 2.5% per side, an underestimate over many looks; the r > 1.05
floor keeps an A/A comparison, whose r stays near 1, from reaching `regressed` unless its noise is large, and
tests/test_ab_stats.py measures the A/A rate of the whole sequential rule on seeded data. Imports no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suite.plumbing.errors import ConfigError

LOWER, UPPER = 0.95, 1.05  # ratios that count as unchanged
CONFIDENCE = 0.95
DEFAULT_MIN_PAIRS, DEFAULT_MAX_PAIRS = 3, 15
VERDICTS = ("regressed", "improved", "unchanged", "noise")


@dataclass(frozen=True)
class Ratio:
    """r, the HEAD/BASE ratio, with its interval (low, high) from `pairs` pairs."""

    ratio: float
    low: float
    high: float
    pairs: int


@dataclass(frozen=True)
class Decision:
    """A verdict and the estimate it was reached on."""

    verdict: str
    estimate: Ratio


def ratio_interval(base: list[float], head: list[float], confidence: float = CONFIDENCE) -> Ratio:
    """The geometric mean of head[i] / base[i] and its t-interval (infinite bounds with fewer than 2 pairs)."""
    from scipy.stats import t

    if len(base) != len(head) or not base:
        raise ValueError(f"need equal, non-empty lists of pair times, got {len(base)} and {len(head)}")
    logs = [math.log(h / b) for b, h in zip(base, head)]
    n = len(logs)
    mean = sum(logs) / n
    if n < 2:
        return Ratio(math.exp(mean), 0.0, math.inf, n)
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
    half = t.ppf((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)
    return Ratio(math.exp(mean), math.exp(mean - half), math.exp(mean + half), n)


def verdict(estimate: Ratio) -> str | None:
    """regressed, improved or unchanged when the estimate settles it, else None (add a pair)."""
    if estimate.low > 1 and estimate.ratio > UPPER:
        return "regressed"
    if estimate.high < 1 and estimate.ratio < LOWER:
        return "improved"
    if LOWER <= estimate.low and estimate.high <= UPPER:
        return "unchanged"
    return None


def decide(base: list[float], head: list[float], min_pairs: int = DEFAULT_MIN_PAIRS,
           max_pairs: int = DEFAULT_MAX_PAIRS) -> Decision | None:
    """The decision after len(base) pairs: a verdict once at least `min_pairs` settle it, `noise` at `max_pairs`
    pairs without one, else None (add a pair)."""
    estimate = ratio_interval(base, head)
    settled = verdict(estimate) if estimate.pairs >= min_pairs else None
    if settled:
        return Decision(settled, estimate)
    return Decision("noise", estimate) if estimate.pairs >= max_pairs else None


def pair_order(index: int) -> tuple[str, str]:
    """Which side runs first in pair `index` (0-based): base then head, then head then base, ... (A B B A): a drift
    of the machine during a pair favours each side equally often."""
    return ("base", "head") if index % 2 == 0 else ("head", "base")


def check_pairs(min_pairs: int, max_pairs: int) -> None:
    """ConfigError unless 2 <= min_pairs <= max_pairs (an interval needs two pairs)."""
    if not 2 <= min_pairs <= max_pairs:
        raise ConfigError(f"--min-pairs {min_pairs} and --max-pairs {max_pairs}: need 2 <= min-pairs <= max-pairs")
