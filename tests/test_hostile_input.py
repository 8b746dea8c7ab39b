"""Hostile or broken input: generated malformed results documents and plan files meet only ConfigError."""

import copy
import json
import math
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from suite import cli
from suite.plans import load_plan
from suite.plumbing.errors import ConfigError
from suite.report.build import write_report
from suite.results.schema import CASE_FIELDS, CaseResult, load_run, run_document

CASE = {"model": "dense", "depth": 1, "width": 8, "shared": False, "optimizer": "adam", "lr": 0.001,
        "schedule": "constant", "weight_decay": 0.0, "batch_size": 64, "epochs": 2, "dataset": "digits",
        "device": "cpu", "seed": 0}
METRICS = {"train_samples_per_s": 2.3e5, "train_samples_per_s_rounds": 10, "params": 682, "flops_per_sample": 1312,
           "infer_latency_ms_p50": 0.0225, "infer_samples_per_s": 2.4e6, "infer_joules_per_sample_reason": "no RAPL",
           "test_accuracy": 0.74, "test_loss": 0.9, "train_seconds": 0.09,
           "history": [{"epoch": 1, "train_loss": 2.29, "test_accuracy": 0.1, "test_loss": 2.26, "lr": 0.001}]}
RESULTS = run_document(
    [CaseResult("dense-a", CASE, "ok", "", METRICS, {"train": [1e-4, 2e-4], "infer": [2e-5], "accuracy": [3e-4]}),
     CaseResult("dense-b", CASE, "diverged", "loss not finite at step 3", {"diverged_step": 3},
                {"train": [1e-4], "accuracy": [3e-4]}),
     CaseResult("conv-c", CASE, "skipped", "CUDA is not available on this machine")],
    "quick", {"node": "x", "tradeoff_bench": {"cpu_brand": "cpu", "fingerprint": "abc"}}, {"id": "0123abc"})
PLAN = {"description": "a plan", "base": dict(CASE), "matrix": {"model": ["dense", "conv"]},
        "sweep": {"lr": [0.01, 0.1]}, "exclude": [{"model": "conv", "lr": 0.1}]}
# Values chosen to be out of range or of the wrong type for some field, beside random ones.
HOSTILE = st.sampled_from([-1, 0, -0.5, 2**64, 10**400, float("inf"), float("nan"), "", "dense", True, [], {}])


def paths(value, prefix=()):
    """Every key/index path into a JSON-like value."""
    found = [prefix] if prefix else []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in children:
        found += paths(child, prefix + (key,))
    return found


def json_values(scalars):
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | HOSTILE
TOML_SCALARS = st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | HOSTILE.filter(
    lambda v: v == v or isinstance(v, float))


@st.composite
def mutated(draw, base: dict, values, dump):
    """Text of `base` with one value replaced, one key deleted, an unknown key added, or cut short; or garbage."""
    kind = draw(st.sampled_from(["replace", "replace", "delete", "add", "truncate", "garbage"]))
    text = dump(base)
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    if kind == "garbage":
        return draw(st.text(max_size=40))
    doc = copy.deepcopy(base)
    path = draw(st.sampled_from(paths(base)))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if kind == "delete":
        del parent[path[-1]]
    elif kind == "add" and isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=6))] = draw(values)
    else:
        parent[path[-1]] = draw(values)
    return dump(doc)


