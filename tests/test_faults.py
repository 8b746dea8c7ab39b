"""Runs that survive faults: SIGKILL and resume, SIGINT/SIGTERM, divergence, out-of-memory, the journal."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import torch

from suite import cli, runner, train
from suite.cases import Case
from suite.commands.run import StopOnSignal
from suite.measure.oom import is_out_of_memory
from suite.plans import load_plan
from suite.results.checkpoint import JOURNAL_NAME, JournalWriter, header_record, read_journal
from suite.results.schema import CaseResult, load_run
from suite.train import SIMULATE_OOM_ENV
from tests.conftest import REPO

# Four small dense cases of about half a second each: slow enough to kill between two of them, and two left to
# run after the second (killed or stopped there, a run still has a case to resume).
FOUR_CASES = """
[base]
model = "dense"
depth = 1
width = 8
epochs = 15
[sweep]
seed = [1, 2, 3]
"""
# The base, a diverging learning rate and a case that the OOM simulation picks by its seed ("-s7").
FAULTY = """
[base]
model = "dense"
depth = 1
width = 8
optimizer = "sgd"
epochs = 2
[sweep]
lr = [1e6]
seed = [7]
"""


def write_plan(tmp_path, text):
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return path


def start_run(*args) -> subprocess.Popen:
    """`tradeoff-bench run ARGS` in the background, single-threaded like the rest of the tests."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "suite.cli", "run", *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_cases(journal, count: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll the journal until it holds `count` complete case lines (after its header)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= count + 1:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError(f"{journal} did not reach {count} cases")


def journal_ids(journal) -> list[str]:
    return [json.loads(line)["case_id"] for line in journal.read_text().splitlines()[1:]]


def results_ids(path) -> Counter:
    """How often each case id appears per benchmark group in a results file."""
    doc = json.loads(path.read_text())
    return Counter((b["extra_info"]["case_id"], b["group"]) for b in doc["benchmarks"])


