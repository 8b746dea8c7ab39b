"""The answer at the top of a report: which configuration to take for the fastest training, the lowest batch-1
latency and the smallest model while staying within a tolerance of the best quality, and what it gains over the
base case.

Each answer is read off the Pareto front of (goal metric, quality) that the report's plots draw
(suite.report.pareto): among the front's configurations within QUALITY's tolerance of the best quality, the one
best on the goal metric. The noise rules are the trade-off summary's (suite.report.tradeoffs.differ): a ratio to
the base inside the measured spread of both reads "within spread of the base's", and other eligible
configurations whose goal figure is within the pick's spread are named as ties.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from suite.metrics import INFER_LATENCY_MS_P50, PARAMS, TEST_ACCURACY, TRAIN_RATE, VAL_LOSS
from suite.report.fastest import build_fastest
from suite.report.grouping import Group, Layout, layout
from suite.report.hardware import mark
from suite.report.pareto import pareto_front
from suite.report.sections import Section
from suite.report.tables import NOISY, central, noisy
from suite.report.tradeoffs import differ, ratio_number


@dataclass(frozen=True)
class Quality:
    """The quality an answer must stay close to: a metric key, its better direction and the tolerance."""

    key: str
    better: str
    tolerance: float  # in the stored unit
    text: str


# Accuracy for classifiers; validation loss (lower is better) for language models, which have no accuracy.
QUALITIES = [Quality(TEST_ACCURACY, "higher", 0.005, "0.5 pp of the best accuracy"),
             Quality(VAL_LOSS, "lower", 0.02, "0.02 of the best validation loss")]
# (metric key, which way is better, the goal in words, the figure in words)
GOALS = [(TRAIN_RATE, "higher", "highest training throughput", "training throughput"),
         (INFER_LATENCY_MS_P50, "lower", "lowest batch-1 latency", "batch-1 latency"),
         (PARAMS, "lower", "smallest model", "parameter count")]
RATIOS = {TRAIN_RATE: "training throughput", INFER_LATENCY_MS_P50: "batch-1 latency",
          PARAMS: "parameter count"}


@dataclass
class Answer:
    """One answer: the goal, the configuration picked (None when no case qualifies) and its ties."""

    goal: str
    key: str
    pick: Group | None
    ties: list[Group]
    quality: Quality
    eligible: int = 0  # configurations within the tolerance (on the front or not)


def quality_of(lay: Layout) -> Quality | None:
    """The first quality of QUALITIES that some ok configuration has, else None."""
    return next((q for q in QUALITIES if any(g.status == "ok" and g.value(q.key) is not None for g in lay.groups)),
                None)


def answer(lay: Layout, key: str, better: str, goal: str, quality: Quality) -> Answer:
    """The configuration of the Pareto front of (key, quality) that is best on `key` within the tolerance."""
    points = [(g, central(g, key), g.value(quality.key)) for g in lay.groups if g.status == "ok"]
    points = [(g, x, q) for g, x, q in points if x is not None and q is not None]
    if not points:
        return Answer(goal, key, None, [], quality)
    sign = {"higher": -1.0, "lower": 1.0}
    front = pareto_front([sign[better] * x for _, x, _ in points], [-sign[quality.better] * q for *_, q in points])
    qualities = [q for *_, q in points]
    best = max(qualities) if quality.better == "higher" else min(qualities)
    close = [p for p in points if abs(p[2] - best) <= quality.tolerance + 1e-12]
    pick = min([points[i] for i in front if points[i] in close], key=lambda p: sign[better] * p[1])[0]
    # a configuration the front dominates by less than the measured spread is a tie, not a loser
    ties = [g for g, _, _ in close if g is not pick and not differ(pick, g, key)]
    return Answer(goal, key, pick, ties, quality, len(close))


def answers(lay: Layout) -> list[Answer]:
    """The three answers of a run's layout (none when it has no quality figure)."""
    quality = quality_of(lay) if lay.groups else None
    if quality is None:
        return []
    return [answer(lay, key, better, goal, quality) for key, better, goal, _ in GOALS]


def ratio_text(base: Group, group: Group, key: str) -> str | None:
    """"4.63 times the base's training throughput", "within spread of the base's ..." or None without figures."""
    before, after = central(base, key), central(group, key)
    if before is None or after is None or before == 0:
        return None
    if not differ(base, group, key):
        return f"within spread of the base's {RATIOS[key]}"
    return f"{ratio_number(after / before)} times the base's {RATIOS[key]}"


def sentence(lay: Layout, item: Answer) -> str:
    """One answer as a sentence, configurations named by their short labels in backticks (the full ids are in the
    report's case ids list)."""
    head = f"The configuration with the {item.goal} within {item.quality.text}"
    if item.pick is None:
        return f"{head}: none (no ok case has both figures)."
    name = f"`{lay.short_label(item.pick)}`" + (NOISY if noisy(item.pick) else "") + mark(item.pick.unsupported)
    if item.pick is lay.base:
        what = f"{name}, the base case itself" + (", the only configuration within that tolerance"
                                                   if item.eligible == 1 else "")
    else:
        base_ok = lay.base.status == "ok"
        keys = [k for k in (PARAMS,) if item.key == PARAMS] + [TRAIN_RATE, INFER_LATENCY_MS_P50]
        parts = [t for t in (ratio_text(lay.base, item.pick, k) for k in keys) if t] if base_ok else []
        figures = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else "".join(parts)
        what = name + (f": {figures}" if figures else "")
    ties = ""
    if item.ties:
        listed = ", ".join(f"`{lay.short_label(g)}`" for g in item.ties[:3]) + (" ..." if len(item.ties) > 3 else "")
        ties = f" Within its spread on that figure: {listed}."
    return f"{head} is {what}.{ties}"


def answer_lines(run) -> list[str]:
    """The answers of a run as sentences (empty when it has no quality figure)."""
    lay = layout(run)
    return [sentence(lay, item) for item in answers(lay)]


def build_answer(run, out: Path) -> list[Section]:
    """The report's first sections: the fastest configuration of each model whose levers the run searched
    (suite.report.fastest), then the three answers."""
    lines = answer_lines(run)
    if not lines:
        return build_fastest(run)
    note = "Read off the Pareto fronts below; ratios inside the measured spread of both cases say so, as in the " \
           "trade-off summary."
    return [*build_fastest(run), Section("Answer", [*lines, note])]
