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
from suite.errors import ConfigError
from suite.plans import load_plan
from suite.report.build import write_report
from suite.results import CASE_FIELDS, CaseResult, load_run, run_document

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
