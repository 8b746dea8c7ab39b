"""End-to-end: `pytest benchmarks --benchmark-json` on a tiny plan, read back by pytest-benchmark and the suite."""

import json
import subprocess
import sys
from collections import Counter

from suite.measure.devices import fingerprint
from suite.results.schema import load_run
from tests.conftest import REPO, finished

METRICS = {
    "train": ["train_samples_per_s", "train_samples_per_s_min", "train_samples_per_s_max",
              "train_samples_per_s_iqr", "train_samples_per_s_rounds", "train_e2e_samples_per_s"],
    "infer": ["infer_latency_ms_p50", "infer_latency_ms_p90", "infer_latency_ms_p99", "infer_latency_ms_max",
              "infer_latency_ms_iqr", "infer_latency_samples",
              "infer_samples_per_s", "params", "flops_per_sample", "train_flops_per_sample"],
    "accuracy": ["test_accuracy", "test_loss", "train_seconds", "history"],
}


def test_benchmark_json_holds_every_metric(bench_run, cli_run, tmp_path):
    out, proc = bench_run
    assert proc.returncode == 0, proc.stdout[-2000:]
    doc = json.loads(out.read_text())
    assert len(doc["benchmarks"]) == 2 * 3
    assert Counter(b["extra_info"]["case"]["model"] for b in doc["benchmarks"]) == {"dense": 3, "conv": 3}
    for bench in doc["benchmarks"]:
        extra = bench["extra_info"]
        assert {"case", "case_id", "plan", "status"} <= set(extra)
        assert bench["param"] == extra["case_id"]
        assert set(METRICS[bench["group"]]) <= set(extra), bench["group"]
        assert bench["stats"]["rounds"] == len(bench["stats"]["data"]) > 0
    assert doc["machine_info"]["tradeoff_bench"]["torch"].startswith("2.")
    compare = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(out)],
                             capture_output=True, text=True, timeout=120)
    assert compare.returncode == 0 and "test_train_throughput[dense-d1-w16" in compare.stdout
    run = {c.case_id: c for c in load_run(out).cases}
    measured = [c for c in run.values() if c.status == "ok"]
    assert len(run) == 3 and len(measured) == 2
    assert all(set(sum(METRICS.values(), [])) <= set(c.metrics) for c in measured)
    assert all(c.metrics["infer_latency_samples"] == 1000 == len(c.samples["infer"]) for c in measured)
    same_procedure_through_both_front_ends(cli_run[0] / "results.json", out, tmp_path)


def same_procedure_through_both_front_ends(cli_json, pytest_json, tmp_path):
    """The CLI records the same procedure as pytest benchmarks (front end aside), so the two compare; a file
    whose procedure differs is refused with exit 2 naming the setting."""
    blocks = [json.loads(p.read_text())["machine_info"]["tradeoff_bench"]["procedure"]
              for p in (cli_json, pytest_json)]
    assert (blocks[0].pop("front_end"), blocks[1].pop("front_end")) == ("cli", "pytest") and blocks[0] == blocks[1]
    assert blocks[0]["train_spread_rounds"] == 20 and blocks[0]["gc"] == "enabled"
    compare = [sys.executable, "-m", "suite.cli", "compare", str(cli_json)]
    compared = subprocess.run([*compare, str(pytest_json)], cwd=REPO, capture_output=True, text=True)
    assert compared.returncode in (0, 1), compared.stderr  # timings of two processes may differ: 1 is a verdict
    rows = {line.split("|")[1].strip() for line in compared.stdout.splitlines() if line.startswith("| ")} - {"case"}
    measured = {c.case_id for c in load_run(pytest_json).cases if c.status == "ok"}
    assert rows == measured  # every measured case compared, none refused
    doc = json.loads(pytest_json.read_text())
    doc["machine_info"]["tradeoff_bench"]["procedure"]["latency_calls"] = 100
    other = tmp_path / "other-procedure.json"
    other.write_text(json.dumps(doc))
    refused = subprocess.run([*compare, str(other)], cwd=REPO, capture_output=True, text=True)
    assert refused.returncode == 2 and "latency_calls 1000 vs 100" in refused.stderr


def test_only_the_plans_case_tests_are_collected():
    pipes = {"cwd": REPO, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    plan = subprocess.Popen([sys.executable, "-m", "pytest", "benchmarks", "--plan", "quick", "--collect-only", "-q",
                             "-p", "no:cacheprovider"], **pipes)
    selfchecks = subprocess.Popen([sys.executable, "-m", "pytest", "benchmarks/selfchecks", "--collect-only", "-q",
                                   "-p", "no:cacheprovider"], **pipes)  # both collections at once
    proc = finished(plan, timeout=120)
    tests = [line for line in proc.stdout.splitlines() if "::" in line]
    assert proc.returncode == 0 and len(tests) == 8 * 3
    assert all(line.startswith("benchmarks/test_cases.py::") for line in tests)
    stdout = finished(selfchecks, timeout=120).stdout
    assert "test_ceiling.py::" in stdout and "test_harness_overhead.py::" in stdout


def test_absent_device_is_skipped_and_recorded(bench_run):
    out, proc = bench_run
    assert proc.returncode == 0 and "6 passed, 3 skipped" in proc.stdout, proc.stdout[-2000:]
    assert "MPS is not available on this machine" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["tradeoff_bench"]["not_measured"] == [{
        "case_id": "dense-d1-w16-adam-lr0.001-constant-digits-mps-b64-e2-s0",
        "case": doc["tradeoff_bench"]["not_measured"][0]["case"], "status": "skipped",
        "reason": "MPS is not available on this machine"}]
    statuses = {(c.case_id.split("-")[0], c.case_id.split("-")[7]): c.status for c in load_run(out).cases}
    assert statuses == {("dense", "cpu"): "ok", ("conv", "cpu"): "ok", ("dense", "mps"): "skipped"}


def test_a_shard_whose_cases_are_all_skipped_still_writes_its_part(tmp_path):
    plan = tmp_path / "absent.toml"
    plan.write_text('[base]\nmodel = "dense"\ndepth = 1\nwidth = 8\nepochs = 1\ndevice = "mps"\n')
    out = tmp_path / "part-1.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks/test_cases.py", "--plan", str(plan), "--shard", "1/1", "-p",
         "no:cacheprovider", "--benchmark-json", str(out), "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "3 skipped" in proc.stdout, proc.stdout[-2000:]
    doc = json.loads(out.read_text())
    assert doc["benchmarks"] == [] and doc["tradeoff_bench"]["shard"] == "1/1"
    assert [r["status"] for r in doc["tradeoff_bench"]["not_measured"]] == ["skipped"]
    env = doc["machine_info"]["tradeoff_bench"]
    assert env["fingerprint"] == fingerprint(env)  # the hash of the parts the block records
    assert [c.status for c in load_run(out).cases] == ["skipped"]
