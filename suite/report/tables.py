"""The report's tables: training, inference, model and accuracy, one row per case (seeds pooled) named by its short
label, the best value of each column marked, and every case that is not ok listed with its reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from suite.metrics import (
    BELOW_RESOLUTION,
    INFER_LATENCY_MS_P50,
    INFER_LATENCY_SAMPLES,
    METRICS,
    PARAMS,
    TEST_ACCURACY,
    TEST_LOSS,
    TRAIN_RATE,
    VAL_LOSS,
    noisy_metrics,
    show,
    table_keys,
)
from suite.report.grouping import Group, Layout, layout
from suite.report.hardware import mark
from suite.report.sections import Section
from suite.report.spread import quartiles

BEST = " ★"  # appended to the best value of a column; the HTML page styles cells that end with it
NOISY = " (noisy)"  # appended to a case whose timed rounds spread by more than 10% of their median


@dataclass(frozen=True)
class Column:
    """A table column: its header, the number behind a cell, how it is printed, which way is better."""

    header: str
    value: Callable[[Group], float | None]
    text: Callable[[Group, float | None], str]
    better: str = ""


def metric_column(key: str) -> Column:
    """The column of a registered metric: the mean over seeds, printed in the metric's unit."""
    metric = METRICS[key]
    return Column(metric.label, lambda g: g.value(key), lambda g, v: show(key, v), metric.better)


def _train_stat(index: int, stored: str):
    """Median (1), min (0) or max (2) of the pooled per-round rates, else the stored metric."""
    def value(g: Group) -> float | None:
        rates = g.train_rates()
        if not rates:
            return g.value(stored)
        return quartiles(rates)[1] if index == 1 else (min(rates), None, max(rates))[index]
    return value


def central(g: Group, key: str) -> float | None:
    """The figure a table shows for a metric: pooled median for training throughput, else the seeds' mean."""
    return _train_stat(1, key)(g) if key == TRAIN_RATE else g.value(key)


def _train_range(g: Group, _) -> str:
    low, high = _train_stat(0, f"{TRAIN_RATE}_min")(g), _train_stat(2, f"{TRAIN_RATE}_max")(g)
    return "-" if low is None or high is None else f"{low:,.0f}–{high:,.0f}"


def _train_iqr(g: Group) -> float | None:
    rates = g.train_rates()
    if not rates:
        return g.value(f"{TRAIN_RATE}_iqr")
    q1, _, q3 = quartiles(rates)
    return q3 - q1


def _train_rounds(g: Group) -> float | None:
    rates = g.train_rates()
    return float(len(rates)) if rates else g.value(f"{TRAIN_RATE}_rounds")


TRAINING = [
    Column("train samples/s (median)", _train_stat(1, TRAIN_RATE),
           lambda g, v: show(TRAIN_RATE, v), "higher"),
    Column("min–max over rounds", lambda g: None, _train_range),
    Column("IQR (samples/s)", _train_iqr, lambda g, v: show(TRAIN_RATE, v)),
    Column("rounds", _train_rounds, lambda g, v: show(INFER_LATENCY_SAMPLES, v)),
]
OPTIONAL_TRAINING = table_keys("training")
INFERENCE = table_keys("inference")
COUNTS = table_keys("instruction counts")
MODEL = table_keys("model")
ACCURACY = table_keys("accuracy")
LANGUAGE_MODEL = table_keys("language model")  # shown where val_loss is


@dataclass(frozen=True)
class TableSpec:
    """A metric table: a case is a row when it has `row_key`; optional keys are columns when any case has them."""

    title: str
    text: str
    fixed: list[Column]
    keys: list[str]
    row_key: str


TABLES = [
    TableSpec("Training throughput", "Samples per second of the training step alone (batches drawn outside the "
              "clock): the median of timed rounds, their range and interquartile range (seeds pooled); `train e2e "
              "samples/s`: samples over the training phase's wall time (batch drawing and syncs included, "
              "evaluation excluded).", TRAINING, OPTIONAL_TRAINING,
              TRAIN_RATE),
    TableSpec("Inference", "Batch-1 latency percentiles over the timed calls (their count in `latency samples`) "
              "and forward throughput at the case's batch size.", [], INFERENCE, INFER_LATENCY_MS_P50),
    TableSpec("Instruction counts", "Instructions executed per training sample and per batch-1 forward, counted "
              "under valgrind's callgrind (`--measure instructions`): deterministic between processes, so a gate "
              "can see a change of a few percent; they compare only on one fingerprint.", [], COUNTS, COUNTS[0]),
    TableSpec("Model", "Parameters (shared weights counted once) and FLOPs per sample as torch's "
              "FlopCounterMode counts them (2 per multiply-add).", [], MODEL, PARAMS),
]


def name(lay: Layout, g: Group) -> str:
    """A group as a report names it: its short label, then "(noisy)" and "(no bf16 hardware)" where they apply."""
    return lay.short_label(g) + (NOISY if noisy(g) else "") + mark(g.unsupported)


