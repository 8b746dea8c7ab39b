"""What every report section reads: a run's cases grouped over seeds, the base case and the axes it varies, and
one table of their values (`Layout.frame`: a row per configuration, a column per metric, spread keys included).

The base case is the plan's first case: plans list `[base]` first (suite/plans.py keeps it first)
and results files keep the plan's order, so the first case of the (first) results file is the base.
Every trade-off is measured from it. An axis is any Case field whose value differs from the base's
in some case, so a field added to Case later is an axis as soon as a plan varies it. A field that is
None on either side does not apply to that case (seed-cnn has no depth) and is not a difference.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from suite.metrics import TRAIN_RATE, number
from suite.report.hardware import unsupported
from suite.results.schema import CaseResult, Run

SEED = "seed"  # results of the same case with several seeds are one group


@dataclass
class Group:
    """The cases of one configuration that differ only in their seed (one case when there is one seed)."""

    members: list[CaseResult]
    unsupported: str | None = None  # "bf16" or "int8": ran on a CPU without those instructions (report.hardware)
    row: pd.Series | None = None  # this configuration's row of the layout's table (values_frame), set by group_cases

    @property
    def case(self) -> dict:
        """The configuration: the first member's case fields."""
        return self.members[0].case

    @property
    def label(self) -> str:
        """The first member's case id (every id of the group differs only in its seed): what results files, compare
        and history name; a report leads with Layout.short_label instead."""
        return self.members[0].case_id

    @property
    def ok(self) -> list[CaseResult]:
        """The members whose status is ok."""
        return [m for m in self.members if m.status == "ok"]

    @property
    def status(self) -> str:
        """"ok" when every member is; else the statuses with their counts, e.g. "diverged 1/3"."""
        bad = [m.status for m in self.members if m.status != "ok"]
        if not bad:
            return "ok"
        if len(self.members) == 1:
            return bad[0]
        return ", ".join(f"{s} {bad.count(s)}/{len(self.members)}" for s in dict.fromkeys(bad))

    def values(self, key: str) -> list[float]:
        """The finite values of a metric over the members that have it (ok or not)."""
        return [v for v in (number(m.metrics.get(key)) for m in self.members) if v is not None]

    def value(self, key: str) -> float | None:
        """The mean of a metric over the seeds (the value itself for one seed), read from the layout's table;
        None where absent."""
        value = self.row.get(key) if self.row is not None else None
        return None if value is None or pd.isna(value) else float(value)

    def raw(self, group: str) -> list[float]:
        """The raw seconds per call that a benchmark group timed, pooled over the seeds."""
        return [float(s) for m in self.members for s in m.samples.get(group, [])]

    def train_rates(self) -> list[float]:
        """Training samples/s of every timed round, pooled over the seeds.

        A results file keeps seconds per step and the rates' max, not the samples per step; the fastest
        round's rate times its seconds gives them back (max rate = samples per step / min seconds).
        """
        rates = []
        for m in self.members:
            seconds, fastest = [s for s in m.samples.get("train", []) if s > 0], number(
                m.metrics.get(f"{TRAIN_RATE}_max"))
            if seconds and fastest is not None:
                rates += [fastest * min(seconds) / s for s in seconds]
        return rates


def group_key(case: dict) -> str:
    """The identity of a case's configuration: every field but the seed."""
    return json.dumps({k: v for k, v in case.items() if k != SEED}, sort_keys=True, default=str)


def group_cases(cases: list[CaseResult]) -> list[Group]:
    """Cases grouped by configuration, groups in the order of their first case, each given its row of
    values_frame."""
    by_key: dict[str, Group] = {}
    for case in cases:
        by_key.setdefault(group_key(case.case), Group([])).members.append(case)
    groups = list(by_key.values())
    frame = values_frame(groups)
    for position, g in enumerate(groups):
        g.row = frame.iloc[position]
    return groups


def values_frame(groups: list[Group]) -> pd.DataFrame:
    """The table every section reads: a row per configuration (in the groups' order), a column per numeric metric
    its members carry (spread keys such as `_iqr`, `_min`, `_max` included), the mean over the seeds; NaN where
    no member has a finite value."""
    rows = []
    for g in groups:
        keys = dict.fromkeys(k for m in g.members for k in m.metrics)
        rows.append({k: float(np.mean(v)) for k in keys if (v := g.values(k))})
    return pd.DataFrame(rows, index=range(len(groups)), dtype=float)


def changed_fields(case: dict, base: dict) -> list[str]:
    """The fields (seed excepted) where a case differs from the base, in the base's field order."""
    names = list(base) + [k for k in case if k not in base]
    return [k for k in names if k != SEED and case.get(k) is not None and base.get(k) is not None
            and case.get(k) != base.get(k)]


