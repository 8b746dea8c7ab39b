"""Plans: TOML files that expand to a list of cases.

    description = "..."          what the plan answers
    [base]                       a complete case: every trade-off is measured against it
    [matrix]                     field = [values]; crossed with each other on top of the base
    [sweep]                      field = [values]; varied one field at a time from the base
    [[exclude]]                  field = value tables; a case matching all of one is dropped
    seeds = N                    each case runs with seeds seed .. seed + N - 1 (tuning trials: the first)
    target_accuracy = 0.95       or a table dataset = fraction: each case's time-to-target accuracy
    [tuning]                     trials = k, seed = S, [tuning.lr] optimizer = [low, high]: k log-uniform
                                 lr trials per optimizer on a validation split (see suite/results/study.py)
    optional_datasets = [...]    cases on these datasets are skipped, not failed, when their files are absent
    isolation = "process"        how the plan's cases run unless --isolation says otherwise (default "none";
                                 the fastest plan's intervals are between processes)
    dataset_with_data_dir = "mnist"  the base's dataset when a data directory is given (--data-dir or
                                 $TRADEOFF_BENCH_DATA) and --set names no dataset; the base's own otherwise
    [[part]]                     a plan of several workloads: each part has a `name`, its own [part.base] (on top
                                 of the plan's [base]), [part.matrix], [part.sweep] and [[part.exclude]], and may
                                 say `dataset_if_present = "cifar10"`: its base's dataset when that dataset loads
                                 from the data directory (and --set names no dataset). The parts' cases follow
                                 each other in order; Plan.parts names each part's case ids.

Missing fields take the Case defaults. Duplicate cases (same id) are kept once, the base first.
A plan is counted before it is expanded: more than MAX_CASES cases (raise the limit with `run --max-cases`)
is refused with the count, before any case is built.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import tomllib

from suite.cases import CHOICES, FIELDS, Case, make_case
from suite.plumbing.errors import ConfigError, shown
from suite.plumbing.fileio import read_bytes_capped
from suite.results.schema import CaseResult
from suite.results.study import STUDY_KEYS, Tuning, expand_study, parse_study
from suite.workloads.data import load_dataset, resolve_data_dir

PLAN_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "plans"
PLAN_KEYS = ("description", "base", "matrix", "sweep", "exclude", "part", "isolation", *STUDY_KEYS)
PART_KEYS = ("name", "description", "base", "matrix", "sweep", "exclude", "dataset_if_present")
MAX_CASES = 10_000  # a plan above this is almost surely a mistake (the full plan has 346 cases)
MAX_PLAN_BYTES = 2**20


@dataclass(frozen=True)
class Plan:
    """A named, expanded plan."""

    name: str
    description: str
    base: Case
    cases: tuple[Case, ...]
    seeds: int = 1
    tuning: Tuning | None = None  # cases holds its trials; suite.results.study.final_cases gives the second pass
    optional_datasets: tuple[str, ...] = ()
    parts: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (part name, its case ids) of a plan made of parts
    isolation: str = "none"  # the run's --isolation when it gives none (checked by suite.executors.isolated)

    def part_cases(self, name: str) -> list[Case]:
        """The cases of the part `name` (ConfigError naming the parts when there is no such part)."""
        ids = dict(self.parts).get(name)
        if ids is None:
            raise ConfigError(f"plan {self.name!r} has no part {shown(name)}; valid parts: "
                              f"{', '.join(n for n, _ in self.parts) or 'none'}")
        return [case for case in self.cases if case.id in ids]


def plan_names() -> list[str]:
    """The plans shipped in benchmarks/plans/."""
    return sorted(p.stem for p in PLAN_DIR.glob("*.toml"))


def plan_path(name_or_path: str) -> Path:
    """A plan's file from its name (benchmarks/plans/NAME.toml) or a path to a TOML file."""
    path = Path(name_or_path)
    if path.is_dir():
        raise ConfigError(f"plan {path} is a directory; expected a .toml file or one of: {', '.join(plan_names())}")
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"plan file {path} does not exist")
        return path
    candidate = PLAN_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise ConfigError(f"unknown plan {shown(name_or_path)}; valid plans: {', '.join(plan_names())} or a .toml path")
    return candidate


