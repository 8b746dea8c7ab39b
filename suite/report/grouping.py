"""What every report section reads: a run's cases grouped over seeds, the base case and the axes it varies.

The base case is the plan's first case: plans list `[base]` first (suite/plans.py keeps it first)
and results files keep the plan's order, so the first case of the (first) results file is the base.
Every trade-off is measured from it. An axis is any Case field whose value differs from the base's
in some case, so a field added to Case later is an axis as soon as a plan varies it. A field that is
None on either side does not apply to that case (seed-cnn has no depth) and is not a difference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from suite.report.metrics import number
from suite.results import CaseResult, Run

SEED = "seed"  # results of the same case with several seeds are one group


@dataclass
class Group:
    """The cases of one configuration that differ only in their seed (one case when there is one seed)."""

    members: list[CaseResult]

    @property
    def case(self) -> dict:
        """The configuration: the first member's case fields."""
        return self.members[0].case

    @property
    def label(self) -> str:
        """The first member's case id (every id of the group differs only in its seed)."""
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
        """The mean of a metric over the seeds (the value itself for one seed); None where absent."""
        values = self.values(key)
        return float(np.mean(values)) if values else None

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
                m.metrics.get("train_samples_per_s_max"))
            if seconds and fastest is not None:
                rates += [fastest * min(seconds) / s for s in seconds]
        return rates


def group_key(case: dict) -> str:
    """The identity of a case's configuration: every field but the seed."""
    return json.dumps({k: v for k, v in case.items() if k != SEED}, sort_keys=True, default=str)


def group_cases(cases: list[CaseResult]) -> list[Group]:
    """Cases grouped by configuration, groups in the order of their first case."""
    groups: dict[str, Group] = {}
    for case in cases:
        groups.setdefault(group_key(case.case), Group([])).members.append(case)
    return list(groups.values())


def changed_fields(case: dict, base: dict) -> list[str]:
    """The fields (seed excepted) where a case differs from the base, in the base's field order."""
    names = list(base) + [k for k in case if k not in base]
    return [k for k in names if k != SEED and case.get(k) is not None and base.get(k) is not None
            and case.get(k) != base.get(k)]


@dataclass
class Layout:
    """The groups of a run, its base group and, per group, the axes it changes from the base."""

    groups: list[Group]
    base: Group
    axes_of: dict[int, list[str]]  # id(group) -> the axes it changes (fields implied by another dropped)

    @property
    def axes(self) -> list[str]:
        """Every axis the run varies, in the order of the base case's fields."""
        seen = {a for g in self.groups for a in self.axes_of[id(g)]}
        order = list(self.base.case) if self.base.members else []
        return sorted(seen, key=lambda a: order.index(a) if a in order else len(order))

    def changes(self, group: Group) -> list[str]:
        """The axes a group changes from the base."""
        return self.axes_of[id(group)]

    def one_axis(self) -> list[Group]:
        """The groups that change exactly one axis from the base: the trade-off summary's rows."""
        return [g for g in self.groups if len(self.changes(g)) == 1]

    def short_label(self, group: Group) -> str:
        """A plot label: the values a group changes, or "base"."""
        return ", ".join(field_text(a, group.case.get(a)) for a in self.changes(group)) or "base"


def field_text(name: str, value) -> str:
    """A field's value as a short readable word: "shared", "not shared", "depth 3", "sgd"."""
    if isinstance(value, bool):
        return name if value else f"not {name}"
    if isinstance(value, str):
        return value
    return f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"


def layout(run: Run) -> Layout:
    """Group a run's cases and work out which axes each group changes from the base (the first case).

    A changed field is implied by another changed field when every group with that other field's
    value has this field's value too (lr follows the optimizer when a plan leaves lr at its default):
    `optimizer adam -> sgd` then counts as one axis, with lr shown beside it.
    """
    groups = group_cases(run.cases)
    if not groups:
        return Layout([], Group([]), {})
    base = groups[0]
    changed = {id(g): changed_fields(g.case, base.case) for g in groups}
    axes_of = {}
    for g in groups:
        kept: list[str] = []
        for name in changed[id(g)]:
            if not any(_implies(groups, g, other, name) for other in kept):
                kept.append(name)
        axes_of[id(g)] = kept
    return Layout(groups, base, axes_of)


def _implies(groups: list[Group], group: Group, cause: str, effect: str) -> bool:
    value, result = group.case.get(cause), group.case.get(effect)
    return all(g.case.get(effect) == result for g in groups if g.case.get(cause) == value)