@dataclass
class Layout:
    """The groups of a run, its base group and, per group, the axes it changes from the base and its short label."""

    groups: list[Group]
    base: Group
    axes_of: dict[int, list[str]]  # id(group) -> the axes it changes (fields implied by another dropped)
    labels: dict[int, str] = field(default_factory=dict)  # id(group) -> its short label, unique in the run
    members: dict[int, str] = field(default_factory=dict)  # id(case) -> its member label, filled when first asked

    @property
    def axes(self) -> list[str]:
        """Every axis the run varies, in the order of the base case's fields."""
        seen = {a for g in self.groups for a in self.axes_of[id(g)]}
        order = list(self.base.case) if self.base.members else []
        return sorted(seen, key=lambda a: order.index(a) if a in order else len(order))

    @property
    def frame(self) -> pd.DataFrame:
        """The groups' values as one table (values_frame), a row per group in the groups' order, labelled by
        their short labels."""
        frame = pd.DataFrame([g.row for g in self.groups]) if self.groups else pd.DataFrame()
        frame.index = [self.short_label(g) for g in self.groups]
        return frame

    def changes(self, group: Group) -> list[str]:
        """The axes a group changes from the base."""
        return self.axes_of[id(group)]

    def one_axis(self) -> list[Group]:
        """The groups that change exactly one axis from the base: the trade-off summary's rows."""
        return [g for g in self.groups if len(self.changes(g)) == 1]

    def short_label(self, group: Group) -> str:
        """What a report calls a group (answer, tables, plots): the values it changes, or "base"; where two groups
        would read alike, the fields that tell them apart follow."""
        return self.labels[id(group)]

    def member_label(self, member: CaseResult) -> str:
        """What a report calls one case: its group's short label, with its seed where the group pools several, and
        a number where cases of other ids would still read alike (results files without seeds)."""
        if not self.members:
            taken: dict[str, list[str]] = {}
            for g in self.groups:
                for m in g.members:
                    seed = m.case.get(SEED)
                    text = self.short_label(g) + (f" (seed {seed})" if len(g.members) > 1 and seed is not None else "")
                    ids = taken.setdefault(text, [])
                    ids += [m.case_id] if m.case_id not in ids else []
                    self.members[id(m)] = text + (f" #{ids.index(m.case_id) + 1}" if ids.index(m.case_id) else "")
        return self.members[id(member)]

    def case_ids(self) -> dict[str, str]:
        """Name -> full case id as the report's case ids list shows them: a group of one case by its short label,
        each member of a group that pools seeds by its member label."""
        ids = {}
        for g in self.groups:
            ids.update({self.member_label(m): m.case_id for m in g.members})
        return ids

    def tooltips(self) -> dict[str, str]:
        """case_ids() and every group's short label (a group that pools seeds: its first member's id)."""
        return {**{self.short_label(g): g.label for g in self.groups}, **self.case_ids()}


def field_text(name: str, value) -> str:
    """A field's value as a short readable word: "shared", "not shared", "depth 3", "sgd"."""
    if isinstance(value, bool):
        return name if value else f"not {name}"
    if isinstance(value, str):
        return value
    if value is None:
        return f"no {name}"
    return f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"


def layout(run: Run) -> Layout:
    """Group a run's cases, mark those that ran without hardware support for their lever (report.hardware), and
    work out which axes each group changes from the base (the first case).

    A changed field is implied by another changed field when every group with that other field's
    value has this field's value too (lr follows the optimizer when a plan leaves lr at its default):
    `optimizer adam -> sgd` then counts as one axis, with lr shown beside it.
    """
    groups = group_cases(run.cases)
    if not groups:
        return Layout([], Group([]), {})
    for g in groups:
        g.unsupported = next((lever for lever in (unsupported(m, run) for m in g.members) if lever), None)
    base = groups[0]
    changed = {id(g): changed_fields(g.case, base.case) for g in groups}
    axes_of = {}
    for g in groups:
        kept: list[str] = []
        for name in changed[id(g)]:
            if not any(_implies(groups, g, other, name) for other in kept):
                kept.append(name)
        axes_of[id(g)] = kept
    return Layout(groups, base, axes_of, unique_labels(groups, axes_of))


def unique_labels(groups: list[Group], axes_of: dict[int, list[str]]) -> dict[int, str]:
    """id(group) -> its short label: the values of the axes it changes, or "base". Groups whose labels collide
    (a field that is None in the base is no axis) get the fields that differ among them appended, then a number."""
    labels = {id(g): ", ".join(field_text(a, g.case.get(a)) for a in axes_of[id(g)]) or "base" for g in groups}
    counts = Counter(labels.values())
    for text in [t for t in counts if counts[t] > 1]:
        alike = [g for g in groups if labels[id(g)] == text]
        names = [k for k in dict.fromkeys(k for g in alike for k in g.case) if k != SEED]
        apart = [k for k in names if len({json.dumps(g.case.get(k), default=str) for g in alike}) > 1]
        for g in alike:
            labels[id(g)] = ", ".join([text, *(field_text(k, g.case.get(k)) for k in apart)])
    seen: dict[str, int] = {}
    for g in groups:  # still alike (fields that print alike): number them in file order
        text = labels[id(g)]
        seen[text] = seen.get(text, 0) + 1
        if seen[text] > 1:
            labels[id(g)] = f"{text} #{seen[text]}"
    return labels


def _implies(groups: list[Group], group: Group, cause: str, effect: str) -> bool:
    value, result = group.case.get(cause), group.case.get(effect)
    return all(g.case.get(effect) == result for g in groups if g.case.get(cause) == value)
