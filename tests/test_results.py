import json
import re

import pytest

from suite.plumbing.errors import ConfigError
from suite.plumbing.fileio import write_json_atomic
from suite.results.schema import CaseResult, load_run, run_document

CASE = {"model": "dense", "depth": 1, "width": 8, "shared": False, "optimizer": "adam", "lr": 0.001,
        "schedule": "constant", "weight_decay": 0.0, "batch_size": 64, "epochs": 1, "dataset": "digits",
        "device": "cpu", "seed": 0}  # load_run requires every Case field


def sample_results():
    ok = CaseResult("a", CASE, "ok", "", {"train_samples_per_s": 10.0, "params": 5, "test_accuracy": 0.9,
                                          "history": [{"epoch": 1}]},
                    {"train": [0.1, 0.2], "infer": [0.01], "accuracy": [0.5]})
    skipped = CaseResult("b", CASE, "skipped", "CUDA is not available on this machine")
    return [ok, skipped]


def test_round_trip_keeps_every_case_and_metric(tmp_path):
    doc = run_document(sample_results(), "quick", {"node": "x"}, {"id": "abc"})
    assert [b["group"] for b in doc["benchmarks"]] == ["train", "infer", "accuracy"]
    assert doc["benchmarks"][0]["stats"]["data"] == [0.1, 0.2]
    assert doc["benchmarks"][0]["stats"]["median"] == pytest.approx(0.15)
    assert doc["benchmarks"][1]["extra_info"]["params"] == 5
    assert "params" not in doc["benchmarks"][0]["extra_info"]
    write_json_atomic(tmp_path / "r.json", doc)
    run = load_run(tmp_path / "r.json")
    assert run.plan == "quick" and [c.case_id for c in run.cases] == ["a", "b"]
    rows = {r["case_id"]: r for r in run.rows()}
    assert rows["a"]["train_samples_per_s"] == 10.0 and rows["a"]["test_accuracy"] == 0.9
    assert rows["b"]["status"] == "skipped" and "CUDA" in rows["b"]["reason"]
    assert list(tmp_path.iterdir()) == [tmp_path / "r.json"]  # no temporary file left


@pytest.mark.parametrize("text, message", [
    ('{"benchmarks": [', "not valid JSON (truncated?)"),
    ('[1, 2]', "no 'benchmarks' list"),
    ('{"benchmarks": [{"group": "train", "extra_info": {}}]}', "extra_info.case_id is missing"),
    ('{"benchmarks": [{"group": "gpu", "extra_info": {"case_id": "a"}, "stats": {}}]}', "group 'gpu'"),
    ('{"benchmarks": [], "tradeoff_bench": {"schema_version": 99}}', "schema_version 99"),
    ('{"benchmarks": [{"group": "train", "extra_info": {"case_id": "a", "case": {}}, "stats": {"data": ["x"]}}]}',
     "stats.data must hold numbers"),
])
def test_malformed_results_name_file_and_problem(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load_run(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_non_finite_numbers_are_refused_when_writing(tmp_path):
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "r.json", {"x": float("nan")})
    assert not (tmp_path / "r.json").exists() and not list(tmp_path.iterdir())  # no temporary file left
    write_json_atomic(tmp_path / "r.json", {"x": 1.5, "n": [1, 2]})
    assert json.loads((tmp_path / "r.json").read_text()) == {"x": 1.5, "n": [1, 2]}


def test_a_metric_name_holding_a_newline_gives_a_one_line_problem():
    """Found by the journal fuzzer: a metric named "\\n" broke the one-line error in two."""
    from suite.results.schema import metric_problem

    problem = metric_problem({"\n": "x"})
    assert problem == "'\\n' must be a finite number or null, got 'x'"
    assert metric_problem({"history": [{"a\nb": "x"}]}) == "history[0].'a\\nb' must be a finite number or null, got 'x'"


def test_schema_6_is_written_and_schemas_5_to_3_still_load_with_their_noise_flags(tmp_path):
    results = sample_results()
    results[0].metrics |= {"train_samples_per_s_iqr": 2.0, "infer_latency_ms_p50": 1.0, "infer_latency_ms_iqr": 0.05}
    doc = run_document(results, "quick", {"node": "x"}, {"id": "abc"})
    assert doc["tradeoff_bench"]["schema_version"] == 6
    for version in (5, 4, 3):
        doc["tradeoff_bench"]["schema_version"] = version
        write_json_atomic(tmp_path / f"r{version}.json", doc)
        run = load_run(tmp_path / f"r{version}.json")
        assert [c.case_id for c in run.cases] == ["a", "b"]
        # no flags stored before 6: taken once from the stored IQR over the median (20% and 5%)
        flags = {k: v for k, v in run.cases[0].metrics.items() if k.endswith("_noisy")}
        assert flags == {"train_samples_per_s_noisy": True, "infer_latency_ms_p50_noisy": False}