def toml_value(value) -> str:
    """A TOML value (inline tables and arrays); JSON string escapes are TOML's too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(doc: dict) -> str:
    return "\n".join(f"{json.dumps(key)} = {toml_value(value)}" for key, value in doc.items()) + "\n"


def assert_clean_error(exc: ConfigError, path) -> None:
    message = str(exc)
    assert str(path) in message and "\n" not in message, message


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def load_or_clean_error(path):
    """The Run in a results file, or None after checking that its ConfigError is one line naming the file."""
    try:
        return load_run(path)
    except ConfigError as exc:
        assert_clean_error(exc, path)
        return None


def report_without_rasterizing(run, out) -> None:
    """The whole report with every figure built from the data but not rasterized (2 s a report otherwise)."""
    with mock.patch.object(Figure, "savefig", lambda fig, target, *args, **kwargs: target.write(b"")):
        write_report([run], out)


RESULTS_TEXT = mutated(RESULTS, json_values(JSON_SCALARS), json.dumps)


@settings(max_examples=700, **SETTINGS)
@given(text=RESULTS_TEXT)
def test_malformed_results_meet_only_config_error(tmp_path, text):
    path = tmp_path / "results.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    load_or_clean_error(path)


@settings(max_examples=60, **SETTINGS)
@given(text=RESULTS_TEXT)
def test_what_loads_also_renders(tmp_path, text):
    path = tmp_path / "results.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    run = load_or_clean_error(path)
    if run is not None:
        report_without_rasterizing(run, tmp_path / "report")


@settings(max_examples=500, **SETTINGS)
@given(text=mutated(PLAN, json_values(TOML_SCALARS), toml_document))
def test_malformed_plans_meet_only_config_error(tmp_path, text):
    path = tmp_path / "plan.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        plan = load_plan(str(path))
    except ConfigError as exc:
        assert_clean_error(exc, path)
        return
    assert plan.cases and all(case.lr > 0 and case.batch_size >= 1 for case in plan.cases)


def test_case_schema_matches_the_case_class():
    from suite.cases import FIELDS

    assert set(CASE_FIELDS) <= set(FIELDS) and set(CASE) == set(CASE_FIELDS)


def test_valid_bases_load(tmp_path):
    """The generators start from valid documents, so what breaks them is the mutation."""
    (tmp_path / "r.json").write_text(json.dumps(RESULTS))
    run = load_run(tmp_path / "r.json")
    assert [c.status for c in run.cases] == ["ok", "diverged", "skipped"]
    report_without_rasterizing(run, tmp_path / "report")
    assert "dense-a" in (tmp_path / "report" / "report.md").read_text()
    (tmp_path / "p.toml").write_text(toml_document(PLAN))
    assert len(load_plan(str(tmp_path / "p.toml")).cases) == 4  # base (= matrix dense), conv, two sweep lrs


@pytest.mark.parametrize("field, value, expected", [
    ("lr", "-0.1", "field 'lr' must be > 0, got -0.1"),
    ("depth", "0", "field 'depth' must be an integer >= 1, got 0"),
    ("batch_size", "5000", "field 'batch_size' is 5000, expected at most the digits training split's 1437 samples"),
])
def test_out_of_range_fields_exit_2_naming_file_and_field(tmp_path, capsys, field, value, expected):
    path = tmp_path / "plan.toml"
    path.write_text(toml_document(PLAN))
    assert cli.main(["run", "--plan", str(path), "--set", f"{field}={value}", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(path) in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # refused before anything ran


# Metric values: strings that look like numbers, non-finite and out-of-range numbers, booleans, containers.
METRIC_VALUES = st.sampled_from(["640", "0", "", "nan", "inf", True, False, None, float("inf"), float("-inf"),
                                 float("nan"), 10**400, -(10**400), [], {}]) | st.floats() | st.text(max_size=6)
METRIC_KEYS = sorted({k for b in RESULTS["benchmarks"] for k in b["extra_info"]} - {"case", "case_id", "plan",
                                                                                         "status", "reason"})


@st.composite
def poisoned_metrics(draw) -> str:
    """RESULTS with one metric of one benchmark replaced, in JSON as Python writes it (NaN, Infinity, 1e400)."""
    doc = copy.deepcopy(RESULTS)
    bench = draw(st.sampled_from(doc["benchmarks"]))
    bench["extra_info"][draw(st.sampled_from(METRIC_KEYS))] = draw(METRIC_VALUES)
    return json.dumps(doc)


@settings(max_examples=150, **SETTINGS)
@given(text=poisoned_metrics())
def test_string_and_non_finite_metrics_meet_only_config_error(tmp_path, text):
    from suite.results.compare import compare_runs
    from suite.results.schema import metric_problem

    path = tmp_path / "results.json"
    path.write_text(text)
    run = load_or_clean_error(path)
    if run is not None:  # what loads holds numbers where numbers belong, and compares
        assert all(metric_problem(c.metrics) is None for c in run.cases)
        compare_runs(run, run)


def journal_text() -> str:
    """A valid journal: its header and one line per case of RESULTS."""
    from suite.results.checkpoint import case_record, header_record

    run = load_run_from(RESULTS)
    lines = [header_record("quick", "quick", [], "abc")] + [case_record(c) for c in run.cases]
    return "".join(json.dumps(line) + "\n" for line in lines)


def load_run_from(doc: dict):
    """A Run from a results document (load_run reads files only)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.json"
        path.write_text(json.dumps(doc))
        return load_run(path)