def load_plan(name_or_path: str, overrides: dict | None = None, data_dir=None, max_cases: int | None = None) -> Plan:
    """Read, validate and expand a plan; `overrides` replace fields of its base, and a plan's
    `dataset_with_data_dir` becomes its base dataset when a data directory is given."""
    path = plan_path(name_or_path)
    data = read_bytes_capped(path, MAX_PLAN_BYTES, "a plan")
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # ValueError: TOMLDecodeError, a huge int
        raise ConfigError(f"plan {path}: not valid TOML ({str(exc)[:200]})") from None
    where = f"plan {path}"
    preferred = doc.pop("dataset_with_data_dir", None)
    if preferred is not None:
        if not isinstance(preferred, str) or preferred not in CHOICES["dataset"]:
            raise ConfigError(f"{where}: dataset_with_data_dir {shown(preferred)}; valid choices: "
                              f"{', '.join(CHOICES['dataset'])}")
        if resolve_data_dir(data_dir) is not None and "dataset" not in (overrides or {}):
            overrides = {**(overrides or {}), "dataset": preferred}
    for part in doc.get("part", []) if isinstance(doc.get("part"), list) else []:
        wanted = part.pop("dataset_if_present", None) if isinstance(part, dict) else None
        if wanted is not None and "dataset" not in (overrides or {}) and _loads(wanted, data_dir, where):
            part["base"] = {**part.get("base", {}), "dataset": wanted}
    return expand_plan(doc, path.stem, overrides, where=where, max_cases=max_cases)


def _loads(dataset, data_dir, where: str) -> bool:
    """Whether a built-in dataset loads from the data directory (a part's dataset_if_present)."""
    if not isinstance(dataset, str) or dataset not in CHOICES["dataset"]:
        raise ConfigError(f"{where}: dataset_if_present {shown(dataset)}; valid choices: "
                          f"{', '.join(CHOICES['dataset'])}")
    try:
        load_dataset(dataset, data_dir)
    except ConfigError:
        return False
    return True


def _table(doc: dict, key: str, where: str, kind=dict):
    value = doc.get(key, kind())
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: [{key}] must be a {'table' if kind is dict else 'list of tables'}")
    return value


