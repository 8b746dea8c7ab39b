"""The A/B statistic (suite/results/ab_stats.py) on seeded fake pair times: each verdict reachable, the cap gives noise,
and the sequential rule's false `regressed` rate on A/A pairs."""

from __future__ import annotations

import math
import random

import pytest

from suite.plumbing.errors import ConfigError
from suite.results import ab_stats


def run_pairs(true_ratio: float, noise: float, seed: int, min_pairs: int = 3, max_pairs: int = 15):
    """Add seeded pairs (base ~ 10 ms with a per-pair drift shared by both sides, head = base x true_ratio, each
    side with its own lognormal noise) until ab_stats.decide returns a decision."""
    rng = random.Random(seed)
    base, head = [], []
    while True:
        drift = math.exp(rng.gauss(0, 0.2))  # a slow or fast stretch of the machine moves both runs of a pair
        base.append(0.010 * drift * math.exp(rng.gauss(0, noise)))
        head.append(0.010 * true_ratio * drift * math.exp(rng.gauss(0, noise)))
        decision = ab_stats.decide(base, head, min_pairs, max_pairs)
        if decision is not None:
            return decision


@pytest.mark.parametrize("true_ratio, noise, verdict", [
    (1.20, 0.02, "regressed"), (0.80, 0.02, "improved"), (1.00, 0.005, "unchanged"), (1.00, 0.30, "noise")])
def test_each_verdict_is_reached(true_ratio, noise, verdict):
    decision = run_pairs(true_ratio, noise, seed=7)
    assert decision.verdict == verdict
    if verdict == "noise":  # the cap, never earlier
        assert decision.estimate.pairs == 15
    else:
        assert decision.estimate.pairs == 3  # clear cases are settled at the first look
        assert decision.estimate.low <= true_ratio <= decision.estimate.high


def test_interval_is_the_t_interval_of_the_log_ratios():
    base, head = [1.0, 1.0, 1.0], [1.1, 1.2, 1.3]
    logs = [math.log(x) for x in head]
    mean = sum(logs) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 2)
    half = 4.302652729911275 * sd / math.sqrt(3)  # t(0.975, 2), from a table
    estimate = ab_stats.ratio_interval(base, head)
    assert estimate.ratio == pytest.approx(math.exp(mean))
    assert (estimate.low, estimate.high) == pytest.approx((math.exp(mean - half), math.exp(mean + half)))
    assert ab_stats.verdict(estimate) is None  # 1.19 but the interval reaches below 1 with 3 pairs
    # the pair's common factor (drift) cancels: scaling both sides of a pair changes nothing
    assert ab_stats.ratio_interval([2.0, 0.5, 1.0], [2.2, 0.6, 1.3]) == estimate


def test_verdict_boundaries():
    assert ab_stats.verdict(ab_stats.Ratio(1.04, 1.01, 1.07, 5)) is None  # above 1, but r under 1.05
    assert ab_stats.verdict(ab_stats.Ratio(1.06, 1.01, 1.11, 5)) == "regressed"
    assert ab_stats.verdict(ab_stats.Ratio(0.94, 0.90, 0.99, 5)) == "improved"
    assert ab_stats.verdict(ab_stats.Ratio(1.00, 0.95, 1.05, 5)) == "unchanged"
    assert ab_stats.verdict(ab_stats.Ratio(1.00, 0.94, 1.05, 5)) is None
    assert ab_stats.decide([1.0, 1.0], [1.5, 1.5], min_pairs=3) is None  # before min_pairs: no verdict yet


def test_a_change_is_called_on_the_wider_interval_and_unchanged_on_the_95_percent_one():
    base, head = [1.0] * 4, [1.08, 1.10, 1.12, 1.095]
    at_95 = ab_stats.ratio_interval(base, head)
    call = ab_stats.ratio_interval(base, head, ab_stats.CALL_CONFIDENCE)
    assert ab_stats.CALL_CONFIDENCE > ab_stats.CONFIDENCE and call.low < at_95.low and call.high > at_95.high
    decision = ab_stats.decide(base, head)
    assert decision.verdict == "regressed" and decision.estimate == call and call.confidence == ab_stats.CALL_CONFIDENCE
    # above 1 at 95% but not at the call's confidence: another pair, where one look at 95% would have called it
    noisy = [math.exp(0.08), math.exp(0.10), math.exp(0.12)]  # log ratios 0.1 +- 0.02: t(0.975, 2) clears 1
    assert ab_stats.verdict(ab_stats.ratio_interval([1.0] * 3, noisy)) == "regressed"
    assert ab_stats.decide([1.0] * 3, noisy) is None
    steady = [1.0, 1.01, 0.99, 1.0]  # unchanged is settled on the 95% interval, which the decision holds
    assert ab_stats.decide(base, steady) == ab_stats.Decision("unchanged", ab_stats.ratio_interval(base, steady))


def test_a_a_pairs_rarely_regress():
    """200 seeded A/A comparisons at 3% noise per process: the sequential rule calls `regressed` in few (3 of them
    with a 95% call interval, none with the 99% one)."""
    verdicts = [run_pairs(1.0, 0.03, seed).verdict for seed in range(200)]
    assert verdicts.count("regressed") <= 1  # <= 0.5%
    assert verdicts.count("unchanged") >= 150


def test_pair_order_alternates_abba():
    assert [side for i in range(4) for side in ab_stats.pair_order(i)] == \
        ["base", "head", "head", "base", "base", "head", "head", "base"]


def test_pair_limits_are_checked():
    with pytest.raises(ConfigError, match="need 2 <= min-pairs <= max-pairs"):
        ab_stats.check_pairs(1, 15)
    with pytest.raises(ConfigError, match="--min-pairs 5 and --max-pairs 4"):
        ab_stats.check_pairs(5, 4)