@st.composite
def mutated_journal(draw) -> str:
    """A journal with one line mutated as `mutated` mutates documents, or cut short anywhere, or garbage."""
    lines = journal_text().splitlines(keepends=True)
    kind = draw(st.sampled_from(["line", "line", "line", "metric", "truncate", "garbage"]))
    if kind == "truncate":
        text = "".join(lines)
        return text[: draw(st.integers(0, len(text) - 1))]
    if kind == "garbage":
        return draw(st.text(max_size=60))
    index = draw(st.integers(0, len(lines) - 1))
    record = json.loads(lines[index])
    if kind == "metric" and index > 0:
        record["metrics"][draw(st.text(min_size=1, max_size=8) | st.sampled_from(METRIC_KEYS))] = draw(METRIC_VALUES)
        lines[index] = json.dumps(record) + "\n"
    else:
        lines[index] = draw(mutated(record, json_values(JSON_SCALARS), json.dumps)) + "\n"
    return "".join(lines)


@settings(max_examples=200, **SETTINGS)
@given(text=mutated_journal())
def test_malformed_journals_meet_only_config_error_and_what_loads_writes_a_loadable_results_file(tmp_path, text):
    from suite.plumbing.fileio import write_json_atomic
    from suite.results.checkpoint import read_journal

    path = tmp_path / "cases.jsonl"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        journal = read_journal(path)
    except ConfigError as exc:
        assert_clean_error(exc, path)
        return
    write_json_atomic(tmp_path / "results.json", run_document(list(journal.results.values()), "quick",
                                                              RESULTS["machine_info"], RESULTS["commit_info"]))
    assert len(load_run(tmp_path / "results.json").cases) == len(journal.results)


# Cell values no tradeoff-bench run stores: text, blobs, NULL, non-finite and extreme numbers, broken JSON.
CELLS = st.sampled_from([None, "", "x", "NaN", b"\x00\xff", float("inf"), float("-inf"), 2**63 - 1, -1, 0, 1.5,
                         "{}", "[]", "[1e400]", '{"a": NaN}', '["x"]', '{"model": 1}', "ok", "error"])


@pytest.fixture(scope="module")
def history_files(tmp_path_factory):
    """A valid history database of three runs of two cases, and a results file of the same environment."""
    import numpy as np

    from tests.test_compare import synthetic_case, write_run

    folder, rng = tmp_path_factory.mktemp("history"), np.random.default_rng(11)
    db = folder / "h.sqlite"
    for index in range(3):
        path = write_run(folder / f"{index}.json", [synthetic_case("a", rng), synthetic_case("b", rng)])
        assert cli.main(["history", "add", str(path), "--db", str(db)]) == 0
    return db, folder / "0.json"


@st.composite
def history_mutation(draw):
    """(table, column, row offset, value) for an UPDATE, or a whole-database change."""
    from suite.results.history import COLUMNS

    kind = draw(st.sampled_from(["cell", "cell", "cell", "cell", "drop", "garbage"]))
    table = draw(st.sampled_from(sorted(COLUMNS)))
    if kind == "cell":
        return kind, table, draw(st.sampled_from(COLUMNS[table])), draw(st.integers(0, 8)), draw(CELLS)
    return kind, table, None, None, draw(st.binary(max_size=64))


@settings(max_examples=60, **SETTINGS)
@given(mutation=history_mutation())
def test_malformed_history_databases_meet_only_config_error(tmp_path, capsys, history_files, mutation):
    import shutil
    import sqlite3

    from hypothesis import assume

    template, results = history_files
    db = tmp_path / "h.sqlite"
    shutil.copy(template, db)
    kind, table, column, row, value = mutation
    if kind == "garbage":
        db.write_bytes(value)
    else:
        with sqlite3.connect(db) as conn:
            try:
                if kind == "drop":
                    conn.execute(f"DROP TABLE {table}")
                else:
                    conn.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = "
                                 f"(SELECT rowid FROM {table} LIMIT 1 OFFSET ?)", (value, row))
            except sqlite3.IntegrityError:  # a constraint refuses the value: nothing to test
                assume(False)
    capsys.readouterr()
    for action in (["show"], ["check", str(results)]):
        code = cli.main(["history", *action, "--db", str(db)])
        err = capsys.readouterr().err
        assert code in (0, 1, 2) and "Traceback" not in err
        if code == 2:
            assert err.count("\n") == 1 and str(db) in err, err
