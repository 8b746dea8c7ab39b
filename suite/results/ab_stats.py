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

The verdict (5% either way is the smallest change the gate is asked to call): `regressed` when the call interval
(CALL_CONFIDENCE) lies above 1 and r > 1.05, `improved` when it lies below 1 and r < 0.95, `unchanged` when the 95%
interval lies inside [0.95, 1.05]; otherwise another pair is added, up to the cap, where it is `noise`. The call
interval is wider than the 95% one because the rule looks after every pair (from `min_pairs`) and stops at the
first verdict: each look is another chance for an A/A comparison's interval to clear 1, so the rate of a false
`regressed` over a whole sequence is several times the 2.5% of one look. A wider call interval brings it down,
and `unchanged` keeps the 95% interval because stopping there early only ends the comparison, it raises no alarm.
The r > 1.05 floor keeps an A/A comparison, whose r stays near 1, from reaching `regressed` unless its noise is
large. tests/test_ab_stats.py measures the A/A rate of the whole sequential rule on seeded data, and
benchmarks/regression_rates.py (`simulate`) the night's rates on measured processes. Imports no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suite.plumbing.errors import ConfigError

LOWER, UPPER = 0.95, 1.05  # ratios that count as unchanged
CONFIDENCE = 0.95  # the interval that settles `unchanged`
CALL_CONFIDENCE = 0.99  # the interval that calls `regressed` or `improved` (the module's docstring says why)
DEFAULT_MIN_PAIRS, DEFAULT_MAX_PAIRS = 3, 15
VERDICTS = ("regressed", "improved", "unchanged", "noise")


@dataclass(frozen=True)
class Ratio:
    """r, the HEAD/BASE ratio, with its `confidence` interval (low, high) from `pairs` pairs."""

    ratio: float
    low: float
    high: float
    pairs: int
    confidence: float = CONFIDENCE


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
        return Ratio(math.exp(mean), 0.0, math.inf, n, confidence)
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
    half = t.ppf((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)
    return Ratio(math.exp(mean), math.exp(mean - half), math.exp(mean + half), n, confidence)


def verdict(call: Ratio, settle: Ratio | None = None) -> str | None:
    """regressed or improved when the interval `call` settles it, unchanged when `settle` (default: `call`) lies
    inside [LOWER, UPPER], else None (add a pair)."""
    if call.low > 1 and call.ratio > UPPER:
        return "regressed"
    if call.high < 1 and call.ratio < LOWER:
        return "improved"
    settle = settle or call
    if LOWER <= settle.low and settle.high <= UPPER:
        return "unchanged"
    return None


def decide(base: list[float], head: list[float], min_pairs: int = DEFAULT_MIN_PAIRS,
           max_pairs: int = DEFAULT_MAX_PAIRS) -> Decision | None:
    """The decision after len(base) pairs: a verdict once at least `min_pairs` settle it (regressed or improved on
    the CALL_CONFIDENCE interval, which the decision then holds; unchanged on the CONFIDENCE one), `noise` at
    `max_pairs` pairs without one, else None (add a pair)."""
    estimate = ratio_interval(base, head)
    if estimate.pairs >= min_pairs:
        call = ratio_interval(base, head, CALL_CONFIDENCE)
        settled = verdict(call, estimate)
        if settled:
            return Decision(settled, call if settled in ("regressed", "improved") else estimate)
    return Decision("noise", estimate) if estimate.pairs >= max_pairs else None


def pair_order(index: int) -> tuple[str, str]:
    """Which side runs first in pair `index` (0-based): base then head, then head then base, ... (A B B A): a drift
    of the machine during a pair favours each side equally often."""
    return ("base", "head") if index % 2 == 0 else ("head", "base")


def check_pairs(min_pairs: int, max_pairs: int) -> None:
    """ConfigError unless 2 <= min_pairs <= max_pairs (an interval needs two pairs)."""
    if not 2 <= min_pairs <= max_pairs:
        raise ConfigError(f"--min-pairs {min_pairs} and --max-pairs {max_pairs}: need 2 <= min-pairs <= max-pairs")