def table(lay: Layout, groups: list[Group], columns: list[Column], extra: list[tuple[str, Callable]] = ()):
    """A DataFrame of text cells, one row per group, the best ok value of each column marked."""
    import pandas as pd

    seeds = any(len(g.members) > 1 for g in groups)
    rows = []
    for g in groups:
        row = {"case": name(lay, g), **({"seeds": str(len(g.members))} if seeds else {})}
        row.update({c.header: c.text(g, c.value(g)) for c in columns})
        row.update({header: fn(g) for header, fn in extra})
        rows.append(row)
    for c in columns:
        if c.better:
            _mark_best(groups, rows, c)
    return pd.DataFrame(rows, columns=["case", *(["seeds"] if seeds else []), *(c.header for c in columns),
                                       *(h for h, _ in extra)])


def _mark_best(groups: list[Group], rows: list[dict], column: Column) -> None:
    scored = [(column.value(g), row) for g, row in zip(groups, rows) if g.status == "ok"]
    scored = [(v, row) for v, row in scored if v is not None and row[column.header] != BELOW_RESOLUTION]
    if len(scored) < 2:
        return
    best = (max if column.better == "higher" else min)(v for v, _ in scored)
    best_text = next(row[column.header] for v, row in scored if v == best)
    for _, row in scored:  # ties at the shown precision are all best
        if row[column.header] == best_text:
            row[column.header] += BEST


def noisy(g: Group) -> bool:
    """Whether any seed of a group has a timing whose IQR exceeds 10% of its median (suite.plumbing.stats)."""
    return any(noisy_metrics(m.metrics) for m in g.members)


def present(groups: list[Group], keys: list[str]) -> list[str]:
    """The keys that at least one case has."""
    return [k for k in keys if any(k in m.metrics for g in groups for m in g.members)]


def absent(groups: list[Group], keys: list[str]) -> list[str]:
    """A line per metric that no case has but whose `KEY_reason` says why: "train J/sample: not measured (...)"."""
    lines = []
    for key in keys:
        reasons = {str(m.metrics[f"{key}_reason"]) for g in groups for m in g.members if f"{key}_reason" in m.metrics}
        if reasons and key not in present(groups, [key]):
            lines.append(f"{METRICS[key].label}: not measured ({'; '.join(sorted(reasons))}).")
    return lines


def _accuracy_section(lay: Layout, groups: list[Group]) -> Section:
    extra_keys = present(groups, LANGUAGE_MODEL) if present(groups, [VAL_LOSS]) else []
    keys = [k for k in ACCURACY if not (extra_keys and k == TEST_LOSS)]  # a language model's test loss: val loss
    columns = [metric_column(k) for k in keys + extra_keys]
    extra = [("status", lambda g: g.status)]
    if any(len(g.ok) > 1 for g in groups):
        extra.insert(0, ("acc min–max over seeds (%)", _seed_range))
    text = ["Test accuracy and loss after training to the case's budget (the mean over seeds), and the training "
            "time without evaluation."]
    if extra_keys:
        text.append("A language model's accuracy is its next-character accuracy, its loss the held-out loss per "
                    "token (val loss; bits/char = val loss / ln 2).")
    return Section("Accuracy", text, [table(lay, groups, columns, extra)])


def _seed_range(g: Group) -> str:
    values = g.values(TEST_ACCURACY)
    return f"{100 * min(values):.2f}–{100 * max(values):.2f}" if len(values) > 1 else "-"


def not_ok_section(lay: Layout) -> list[Section]:
    """Every case that diverged, was skipped or failed, with its reason (one row per seed)."""
    import pandas as pd

    rows = [{"case": lay.member_label(m), "status": m.status, "reason": m.reason or "-"}
            for g in lay.groups for m in g.members if m.status != "ok"]
    if not rows:
        return []
    return [Section("Cases not ok", [f"{len(rows)} case(s) did not finish normally; their figures above, where "
                                     "there are any, are not marked best."], [pd.DataFrame(rows)])]


def case_ids_section(run) -> list[Section]:
    """The report's one list from the short labels it shows to the full case ids that results files, compare and
    history use."""
    import pandas as pd

    lay = layout(run)
    ids = lay.case_ids()
    if not ids:
        return []
    return [Section("Case ids", ["The report names each configuration by what it changes from the base case; "
                                 "results files, compare and history use the full case id."],
                    [pd.DataFrame({"case": list(ids), "case id": list(ids.values())})], ids=lay.tooltips())]


def build_tables(run, out: Path) -> list[Section]:
    """The metric tables (a table only lists cases that have its metrics), the accuracy table and the not-ok list."""
    lay = layout(run)
    groups = lay.groups
    sections = []
    for spec in TABLES:
        shown = [g for g in groups if any(spec.row_key in m.metrics for m in g.members)]
        columns = spec.fixed + [metric_column(k) for k in present(shown, spec.keys)]
        if shown:
            text = [f"{spec.text} {BEST.strip()} marks the best value of a column; \"{NOISY.strip()}\" a case "
                    "whose timed rounds spread by more than 10% of their median (IQR/median).",
                    *absent(shown, spec.keys)]
            sections.append(Section(spec.title, text, [table(lay, shown, columns)]))
    if present(groups, ACCURACY + LANGUAGE_MODEL):
        sections.append(_accuracy_section(lay, groups))
    return sections + not_ok_section(lay)
