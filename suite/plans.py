"""Plans: TOML files that expand to a list of cases.

    description = "..."          what the plan answers
    [base]                       a complete case: every trade-off is measured against it
    [matrix]                     field = [values]; crossed with each other on top of the base
    [sweep]                      field = [values]; varied one field at a time from the base
    [[exclude]]                  field = value tables; a case matching all of one is dropped

Missing fields take the Case defaults. Duplicate cases (same id) are kept once, the base first.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import tomllib

from suite.cases import FIELDS, Case, make_case
from suite.errors import ConfigError

PLAN_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "plans"
PLAN_KEYS = ("description", "base", "matrix", "sweep", "exclude")


@dataclass(frozen=True)
class Plan:
    """A named, expanded plan."""

    name: str
    description: str
    base: Case
    cases: tuple[Case, ...]


def plan_names() -> list[str]:
    """The plans shipped in benchmarks/plans/."""
    return sorted(p.stem for p in PLAN_DIR.glob("*.toml"))


def plan_path(name_or_path: str) -> Path:
    """A plan's file from its name (benchmarks/plans/NAME.toml) or a path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"plan file {path} does not exist")
        return path
    candidate = PLAN_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise ConfigError(f"unknown plan {name_or_path!r}; valid plans: {', '.join(plan_names())} or a .toml path")
    return candidate


def load_plan(name_or_path: str, overrides: dict | None = None) -> Plan:
    """Read, validate and expand a plan; `overrides` replace fields of its base."""
    path = plan_path(name_or_path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"plan {path}: not valid TOML ({exc})") from None
    return expand_plan(doc, path.stem, overrides, where=f"plan {path}")


def _table(doc: dict, key: str, where: str, kind=dict):
    value = doc.get(key, kind())
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: [{key}] must be a {'table' if kind is dict else 'list of tables'}")
    return value


def expand_plan(doc: dict, name: str, overrides: dict | None = None, where: str = "plan") -> Plan:
    """The Plan a parsed TOML document describes, every case validated before anything runs."""
    unknown = sorted(set(doc) - set(PLAN_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(PLAN_KEYS)}")
    base_fields = {**_table(doc, "base", where), **(overrides or {})}
    matrix, sweep = _table(doc, "matrix", where), _table(doc, "sweep", where)
    excludes = _table(doc, "exclude", where, list)
    for section, table in (("matrix", matrix), ("sweep", sweep)):
        for key, values in table.items():
            if key not in FIELDS:
                raise ConfigError(f"{where}: [{section}] key {key!r} is not a case field; "
                                  f"valid fields: {', '.join(FIELDS)}")
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}: [{section}] {key} must be a non-empty list of values")
    for rule in excludes:
        if not isinstance(rule, dict) or set(rule) - set(FIELDS):
            raise ConfigError(f"{where}: each [[exclude]] must be a table of case fields; "
                              f"valid fields: {', '.join(FIELDS)}")
    field_sets = [base_fields]
    field_sets += [{**base_fields, **dict(zip(matrix, combo))} for combo in itertools.product(*matrix.values())]
    field_sets += [{**base_fields, key: value} for key, values in sweep.items() for value in values]
    cases = {}
    try:
        for index, fields in enumerate(field_sets):
            if index == 0 or not any(_matches(fields, rule) for rule in excludes):
                case = make_case(fields)
                cases.setdefault(case.id, case)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    base = next(iter(cases.values()))
    description = doc.get("description", "")
    return Plan(name, description if isinstance(description, str) else str(description), base,
                tuple(cases.values()))


def _matches(fields: dict, rule: dict) -> bool:
    """Whether a case's fields (defaults filled in) equal every value of an [[exclude]] rule."""
    return all(fields.get(key, FIELDS[key].default) == value for key, value in rule.items())