def expand_plan(doc: dict, name: str, overrides: dict | None = None, where: str = "plan",
                max_cases: int | None = None) -> Plan:
    """The Plan a parsed TOML document describes, every case validated before anything runs; more than
    `max_cases` (default MAX_CASES) is refused before any case is made."""
    unknown = sorted(set(doc) - set(PLAN_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(PLAN_KEYS)}")
    study = parse_study(doc, where, list(CHOICES["optimizer"]), list(CHOICES["dataset"]))
    groups = _parts(doc, where) if "part" in doc else [("", doc)]
    base = {**_table(doc, "base", where), **(overrides or {})}
    tables = []
    for part_name, part in groups:
        at = f"{where} part {part_name!r}" if part_name else where
        tables.append((part_name, at, {**base, **_table(part, "base", at), **(overrides or {})},
                       *_checked_tables(part, at)))
    check_size(sum(count_cases(table[3], table[4], study) for table in tables), max_cases or MAX_CASES, where)
    cases, parts = {}, []
    for part_name, at, base_fields, matrix, sweep, excludes in tables:
        made = _expand(base_fields, matrix, sweep, excludes, study, at)
        parts.append((part_name, tuple(made)))
        for case in made.values():
            cases.setdefault(case.id, case)
    expanded = expand_study(cases.values(), study["seeds"], study["tuning"])
    description, isolation = doc.get("description", ""), doc.get("isolation", "none")
    if not isinstance(isolation, str):
        raise ConfigError(f"{where}: isolation must be a string, got {shown(isolation)}")
    return Plan(name, description if isinstance(description, str) else str(description), next(iter(cases.values())),
                expanded, study["seeds"], study["tuning"], study["optional_datasets"],
                tuple(parts) if "part" in doc else (), isolation)


def _parts(doc: dict, where: str) -> list[tuple[str, dict]]:
    """(name, table) of each [[part]], their keys checked and their names unique."""
    parts = _table(doc, "part", where, list)
    if not parts:
        raise ConfigError(f"{where}: [[part]] must hold at least one table")
    if any(key in doc for key in ("matrix", "sweep", "exclude")):
        raise ConfigError(f"{where}: a plan of [[part]]s keeps [matrix], [sweep] and [[exclude]] inside each part")
    names = []
    for part in parts:
        if not isinstance(part, dict):
            raise ConfigError(f"{where}: each [[part]] must be a table")
        unknown = sorted(set(part) - set(PART_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown [[part]] key {unknown[0]!r}; valid keys: {', '.join(PART_KEYS)}")
        name = part.get("name")
        if not isinstance(name, str) or not name or name in names:
            raise ConfigError(f"{where}: each [[part]] needs a unique name, got {shown(name)}")
        names.append(name)
    return [(part["name"], part) for part in parts]


def _checked_tables(doc: dict, where: str) -> tuple[dict, dict, list]:
    """(matrix, sweep, exclusions) of a plan or a part, their keys and values checked."""
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
    return matrix, sweep, excludes


def _expand(base_fields: dict, matrix: dict, sweep: dict, excludes: list, study: dict, where: str) -> dict:
    """The cases (by id, the base first) of one base, matrix, sweep and exclusions, each validated."""
    field_sets = [base_fields]
    field_sets += [{**base_fields, **dict(zip(matrix, combo))} for combo in itertools.product(*matrix.values())]
    field_sets += [{**base_fields, key: value} for key, values in sweep.items() for value in values]
    cases = {}
    try:
        for index, fields in enumerate(field_sets):
            if index == 0 or not any(_matches(fields, rule) for rule in excludes):
                target = study["targets"].get(fields.get("dataset", FIELDS["dataset"].default))
                case = make_case({"target_accuracy": target, **fields})
                cases.setdefault(case.id, case)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return cases


def count_cases(matrix: dict, sweep: dict, study: dict) -> int:
    """How many cases a plan makes at most (before exclusions and duplicates), without making them: the base,
    the matrix product and the sweep values, each run per seed or, when tuned, per trial."""
    crossed = math.prod(len(values) for values in matrix.values()) if matrix else 0
    field_sets = 1 + crossed + sum(len(values) for values in sweep.values())
    tuning = study["tuning"]
    return field_sets * max(study["seeds"], tuning.trials if tuning else 0)


def check_size(count: int, max_cases: int, where: str) -> None:
    """Refuse a plan of more than `max_cases` cases, saying how many it has."""
    if count > max_cases:
        amount = f"{count:,}" if count < 10**15 else f"about 10^{int(count.bit_length() * math.log10(2))}"
        raise ConfigError(f"{where}: expands to {amount} cases, more than the limit of {max_cases:,}; "
                          "narrow the plan, or raise the limit with --max-cases N")


def _matches(fields: dict, rule: dict) -> bool:
    """Whether a case's fields (defaults filled in) equal every value of an [[exclude]] rule."""
    return all(fields.get(key, FIELDS[key].default) == value for key, value in rule.items())


def available_cases(plan, data_dir, download: bool) -> tuple[list, list]:
    """(cases to run, skipped CaseResults): cases on an optional dataset whose files cannot be read are
    skipped with the reason instead of failing the run."""
    missing = {}
    for name in plan.optional_datasets:
        try:
            load_dataset(name, data_dir, download)
        except ConfigError as exc:
            missing[name] = f"optional dataset not available: {exc}"
    skipped = [CaseResult(c.id, c.as_dict(), "skipped", missing[c.dataset]) for c in plan.cases if c.dataset in missing]
    return [c for c in plan.cases if c.dataset not in missing], skipped
