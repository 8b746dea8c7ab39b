"""The executors' parts that need no cluster: reservations, the pre-run node check, choices and errors, the
per-case node identity, and compare / report / procedure per fingerprint."""

from __future__ import annotations

import socket
import sys
from types import SimpleNamespace

import pytest

from suite.cases import Case
from suite.executors import MeasureRequest, make_executor
from suite.executors.ray import node_check, plugin_names, probe, reservation
from suite.plumbing.errors import ConfigError
from suite.procedure import procedure_difference
from suite.report.build import build_sections
from suite.results.compare import compare_runs
from suite.results.schema import CaseResult, Run

CPU = Case(model="dense", depth=1, width=16, epochs=1)


@pytest.mark.parametrize("fields, per_node, request_, threads", [
    ({}, 1, {"num_cpus": 8, "num_gpus": 0}, 8),  # every CPU of the node: one measured case per node
    ({"threads": 2}, 1, {"num_cpus": 2, "num_gpus": 0}, 2),
    ({}, 4, {"num_cpus": 2, "num_gpus": 0}, 2),  # packed: a quarter of the node
    ({"device": "cuda"}, 1, {"num_cpus": 1, "num_gpus": 1}, 1),
    ({"device": "cuda"}, 2, {"num_cpus": 1, "num_gpus": 0.5}, 1),
    ({"world_size": 2}, 1, {"num_cpus": 8, "num_gpus": 0}, None),  # the ranks set their own threads
    ({"world_size": 2, "threads": 1}, 1, {"num_cpus": 2, "num_gpus": 0}, None),
    ({"device": "cuda", "world_size": 4}, 1, {"num_cpus": 4, "num_gpus": 4}, None),
])
def test_reservation(fields, per_node, request_, threads):
    assert reservation(CPU.replace(**fields), 8, per_node) == (request_, threads)


def test_node_check_names_a_missing_plugin_and_data_dir(tmp_path):
    assert node_check(["json:dumps"], str(tmp_path)) == {"host": socket.gethostname(), "problems": []}
    problems = node_check(["no_such_plugin_pkg.models:build", "json:no_such_attr"], str(tmp_path / "absent"))
    assert problems["problems"] == [
        "plug-in 'no_such_plugin_pkg.models:build' does not import (ModuleNotFoundError: No module named "
        "'no_such_plugin_pkg')",
        "plug-in 'json:no_such_attr' does not import (AttributeError: module 'json' has no attribute "
        "'no_such_attr')",
        f"data directory {tmp_path / 'absent'} does not exist"]


def test_plugin_names_take_the_package_module_attr_form_only():
    plugin = SimpleNamespace  # plug-in names validate only once the plug-in is installed: plain records here
    cases = [CPU, plugin(model="acme.models:tiny", dataset="digits"), plugin(model="conv", dataset="x.y:data")]
    assert plugin_names(cases) == ["acme.models:tiny", "x.y:data"]


def test_executor_choices_and_options(monkeypatch):
    request = MeasureRequest(None)
    with pytest.raises(ConfigError, match="unknown executor 'dask'; valid choices: local, ray"):
        make_executor("dask", request)
    with pytest.raises(ConfigError, match="--ray-address and --cases-per-node need --executor ray"):
        make_executor("local", request, cases_per_node=2)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ConfigError, match=r"needs Ray, which is not installed: pip install -e '\.\[ray\]'"):
        make_executor("ray", request)


def test_an_unreachable_cluster_is_one_line():
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}: Connection refused"):
            probe(f"127.0.0.1:{port}")


def test_local_executor_records_the_node_and_the_case_threads(monkeypatch):
    """The fingerprint counts the case's own threads: the run's fingerprint for a case that sets none (the
    count in effect), another one for threads=1 where the default is more."""
    import torch

    from suite import runner
    from suite.executors.local import LocalExecutor
    from suite.measure import environment as environment_module
    from suite.measure.environment import environment

    # no matmul ceilings measured
    monkeypatch.setattr(environment_module, "environment_ceilings", lambda fingerprint: {})
    monkeypatch.setattr(runner, "mfu_metrics", lambda *args: {})
    config = runner.MeasureConfig(train_rounds=1, train_warmup_rounds=0, train_spread_rounds=1, latency_calls=5,
                                  latency_warmup=0, infer_rounds=1)
    results = [r for r, _ in LocalExecutor(MeasureRequest(config)).run([CPU.replace(threads=1), CPU], lambda: False)]
    assert [r.status for r in results] == ["ok", "ok"]
    assert {r.node["host"] for r in results} == {socket.gethostname()}
    single, default = (r.node["fingerprint"] for r in results)
    assert default == environment()["fingerprint"]
    assert (single == default) == (torch.get_num_threads() == 1)


