"""End-to-end: the real `tradeoff-bench` command in a subprocess where the process itself is tested (a real exit code
and stderr), its `main` in this process where a test reads only the answer and the files written."""

import json

import pytest

from suite.cli import main
from suite.measure.devices import fingerprint
from tests.conftest import run_cli


def test_run_writes_results_and_report(cli_run):
    out, proc = cli_run
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 3 and all("  ok  " in line and "samples/s" in line for line in lines[:2])
    assert "  skipped  " in lines[2] and "MPS is not available on this machine" in lines[2]
    doc = json.loads((out / "results.json").read_text())
    case_ids = {b["extra_info"]["case_id"] for b in doc["benchmarks"]}
    assert case_ids == {"dense-d1-w16-adam-lr0.001-constant-digits-cpu-b64-e2-s0",
                        "conv-d1-w16-adam-lr0.001-constant-digits-cpu-b64-e2-s0"}
    env = doc["machine_info"]["tradeoff_bench"]
    assert env["fingerprint"] == fingerprint(env)  # the hash of the parts the block records
    report = (out / "report.md").read_text()
    for case_id in case_ids:
        assert f"| {case_id}" in report


def test_every_case_names_its_ceiling_and_the_run_lists_every_ceiling_used(tiny_plan, tmp_path, capsys):
    """A bf16 plan at one thread: each case's MFU is against the bf16 single-thread ceiling, and results.json
    lists that ceiling (not only the default-thread fp32 one the environment block starts with). In this process:
    the test reads only the files written."""
    out = tmp_path / "bf16"
    code = main(["run", "--plan", str(tiny_plan), "--out", str(out), "--set", "epochs=1", "--set", "precision=bf16",
                 "--set", "threads=1"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads((out / "results.json").read_text())
    trains = [b["extra_info"] for b in doc["benchmarks"] if b["group"] == "train"]
    assert len(trains) == 2 and {e["mfu_ceiling_key"] for e in trains} == {"cpu-bf16-t1"}
    ceilings = doc["machine_info"]["tradeoff_bench"]["compute_ceilings"]
    assert ceilings["cpu-bf16-t1"]["flops_per_s"] == pytest.approx(trains[0]["mfu_ceiling_gflops"] * 1e9)


def test_run_exits_1_when_a_case_ended_in_error(tiny_plan, tmp_path, monkeypatch, capsys):
    """Everything is written first; the last line counts the errors."""
    from suite import runner
    from suite.results.schema import CaseResult

    def failing(case, *args, **kwargs):
        return CaseResult(case.id, case.as_dict(), "error", "RuntimeError: simulated")

    monkeypatch.setattr(runner, "run_case", failing)
    assert main(["run", "--plan", str(tiny_plan), "--out", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tradeoff-bench: 2 of 2 cases ended in error")
    doc = json.loads((tmp_path / "e" / "results.json").read_text())
    assert {r["status"] for r in doc["tradeoff_bench"]["not_measured"]} == {"error"}


def test_report_command_renders_a_results_file(cli_run, tmp_path):
    out, run = cli_run
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()  # the answers, then every file written
    assert lines[-1] == (f"wrote {out / 'results.json'}, {out / 'report.md'}, {out / 'index.html'} "
                         f"and the plots in {out / 'plots'}/")
    assert [line.split(" within ")[0] for line in lines[-4:-1]] == [
        "The configuration with the highest training throughput", "The configuration with the lowest batch-1 latency",
        "The configuration with the smallest model"]
    assert main(["report", str(out / "results.json"), "--out", str(tmp_path / "b")]) == 0  # in process
    assert "| dense-d1-w16" in (tmp_path / "b" / "report.md").read_text()


def test_list_names_every_registry(capsys):
    assert main(["list"]) == 0  # in process
    printed = capsys.readouterr().out
    for word in ("fields:", "interop_threads", "seed-cnn", "nesterov", "cosine", "fashion-mnist", "xla", "quick"):
        assert word in printed


@pytest.mark.parametrize("args, message", [
    (["run", "--plan", "nope"], "unknown plan 'nope'; valid plans:"),
    (["run", "--set", "model=mlp"], "unknown model 'mlp'; valid choices: dense, conv, seed-cnn"),
    (["run", "--set", "optimizer=lion"], "unknown optimizer 'lion'; valid choices: gd, sgd"),
    (["run", "--set", "schedule=linear"], "unknown schedule 'linear'; valid choices: constant"),
    (["run", "--set", "dataset=cifar"], "unknown dataset 'cifar'; valid choices: digits, mnist"),
    (["run", "--set", "device=tpu"], "unknown device 'tpu'; valid choices: cpu, cuda, mps, xla"),
    (["run", "--set", "layers=3"], "unknown case field 'layers'; valid fields: model"),
    (["run", "--set", "dataset=mnist", "--data-dir", "/nonexistent-dir"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    """In this process (the command's own exit code and stderr: next test)."""
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_malformed_plan_file_and_corrupt_data_dir(tmp_path, capsys):
    """The real command: exit 2 and one line on stderr."""
    plan = tmp_path / "broken.toml"
    plan.write_text("[base]\nmodel = 'conv'\n[matrix]\ndepth = 2\n")
    proc = run_cli("run", "--plan", plan, "--out", tmp_path / "out")
    assert proc.returncode == 2 and "depth must be a non-empty list" in proc.stderr and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()
    data = tmp_path / "data"
    data.mkdir()
    (data / "t10k-images-idx3-ubyte.gz").write_bytes(b"garbage")
    (data / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    assert main(["run", "--set", "dataset=mnist", "--data-dir", str(data), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot read IDX file" in err and err.count("\n") == 1
