"""The trade-off summary: for each axis the plan varies, what changing that one field of the base case
does to every metric, as ratios and differences, or "within spread" where the change is inside the
measured noise (suite/report/spread.py says when)."""

from __future__ import annotations

from pathlib import Path

from suite.metrics import METRICS, TEST_LOSS, VAL_LOSS, below_resolution, summary_keys
from suite.report.grouping import Group, Layout, layout
from suite.report.hardware import mark
from suite.report.sections import Section
from suite.report.spread import ranges_differ, samples_differ
from suite.report.tables import NOISY, central, noisy

WITHIN = "within spread"


def evidence(group: Group, key: str):
    """What a metric's spread is known from: ("samples", raw values), ("range", (min, max)) or None."""
    if METRICS[key].spread == "rounds" and len(rounds := round_values(group, METRICS[key])) > 1:
        return "samples", rounds
    if len(group.values(key)) > 1:  # one value per seed
        return "samples", group.values(key)
    low, high = group.value(f"{key}_min"), group.value(f"{key}_max")
    return ("range", (low, high)) if low is not None and high is not None else None


def round_values(group: Group, metric) -> list[float]:
    """A timing's raw rounds in its shown unit: rates from the seconds per training step (tokens: times the
    context), milliseconds from the seconds per call."""
    if metric.rounds == "train":
        per_sample = group.case.get("context", 1) if metric.unit == "tokens/s" else 1
        return [rate * per_sample for rate in group.train_rates()]
    return [1000.0 * seconds for seconds in group.raw(metric.rounds)]


def differ(base: Group, group: Group, key: str) -> bool:
    """Whether a metric of a group differs from the base's beyond the measured spread of both (for a
    figure derived from a timing, that timing's)."""
    timing = METRICS[key].spread  # a figure computed from a timing shares its noise: judged on that timing's spread
    if timing in METRICS and central(base, timing) is not None and central(group, timing) is not None:
        key = timing
    a, b = evidence(base, key), evidence(group, key)
    if METRICS[key].exact or (a is None and b is None):
        return True
    # one side measured once: a point inside the other side's range is within its spread
    a = a or ("range", (central(base, key),) * 2)
    b = b or ("range", (central(group, key),) * 2)
    if a[0] == b[0] == "samples":
        return samples_differ(a[1], b[1])
    span = [(min(e[1]), max(e[1])) if e[0] == "samples" else e[1] for e in (a, b)]
    return ranges_differ(*span)


def ratio_number(ratio: float) -> str:
    """A ratio as the report prints it: "0.41", "21.05", "2,210" (never "2.21e+03"), "0.0031"."""
    if ratio >= 100:
        return f"{ratio:,.0f}"
    return f"{ratio:.2f}" if ratio >= 0.01 else f"{ratio:.2g}"


def effect(base: Group, group: Group, key: str) -> str:
    """One cell: "x0.41" (ratio), "-0.8 pp", "+0.012" (difference), "within spread" or "-"."""
    before, after = central(base, key), central(group, key)
    if before is None or after is None:
        return "-"
    if below_resolution(key, before) or below_resolution(key, after):
        return "< resolution"
    if not differ(base, group, key):
        return WITHIN
    metric = METRICS[key]
    if metric.effect == "ratio" and before != 0:
        return f"x{ratio_number(after / before)}"
    if metric.effect == "pp":
        return f"{(after - before) * 100:+.1f} pp"
    return f"{after - before:+.3g}"


def value_text(value) -> str:
    """A field value in a change label."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def change_label(lay: Layout, group: Group) -> str:
    """"optimizer: adam → sgd (lr 0.001 → 0.05)": the axis, then the fields that follow it."""
    axis = lay.changes(group)[0]
    base, case = lay.base.case, group.case
    implied = [k for k in case if k != axis and k != "seed" and case.get(k) is not None
               and base.get(k) is not None and case.get(k) != base.get(k)]
    tail = "; ".join(f"{k} {value_text(base[k])} → {value_text(case[k])}" for k in implied)
    return f"{axis}: {value_text(base.get(axis))} → {value_text(case.get(axis))}" + (f" ({tail})" if tail else "")


def build_tradeoffs(run, out: Path) -> list[Section]:
    """The summary table, one row per one-field change from the base case, one column per metric."""
    import pandas as pd

    lay = layout(run)
    if not lay.groups:
        return []
    base = lay.base
    rows = [g for axis in lay.axes for g in lay.one_axis() if lay.changes(g)[0] == axis]
    keys = [k for k in summary_keys() if central(base, k) is not None]
    if VAL_LOSS in keys:  # a language model's test loss is its val loss: one column
        keys.remove(TEST_LOSS)
    text = [f"Each row changes one field of the base case `{lay.short_label(base)}` (the plan's first case) and "
            "shows the effect on each metric: xR is the ratio to the base, pp a difference in percentage points. "
            f"\"{WITHIN}\" means the two measurements overlap: their interquartile ranges overlap or a "
            "Mann-Whitney U test over the raw samples finds no difference at p < 0.05 (min–max ranges where "
            "only those were kept; a single value inside the other side's range). Figures derived from a "
            "timing (MFU, train time) are judged on that timing's spread. Accuracy has a spread only "
            "with several seeds: between single seeds, differences are printed as measured."]
    if base.status != "ok":
        return [Section("Trade-offs", [f"The base case `{lay.short_label(base)}` is {base.status}: no trade-offs to "
                                       "show."])]
    lonely = [a for a in lay.axes if not any(lay.changes(g)[0] == a for g in lay.one_axis())]
    if lonely:
        text.append(f"Axes never varied alone from the base (see the tables): {', '.join(lonely)}.")
    if not rows:
        return [Section("Trade-offs", text)]
    if any(noisy(g) for g in [base, *rows]):
        text.append(f"Rows marked \"{NOISY.strip()}\" (or a noisy base case) have timings whose rounds spread by "
                    "more than 10% of their median: read their timing ratios with care.")
    table = pd.DataFrame([{"change": change_label(lay, g) + (NOISY if noisy(g) else "") + mark(g.unsupported),
                           **{METRICS[k].label: effect(base, g, k) if g.status == "ok" else g.status for k in keys}}
                          for g in rows])
    return [Section("Trade-offs", text, [table])]