def test_packed_runs_are_a_procedure_difference():
    isolated = {"version": 2, "executor": "ray", "front_end": "cli"}
    assert procedure_difference(isolated, {**isolated, "executor": "local"}) is None
    assert procedure_difference(isolated, {**isolated, "cases_per_node": 4}) == \
        "measurement procedures differ (cases_per_node None vs 4)"


def run_of(cases: list[CaseResult], fingerprint: str = "aaaa") -> Run:
    info = {"tradeoff_bench": {"fingerprint": fingerprint, "procedure": {"version": 2}}}
    return Run("r.json", "p", info, {"id": "x"}, "2026-01-01T00:00:00+00:00", cases)


def result(case: Case, fingerprint: str, accuracy: float) -> CaseResult:
    return CaseResult(case.id, case.as_dict(), "ok", "", {"test_accuracy": accuracy, "params": 100},
                      {"accuracy": [0.01]}, node={"fingerprint": fingerprint, "host": f"host-{fingerprint}"})


def test_compare_pairs_a_case_only_with_the_same_fingerprint():
    a, b = CPU, CPU.replace(seed=1)
    baseline = run_of([result(a, "aaaa", 0.9), result(b, "aaaa", 0.9)])
    candidate = run_of([result(a, "aaaa", 0.5), result(b, "bbbb", 0.5)], fingerprint="cccc")
    rows = compare_runs(baseline, candidate).rows
    assert {(r.case_id, r.metric, r.verdict) for r in rows} == {
        (a.id, "test_accuracy", "regressed"), (a.id, "params", "unchanged"), (b.id, "fingerprint", "untested")}
    assert next(r for r in rows if r.case_id == b.id).note == "not compared: measured on fingerprint aaaa vs bbbb"
    with pytest.raises(ConfigError, match="not comparable: environments differ"):  # no fingerprint shared at all
        compare_runs(baseline, run_of([result(a, "bbbb", 0.9)], fingerprint="cccc"))


def test_report_has_one_group_per_fingerprint(tmp_path):
    a, b = CPU, CPU.replace(seed=1)
    run = run_of([result(a, "aaaa", 0.9), result(b, "bbbb", 0.8)])
    titles = [s.title for s in build_sections([run], tmp_path, extra=[])]
    assert titles[:2] == ["Environment", "Fingerprint groups"]
    assert any(t.endswith("(fingerprint aaaa)") for t in titles) and any(t.endswith("(fingerprint bbbb)")
                                                                         for t in titles)
    single = [s.title for s in build_sections([run_of([result(a, "aaaa", 0.9)])], tmp_path, extra=[])]
    assert "Fingerprint groups" not in single


def test_history_check_uses_only_baselines_of_the_same_fingerprint(tmp_path):
    from suite.results.gate import check_run
    from suite.results.history import add_run, open_history, run_digest

    a, b = CPU, CPU.replace(seed=1)
    conn = open_history(tmp_path / "h.sqlite")
    for night in range(3):
        past = run_of([result(a, "aaaa", 0.9), result(b, "aaaa", 0.9)])
        past.datetime = f"2026-01-0{night + 1}T00:00:00+00:00"
        add_run(conn, past, run_digest(past))
    tonight = run_of([result(a, "aaaa", 0.5), result(b, "bbbb", 0.5)])
    comparison = check_run(conn, tonight, run_digest(tonight)).comparison
    assert {r.case_id for r in comparison.rows} == {a.id}  # b was measured elsewhere tonight: no baseline
    assert comparison.only_candidate == [b.id]
    assert next(r.verdict for r in comparison.rows if r.metric == "test_accuracy") == "regressed"
