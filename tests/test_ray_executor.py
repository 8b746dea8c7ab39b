"""`tradeoff-bench run --executor ray` on a local Ray cluster of two fake nodes (ray.cluster_utils.Cluster, one per
session: the `ray_cluster` fixture in conftest.py).

The second node's workers run with MALLOC_ARENA_MAX=2, an allocator setting the environment fingerprint
includes: the two nodes have different fingerprints. Every Ray connection stays on the loopback address
(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0), without a dashboard, with small object stores, and every process
the cluster started is ended by pid at the end.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from suite import cli
from tests.conftest import run_cli, start_cli
from tests.ray_helpers import not_loopback, ray_pids

pytestmark = [pytest.mark.ray, pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                                   reason="Ray is not installed (pip install -e '.[ray]')")]

PLAN = """
description = "three tiny cases for the Ray executor"
[base]
model = "dense"
depth = 1
width = 16
epochs = 1
dataset = "digits"
threads = 1
[sweep]
model = ["conv"]
optimizer = ["sgd"]
"""
@pytest.fixture(scope="module")
def plan(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("plan") / "four.toml"
    path.write_text(PLAN)
    return path


def journal_cases(out: Path) -> list[dict]:
    """The complete case lines of OUT/cases.jsonl (a line torn by a SIGKILL is left out, as resume does)."""
    lines = (out / "cases.jsonl").read_text().splitlines(keepends=True)[1:]
    return [json.loads(line) for line in lines if line.endswith("\n")]


@pytest.fixture(scope="module")
def both_runs(ray_cluster, plan, tmp_path_factory):
    """The plan run by the local executor, and by the Ray executor on the cluster: that run's driver (a process of
    its own, to be killed) is SIGKILLed once its first case is journaled, then `run --resume` finishes it. The
    local run (while the Ray run measures) and the resume run in this process (a Ray driver connects and
    disconnects like any other). Returns both output folders and the case ids journaled before the kill."""
    out = tmp_path_factory.mktemp("runs")
    proc = start_run(plan, out / "ray", ray_cluster)

    def kill_after_the_first_case():
        wait_for(lambda: (out / "ray" / "cases.jsonl").exists() and journal_cases(out / "ray"), 240, "a first case")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    try:  # the local run (main thread: it installs signal handlers) beside the Ray run, which a thread watches
        with ThreadPoolExecutor(1) as pool:
            killed = pool.submit(kill_after_the_first_case)
            assert cli.main(["run", "--plan", str(plan), "--out", str(out / "local")]) == 0
            killed.result()
    finally:
        proc.kill()
    before = {c["case_id"] for c in journal_cases(out / "ray")}
    assert cli.main(["run", "--resume", "--out", str(out / "ray"), "--executor", "ray",
                     "--ray-address", ray_cluster]) == 0
    return out / "local", out / "ray", before


def test_driver_killed_then_resume_runs_every_case_once(both_runs):
    """SIGKILL of the driver while cases run, then --resume with the Ray executor: each case exactly once."""
    _, out, before = both_runs
    assert 1 <= len(before) < 3
    ids = [c["case_id"] for c in journal_cases(out)]
    assert len(ids) == len(set(ids)) == 3 and before < set(ids)
    assert len(json.loads((out / "results.json").read_text())["benchmarks"]) == 9


def test_ray_gives_the_local_executors_figures(both_runs):
    """Same case ids, statuses, parameter counts and (on CPU, with the same threads) bit-identical accuracies."""
    local, ray_out = (json.loads((d / "results.json").read_text()) for d in both_runs[:2])

    def figures(doc):
        return {b["extra_info"]["case_id"]: (b["extra_info"]["status"], b["extra_info"].get("params"),
                                             b["extra_info"].get("test_accuracy"))
                for b in doc["benchmarks"] if b["group"] in ("infer", "accuracy")}

    assert len({case_id for case_id in figures(local)}) == 3
    assert figures(ray_out) == figures(local)
    assert ray_out["machine_info"]["tradeoff_bench"]["procedure"]["executor"] == "ray"


def test_two_fingerprints_are_two_groups_and_never_compared(both_runs, tmp_path):
    """Cases on the second node carry its fingerprint: the report shows two groups, compare pairs none of
    them with the local run's cases (measured with the head's fingerprint)."""
    local, ray_out, _ = both_runs
    nodes = [c["node"] for c in journal_cases(ray_out)]
    assert len({n["fingerprint"] for n in nodes}) == 2  # two fake nodes, one CPU each: both took cases
    local_fp = {c["node"]["fingerprint"] for c in journal_cases(local)}
    assert len(local_fp) == 1 and local_fp < {n["fingerprint"] for n in nodes}
    report = (ray_out / "report.md").read_text()
    assert "Fingerprint groups" in report and report.count("(fingerprint ") >= 2
    proc = run_cli("compare", local / "results.json", ray_out / "results.json", "--markdown", tmp_path / "c.md")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 1: a same-fingerprint timing moved on a busy box
    table = (tmp_path / "c.md").read_text()
    other = {c["case_id"] for c in journal_cases(ray_out) if c["node"]["fingerprint"] not in local_fp}
    rows = [line for line in table.splitlines() if line.split("|")[1:2] and line.split("|")[1].strip() in other]
    assert other and rows and all("not compared: measured on fingerprint" in line for line in rows)


def start_run(plan, out, address, *extra) -> subprocess.Popen:
    return start_cli("run", "--plan", plan, "--out", out, "--executor", "ray", "--ray-address", address, *extra)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def case_workers(case_id: str) -> list[int]:
    """Pids of the Ray workers running `case_id` now (their title is "ray::tradeoff-bench CASE_ID")."""
    return ray_pids(f"ray::tradeoff-bench {case_id}")


def test_a_killed_worker_is_retried_once_then_an_error(ray_cluster, plan, tmp_path):
    """The worker of one case is killed twice (error, with Ray's reason), of another once (retried, ok);
    the other cases finish and every case is journaled once."""
    out = tmp_path / "out"
    proc = start_run(plan, out, ray_cluster)
    twice, once = "conv-d1-w16-adam-lr0.001-constant-digits-cpu-b64-e1-s0-t1", \
        "dense-d1-w16-sgd-lr0.05-constant-digits-cpu-b64-e1-s0-t1"
    kills = {twice: 2, once: 1}
    try:
        while any(kills.values()) and proc.poll() is None:
            for case_id in [c for c, left in kills.items() if left]:
                for pid in case_workers(case_id)[:1]:
                    assert not_loopback([pid, proc.pid]) == []  # a worker measuring a case, and the driver
                    os.kill(pid, signal.SIGKILL)
                    kills[case_id] -= 1
                    wait_for(lambda p=pid: not Path(f"/proc/{p}").exists(), 30, "the killed worker to go")
            time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert not any(kills.values()), f"cases finished before their workers could be killed: {kills}"
    assert proc.returncode == 1, stderr  # one case ended in error
    cases = journal_cases(out)
    assert sorted(c["case_id"] for c in cases) == sorted({c["case_id"] for c in cases}) and len(cases) == 3
    status = {c["case_id"]: (c["status"], c["reason"]) for c in cases}
    assert status[twice][0] == "error" and "tried 2 times" in status[twice][1], status[twice]
    assert all(s == "ok" for case_id, (s, _) in status.items() if case_id != twice), status