def test_sigkill_loses_at_most_the_case_in_flight_and_resume_completes(tmp_path, monkeypatch, capsys):
    plan, out = write_plan(tmp_path, FOUR_CASES), tmp_path / "out"
    expected = [case.id for case in load_plan(str(plan)).cases]
    proc = start_run("--plan", plan, "--out", out)
    wait_for_cases(out / JOURNAL_NAME, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    recorded = journal_ids(out / JOURNAL_NAME)
    assert 2 <= len(recorded) < len(expected) and not (out / "results.json").exists()
    with open(out / JOURNAL_NAME, "ab") as journal:  # as if the kill had torn the next append
        journal.write(b'{"case_id": "dense-d1-w8')

    # The kill needed a process of its own; the resume runs here, single-threaded like the killed run (the same
    # environment fingerprint), its output read from capsys.
    capsys.readouterr()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert run_in_process("--resume", "--out", out) == 0, capsys.readouterr().err
    finally:
        torch.set_num_threads(threads)
    stdout = capsys.readouterr().out
    assert f"(resuming: {len(recorded)} already recorded)" in stdout
    assert sum(line.startswith("[") for line in stdout.splitlines()) == len(expected) - len(recorded)
    assert sorted(journal_ids(out / JOURNAL_NAME)) == sorted(expected)
    counts = results_ids(out / "results.json")
    assert set(counts) == {(case_id, group) for case_id in expected for group in ("train", "infer", "accuracy")}
    assert set(counts.values()) == {1}
    run = load_run(out / "results.json")
    assert [c.case_id for c in run.cases] == expected and {c.status for c in run.cases} == {"ok"}


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_after_the_case_in_flight_with_resume_hint(tmp_path, monkeypatch, capsys, signum, code):
    """The signal reaches the run (this process, from itself, as a terminal's Ctrl-C or a scheduler's TERM would)
    while its second case runs: that case finishes and is recorded, no other starts, and the run writes what it
    has and exits 128 + the signal with the resume command."""
    plan, out = write_plan(tmp_path, FOUR_CASES), tmp_path / "out"
    run_case, started = runner.run_case, []

    def signalled_on_the_second_case(case, *args, **kwargs):
        started.append(case.id)
        if len(started) == 2:
            os.kill(os.getpid(), signum)
        return run_case(case, *args, **kwargs)

    monkeypatch.setattr(runner, "run_case", signalled_on_the_second_case)
    assert run_in_process("--plan", plan, "--out", out) == code
    stderr = capsys.readouterr().err
    assert f"resume with: tradeoff-bench run --resume --out {out}" in stderr and "Traceback" not in stderr
    recorded = journal_ids(out / JOURNAL_NAME)
    assert recorded == started and len(recorded) == 2  # the case in flight finished; none started after it
    assert [c.case_id for c in load_run(out / "results.json").cases] == recorded  # every finished case written
    assert f"| {recorded[0]}" in (out / "report.md").read_text()


def test_second_signal_stops_at_once_and_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with StopOnSignal() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.signum == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        stop.allow_hard_stop = False
        os.kill(os.getpid(), signal.SIGINT)  # while writing results: ignored
        assert stop.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


def run_in_process(*args) -> int:
    """The CLI in this process (no interpreter start-up): its exit code."""
    return cli.main(["run", *map(str, args)])


def test_divergence_and_out_of_memory_are_recorded_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    plan, out = write_plan(tmp_path, FAULTY), tmp_path / "out"
    monkeypatch.setenv(SIMULATE_OOM_ENV, "-s7")
    losses = []  # every training-loop loss of the lr 1e6 case, as its step returned it
    step = train.minibatch_step

    def recorded_step(model, optimizer, *args):
        loss = step(model, optimizer, *args)
        if sys._getframe(1).f_code.co_name == "train" and optimizer.param_groups[0]["lr"] == 1e6:
            losses.append(float(loss))
        return loss

    monkeypatch.setattr(train, "minibatch_step", recorded_step)
    assert run_in_process("--plan", plan, "--out", out) == 0
    by_status = {c.status: c for c in load_run(out / "results.json").cases}
    assert sorted(by_status) == ["diverged", "ok", "oom"]
    diverged = by_status["diverged"]
    assert "lr1e+06" in diverged.case_id and diverged.metrics["diverged_step"] >= 1
    assert diverged.metrics["test_accuracy"] is None
    first_bad = next(i for i, loss in enumerate(losses) if not math.isfinite(loss))
    assert first_bad >= 1 and diverged.metrics["diverged_step"] == first_bad + 1  # lr 1e6 blows up after a step
    assert diverged.metrics["last_finite_loss"] == losses[first_bad - 1]  # the loss of the step before, as trained
    oom = by_status["oom"]
    assert oom.case_id.endswith("-s7") and "out of memory at batch size 64 (free after cleanup: " in oom.reason
    assert "can't allocate memory" in oom.reason
    journaled = read_journal(out / JOURNAL_NAME).results[oom.case_id]
    assert journaled.metrics["oom_batch_size"] == 64 and journaled.metrics["free_memory_mb"] > 0
    assert by_status["ok"].metrics["test_accuracy"] > 0.1  # above chance: it trained
    report = (out / "report.md").read_text()
    assert "1 oom" in report and "1 diverged" in report and "out of memory at batch size 64" in report
    assert "[2/3]" in capsys.readouterr().out


def test_out_of_memory_errors_are_recognized():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_torn_last_line_is_dropped_and_cut_before_appending(tmp_path):
    path = tmp_path / JOURNAL_NAME
    header = header_record("p", "p", [], "abc")
    fields = Case(model="dense", depth=1, width=8).as_dict()  # journal lines are read as strictly as results
    first, second = (CaseResult(name, fields, "ok", "", {"params": 5}, {"train": [0.1]}) for name in "ab")
    with JournalWriter(path, header) as writer:
        writer.append(first)
    with open(path, "ab") as handle:
        handle.write(b'{"case_id": "b", "ca')
    journal = read_journal(path)
    assert list(journal.results) == ["a"] and journal.header["fingerprint"] == "abc"
    with JournalWriter(path, header, journal) as writer:
        writer.append(second)
    assert list(read_journal(path).results) == ["a", "b"]
    assert all(json.loads(line) for line in path.read_text().splitlines())


@pytest.mark.parametrize("header, args, message", [
    (("plan", "other-fp"), [], "with environment fingerprint 'other-fp', this run is plan 'plan' with fingerprint"),
    (("quick", None), ["--plan", "PLAN"], "recorded for plan 'quick'"),
    (None, [], "no journal to resume"),
])
def test_resume_refuses_a_journal_of_another_plan_or_machine(tmp_path, capsys, header, args, message):
    plan, out = write_plan(tmp_path, FOUR_CASES), tmp_path / "out"
    if header:
        from suite.measure.environment import machine_info

        fingerprint = header[1] or machine_info()["tradeoff_bench"]["fingerprint"]
        out.mkdir()
        (out / JOURNAL_NAME).write_text(json.dumps(header_record(header[0], str(plan), [], fingerprint)) + "\n")
    args = [str(plan) if a == "PLAN" else a for a in args]
    assert run_in_process("--resume", "--out", out, *args) == 2
    err = capsys.readouterr().err
    assert message in err and str(out / JOURNAL_NAME) in err and err.count("\n") == 1
