"""The environment levers (suite/levers/environment.py): each reaches the case's own process, a lever that does not
take is the case's error, and the node fingerprint describes the machine, not the levers."""

from __future__ import annotations

import json

import pytest

from suite.cases import Case
from suite.executors import MeasureRequest
from suite.executors.node import measure_here
from suite.levers import availability, environment
from suite.plumbing.errors import ConfigError
from suite.runner import MeasureConfig
from tests.conftest import finished, in_ci, start_bench

TIMING = MeasureConfig(timing_only=True, train_rounds=2, train_warmup_rounds=1, latency_calls=20, latency_warmup=2,
                       infer_rounds=2, compile_seconds=False)
TINY = {"model": "dense", "depth": 1, "width": 16, "epochs": 1}


def require_library(allocator: str) -> None:
    """Skip without the allocator's Debian package (fail under CI, whose .ci/run installs both)."""
    if environment.library_path(allocator) is None:
        library, package = environment.LIBRARIES[allocator]
        reason = f"{library} not installed: apt-get install {package}"
        if in_ci():
            pytest.fail(f"{reason}; CI is set, so the allocator test fails instead of skipping", pytrace=False)
        pytest.skip(reason)


def test_levers_reach_the_case_process():
    """jemalloc is mapped into the child that measured the case, with the binding and inter-op count asked for;
    the parent's fingerprint is kept, so the variant pairs with the base (tcmalloc: the pytest front end's test)."""
    require_library("jemalloc")
    base, _ = measure_here(Case(**TINY), MeasureRequest(TIMING))
    jemalloc, _ = measure_here(Case(**TINY, allocator="jemalloc", omp_bind="close", interop_threads=1),
                               MeasureRequest(TIMING))
    assert [r.status for r in (base, jemalloc)] == ["ok", "ok"]
    assert base.node["process_allocator"] == "glibc"
    assert "isolation_startup_s" in jemalloc.metrics and "isolation_startup_s" not in base.metrics
    assert (jemalloc.node["process_allocator"], jemalloc.node["process_omp_proc_bind"],
            jemalloc.node["process_omp_places"], jemalloc.node["process_interop_threads"]) == \
        ("jemalloc", "close", "cores", 1)
    assert base.node["fingerprint"] == jemalloc.node["fingerprint"]


def test_thread_count_is_the_case_not_the_node():
    """A case that sets threads keeps the machine's fingerprint (it used to get one of its own, never paired)."""
    one, _ = measure_here(Case(**TINY, threads=1), MeasureRequest(TIMING))
    default, _ = measure_here(Case(**TINY), MeasureRequest(TIMING))
    assert one.node["fingerprint"] == default.node["fingerprint"]


def test_lever_that_did_not_take_is_an_error():
    case = Case(**TINY, allocator="jemalloc", interop_threads=2)
    with pytest.raises(ConfigError, match="allocator 'jemalloc' did not reach"):
        environment.check_applied(case, {"allocator": "glibc", "interop_threads": 2})
    with pytest.raises(ConfigError, match="interop_threads 2 did not reach"):
        environment.check_applied(case, {"allocator": "jemalloc", "interop_threads": 4})
    environment.check_applied(case, {"allocator": "jemalloc", "interop_threads": 2})


def test_variables_preload_one_allocator(monkeypatch):
    monkeypatch.setattr(environment, "library_path", lambda name: f"/lib/lib{name}.so")
    parent = {"LD_PRELOAD": "/x/libtcmalloc_minimal.so.4 /x/libother.so"}
    assert environment.variables(Case(**TINY, allocator="jemalloc"), parent) == \
        {"LD_PRELOAD": "/lib/libjemalloc.so /x/libother.so"}
    assert environment.variables(Case(**TINY, omp_bind="spread"), parent) == \
        {"LD_PRELOAD": "/x/libother.so", "OMP_PROC_BIND": "spread", "OMP_PLACES": "cores"}
    assert environment.variables(Case(**TINY), parent) == {}  # no lever: the run's own process and environment


def test_missing_library_is_skipped_with_the_install_command(monkeypatch):
    monkeypatch.setattr(environment, "library_path", lambda name: None)
    assert availability(Case(**TINY, allocator="tcmalloc")) == \
        (False, "allocator tcmalloc needs libtcmalloc_minimal.so.4: apt-get install libtcmalloc-minimal4")


def test_fields_validate_and_name_the_case():
    assert Case(**TINY, allocator="jemalloc", omp_bind="spread", interop_threads=1).id.endswith(
        "-jemalloc-bind-spread-iop1")
    assert Case(**TINY).id.endswith("-s0")
    with pytest.raises(ConfigError, match="unknown allocator 'mimalloc'; valid choices: glibc, jemalloc, tcmalloc"):
        Case(**TINY, allocator="mimalloc")
    with pytest.raises(ConfigError, match="interop_threads' must be an integer >= 1"):
        Case(**TINY, interop_threads=0)


def test_pytest_benchmarks_records_what_reached_the_case_process(tmp_path):
    """The pytest-benchmark front end runs an allocator case in its own process too, and its JSON says what the
    process ran with, beside this machine's fingerprint (the run's own, so the report keeps one group)."""
    require_library("tcmalloc")
    plan = tmp_path / "plan.toml"
    plan.write_text('[base]\nmodel = "dense"\ndepth = 1\nwidth = 8\nepochs = 1\nallocator = "tcmalloc"\n')
    proc = finished(start_bench("--plan", plan, "--timing-only", "--benchmark-json", tmp_path / "b.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "b.json").read_text())
    nodes = [b["extra_info"]["node"] for b in doc["benchmarks"]]
    assert len(nodes) == 2 and all(n["process_allocator"] == "tcmalloc" for n in nodes)  # train and infer
    assert {n["fingerprint"] for n in nodes} == {doc["machine_info"]["tradeoff_bench"]["fingerprint"]}
