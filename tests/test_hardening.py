"""What a careless or hostile user broke, and that nothing recorded is lost when they do.

Each test drives the real CLI into one fault (two runs into one directory, a full or read-only disk, a poisoned
journal or results file, a foreign database, a bogus environment) and checks the exit code, that stderr is one
line without a traceback, and that every case recorded before the fault is still in the journal or results.
"""

from __future__ import annotations

import errno
import gzip
import html
import json
import os
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

import suite.runner
from suite import cli
from suite.cases import FIELDS
from suite.plans import count_cases, expand_plan
from suite.plumbing.errors import ConfigError
from suite.plumbing.fileio import atomic_file
from suite.results.checkpoint import JOURNAL_NAME, header_record, read_journal
from suite.results.schema import load_run, run_document
from suite.results.shard import parse_shard
from tests.conftest import REPO
from tests.test_compare import synthetic_case, write_run
from tests.test_faults import journal_ids, results_ids, start_run, wait_for_cases
from tests.test_hostile_input import RESULTS

# One case of about a quarter of a second (digits, dense, 2 epochs); a second one beside it.
ONE_CASE = """
[base]
model = "dense"
depth = 1
width = 8
epochs = 2
"""
TWO_CASES = ONE_CASE + "[sweep]\nseed = [1]\n"


def one_line_error(err: str, *needles: str) -> None:
    """stderr is exactly one `tradeoff-bench: error:` line, without a traceback, holding every needle."""
    assert err.count("\n") == 1 and err.startswith("tradeoff-bench: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


def run(*args) -> int:
    """`tradeoff-bench ARGS` in this process: its exit code."""
    return cli.main([str(a) for a in args])


def plan_file(tmp_path, text: str, name: str = "plan.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def results(tmp_path) -> Path:
    """A small valid results file (three cases: ok, diverged, skipped)."""
    path = tmp_path / "results.json"
    path.write_text(json.dumps(RESULTS))
    return path


# 1. Two runs into one --out; a second run without --resume ------------------------------------------------

def test_a_second_run_into_the_same_out_is_refused_and_the_first_finishes_intact(tmp_path, capsys):
    """The second run (fresh or --resume) is refused naming the first's pid, the first finishes with every case
    once, and a third run without --resume moves the journal aside instead of overwriting it."""
    plan, out = plan_file(tmp_path, TWO_CASES), tmp_path / "out"
    out.mkdir()
    (out / ".lock").write_text("999999\n")  # left by a run that died: the kernel's lock is gone with it
    first = start_run("--plan", plan, "--out", out)
    wait_for_cases(out / JOURNAL_NAME, 1, first)
    first.send_signal(signal.SIGSTOP)  # hold it mid-run, its lock held, whatever the machine's speed
    try:
        for extra in ([], ["--resume"]):  # a fresh run, and a resume of the same journal
            assert run("run", "--plan", plan, "--out", out, *extra) == 2
            one_line_error(capsys.readouterr().err, f"another run (pid {first.pid}) is writing into this directory")
    finally:
        first.send_signal(signal.SIGCONT)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    expected = journal_ids(out / JOURNAL_NAME)
    assert len(expected) == 2 and set(results_ids(out / "results.json").values()) == {1}

    # Running again without --resume (the README's first command, twice) keeps the old journal beside the new.
    assert run("run", "--plan", plan_file(tmp_path, ONE_CASE, "one.toml"), "--out", out) == 0
    moved = list(out.glob("cases.*.jsonl"))
    assert len(moved) == 1 and journal_ids(moved[0]) == expected
    assert f"moved the previous journal to {moved[0]}" in capsys.readouterr().out
    assert len(journal_ids(out / JOURNAL_NAME)) == 1 and len(load_run(out / "results.json").cases) == 1


# 2. Non-finite case fields; a result JSON cannot hold -------------------------------------------------------

@pytest.mark.parametrize("pair", ["lr=inf", "lr=1e999", "weight_decay=nan", "target_accuracy=-inf"])
def test_non_finite_float_fields_are_refused_before_anything_runs(tmp_path, capsys, pair):
    out = tmp_path / "out"
    assert run("run", "--plan", plan_file(tmp_path, ONE_CASE), "--set", pair, "--out", out) == 2
    one_line_error(capsys.readouterr().err, f"field '{pair.split('=')[0]}' must be a finite number")
    assert not out.exists()


def test_a_result_json_cannot_hold_fails_its_case_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    """The first case measures an infinite throughput: recorded as its error, and the run goes on. (Item 14 in
    the same run: a SIGINT during the last case leaves nothing to resume, so no resume hint; the exit code is 1
    for the case in error.)"""
    measure = suite.runner.run_case

    def poisoned(case, *args, **kwargs):
        if case.seed == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the last case runs
        result = measure(case, *args, **kwargs)
        if case.seed == 0:
            result.metrics["train_samples_per_s"] = float("inf")
        return result

    monkeypatch.setattr(suite.runner, "run_case", poisoned)
    out = tmp_path / "out"
    assert run("run", "--plan", plan_file(tmp_path, TWO_CASES), "--out", out) == 1  # a case ended in error
    err = capsys.readouterr().err
    assert "SIGINT arrived during the last case: every case is recorded, nothing to resume" in err
    assert err.strip().splitlines()[-1].startswith("tradeoff-bench: 1 of 2 cases ended in error")
    assert "resume with" not in err and "Traceback" not in err
    by_seed = {c.case["seed"]: c for c in load_run(out / "results.json").cases}
    assert by_seed[0].status == "error" and by_seed[0].reason == (
        "result could not be journaled: metrics.train_samples_per_s must be a finite number or null, got inf")
    assert by_seed[1].status == "ok" and by_seed[1].metrics["params"] == 8 * 64 + 8 + 8 * 8 + 8 + 8 * 10 + 10
    assert [r.status for r in read_journal(out / JOURNAL_NAME).results.values()] == ["error", "ok"]  # resumable


# 3. A full disk during a journal append --------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (we run as root in CI); None where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(bytes(1 << 16))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_disk_full_during_an_append_keeps_every_recorded_case_and_resume_completes(tmp_path, small_disk,
                                                                                   monkeypatch, capsys):
    """A real full filesystem: the second case finishes on a tmpfs that has just filled up."""
    if small_disk is None:
        pytest.skip("cannot mount a tmpfs here; the next test simulates ENOSPC at the journal's write instead")
    out, measure, filler = small_disk / "out", suite.runner.run_case, []

    def fills_the_disk(case, *args, **kwargs):
        result = measure(case, *args, **kwargs)
        if case.seed == 1:
            filler.append(fill(small_disk))
        return result

    monkeypatch.setattr(suite.runner, "run_case", fills_the_disk)
    assert run("run", "--plan", plan_file(tmp_path, TWO_CASES), "--out", out) == 2
    one_line_error(capsys.readouterr().err, "cannot record case", "No space left on device", "results not written",
                   f"1 case(s) are kept in {out / JOURNAL_NAME};",
                   f"finish with: tradeoff-bench run --resume --out {out}")
    recorded = journal_ids(out / JOURNAL_NAME)
    assert len(recorded) == 1 and recorded[0].endswith("-s0")
    filler[0].unlink()  # space again
    monkeypatch.undo()
    assert run("run", "--resume", "--out", out) == 0
    ids = journal_ids(out / JOURNAL_NAME)
    assert len(ids) == len(set(ids)) == 2 and ids[0] == recorded[0]
    assert sorted(c.case_id for c in load_run(out / "results.json").cases) == sorted(ids)


def test_a_failed_append_is_cut_back_and_results_keep_the_recorded_cases(tmp_path, monkeypatch, capsys):
    """ENOSPC at the journal's fsync (where a full disk often shows first): the line is cut off, and results.json
    is still written for the case recorded before it (resuming is the test above)."""
    import suite.results.checkpoint as checkpoint

    real_fsync, calls = os.fsync, {"journal": 0}

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(JOURNAL_NAME):
            calls["journal"] += 1
            if calls["journal"] == 3:  # the header, the first case, then the second case's line
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(checkpoint.os, "fsync", fsync)
    out = tmp_path / "out"
    assert run("run", "--plan", plan_file(tmp_path, TWO_CASES), "--out", out) == 2
    one_line_error(capsys.readouterr().err, "cannot record case", "No space left on device",
                   f"1 case(s) are kept in {out / JOURNAL_NAME} and {out / 'results.json'}")
    assert (out / JOURNAL_NAME).read_bytes().endswith(b"}\n")  # no torn line left behind
    recorded = journal_ids(out / JOURNAL_NAME)
    assert len(recorded) == 1 and [c.case_id for c in load_run(out / "results.json").cases] == recorded


# 4. Atomic outputs ------------------------------------------------------------------------------------------

def test_a_report_that_fails_midway_leaves_the_previous_files_whole(tmp_path, monkeypatch, capsys):
    out = tmp_path / "report"
    rng = np.random.default_rng(7)
    path = write_run(tmp_path / "r.json", [synthetic_case("a", rng), synthetic_case("b", rng, train_scale=1.2)])
    monkeypatch.setattr(Figure, "savefig", lambda fig, target, *args, **kwargs: target.write(b"whole image"))
    assert run("report", path, "--out", out) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert {p.suffix for p in before} == {".md", ".html", ".png", ".svg", ".json"}  # .json: .report-sources.json

    def half_then_full(fig, target, *args, **kwargs):
        target.write(b"half an im")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Figure, "savefig", half_then_full)
    assert run("report", path, "--out", out) == 2
    one_line_error(capsys.readouterr().err, "cannot write (No space left on device)")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # no torn file, no temporary


def test_atomic_file_replaces_in_one_step_or_not_at_all(tmp_path):
    target = tmp_path / "compare.md"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write("new, half")
        raise RuntimeError("killed midway")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["compare.md"]
    with atomic_file(target) as handle:
        handle.write("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["compare.md"]


# 5. Journal lines validated as strictly as results files ----------------------------------------------------

@pytest.mark.parametrize("key, raw, message", [
    ("case", "{}", "line 2: field.case.model must be a string"),
    ("metrics", '{"test_accuracy": NaN}', "line 2 is not valid JSON (NaN is not a number JSON allows)"),
    ("metrics", '{"params": 1e400}', "line 2 is not valid JSON (number '1e400' is out of range)"),
    ("metrics", '{"params": "682"}', "line 2: case 'dense-a': field metrics.params must be a finite number or null"),
    ("samples", '{"train": [-1e999]}', "line 2 is not valid JSON (number '-1e999' is out of range)"),
])
def test_a_poisoned_journal_line_is_refused_and_results_stay(tmp_path, capsys, key, raw, message):
    out = tmp_path / "out"
    out.mkdir()
    line = {"case_id": "dense-a", "case": RESULTS["benchmarks"][0]["extra_info"]["case"], "status": "ok",
            "reason": "", "metrics": {"params": 682}, "samples": {"train": [0.001]}, key: "RAW"}
    header = json.dumps(header_record("quick", "quick", [], "abc"))
    (out / JOURNAL_NAME).write_text(header + "\n" + json.dumps(line).replace('"RAW"', raw) + "\n")
    (out / "results.json").write_text(json.dumps(RESULTS))
    assert run("run", "--resume", "--out", out) == 2
    one_line_error(capsys.readouterr().err, str(out / JOURNAL_NAME), message)
    assert json.loads((out / "results.json").read_text()) == RESULTS


# 6. Metrics of the wrong type ------------------------------------------------------------------------------

def test_string_metrics_are_refused_by_compare_check_and_report(tmp_path, capsys):
    rng = np.random.default_rng(0)
    base = write_run(tmp_path / "base.json", [synthetic_case("a", rng)])
    doc = json.loads(write_run(tmp_path / "cand.json", [synthetic_case("a", rng)]).read_text())
    for bench in doc["benchmarks"]:  # 1/100 of the throughput, accuracy 0, 1000x the parameters, as strings
        extra = bench["extra_info"]
        for key, value in {"train_samples_per_s": "640", "test_accuracy": "0", "params": "1000000"}.items():
            if key in extra:
                extra[key] = value
    cand = tmp_path / "cand.json"
    cand.write_text(json.dumps(doc))
    db = tmp_path / "h.sqlite"
    assert run("history", "add", base, "--db", db) == 0
    capsys.readouterr()
    for args in (["compare", base, cand], ["history", "check", cand, "--db", db], ["report", cand, "--out", tmp_path]):
        assert run(*args) == 2
        one_line_error(capsys.readouterr().err, str(cand), "case 'a'", "train_samples_per_s must be a finite number "
                       "or null, got '640'")


# 7. History duplicates by content ----------------------------------------------------------------------------

def test_the_same_run_reformatted_is_not_added_twice(tmp_path, capsys):
    rng = np.random.default_rng(1)
    path = write_run(tmp_path / "run.json", [synthetic_case("a", rng), synthetic_case("b", rng)])
    doc = json.loads(path.read_text())
    doc["benchmarks"].reverse()
    reformatted = tmp_path / "same.json"
    reformatted.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")))
    db = tmp_path / "h.sqlite"
    assert run("history", "add", path, "--db", db) == 0
    capsys.readouterr()
    assert run("history", "add", reformatted, "--db", db) == 2
    one_line_error(capsys.readouterr().err, "already in the history as run 1")
    doc["datetime"] = "2030-01-01T00:00:00+00:00"  # another run of the same figures is another run
    reformatted.write_text(json.dumps(doc))
    assert run("history", "add", reformatted, "--db", db) == 0


# 8. Plans counted before they are expanded -------------------------------------------------------------------

def test_huge_plans_are_refused_with_their_count_before_expanding(tmp_path, capsys):
    seeds = plan_file(tmp_path, "seeds = 1000000000\n" + ONE_CASE, "seeds.toml")
    fields = ["model", "depth", "width", "shared", "optimizer", "lr", "schedule", "weight_decay", "batch_size",
              "epochs"]
    matrix = plan_file(tmp_path, "[matrix]\n" + "".join(f"{f} = {list(range(1, 11))}\n" for f in fields), "m.toml")
    for plan, count in ((seeds, "1,000,000,000"), (matrix, "10,000,000,001")):
        assert run("run", "--plan", plan, "--out", tmp_path / "out") == 2
        one_line_error(capsys.readouterr().err, f"expands to {count} cases, more than the limit of 10,000",
                       "--max-cases")
    two = plan_file(tmp_path, TWO_CASES)
    assert run("run", "--plan", two, "--max-cases", "1", "--out", tmp_path / "out") == 2
    one_line_error(capsys.readouterr().err, "expands to 2 cases, more than the limit of 1")
    assert run("run", "--plan", two, "--max-cases", "0", "--out", tmp_path / "out") == 2
    one_line_error(capsys.readouterr().err, "--max-cases 0: must be at least 1")
    assert not (tmp_path / "out").exists()


@settings(max_examples=25, deadline=None)
@given(matrix=st.dictionaries(st.sampled_from(["depth", "width", "epochs"]),
                              st.lists(st.integers(1, 6), min_size=1, max_size=3), max_size=2),
       sweep=st.dictionaries(st.sampled_from(["seed", "batch_size"]), st.lists(st.integers(1, 40), min_size=1,
                                                                                max_size=3), max_size=2),
       seeds=st.integers(1, 3))
def test_the_count_bounds_the_expansion_and_the_limit_is_exact(matrix, sweep, seeds):
    doc = {"base": {"model": "dense"}, "matrix": matrix, "sweep": sweep, "seeds": seeds}
    count = count_cases(matrix, sweep, {"seeds": seeds, "tuning": None})
    assert len(expand_plan(doc, "p", max_cases=count).cases) <= count
    if count > 1:
        with pytest.raises(ConfigError, match=f"expands to {count:,} cases"):
            expand_plan(doc, "p", max_cases=count - 1)


# 9. File-system errors ------------------------------------------------------------------------------------

@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nothing can be written into: a read-only tmpfs as root, else a mode-555 directory."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here, and root ignores directory modes")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_file_system_errors_are_one_line(results, tmp_path, read_only_dir, capsys):
    plan, a_file = plan_file(tmp_path, ONE_CASE), tmp_path / "a-file"
    a_file.write_text("x")
    rng = np.random.default_rng(2)
    part = write_run(tmp_path / "part.json", [synthetic_case("a", rng)])
    cases = [
        (["run", "--plan", plan, "--out", read_only_dir], "cannot create the lock file .lock (Read-only file system"),
        (["run", "--plan", plan, "--out", a_file], f"{a_file}: exists and is not a directory"),
        (["report", results, "--out", a_file], f"{a_file}: exists and is not a directory"),
        (["report", results, "--out", read_only_dir], "Read-only file system"),
        (["export", results, "--out", a_file], f"{a_file}: exists and is not a directory"),
        (["compare", part, part, "--markdown", tmp_path], f"{tmp_path}: is a directory, expected a file to write"),
        (["merge", part, "--out", tmp_path], f"{tmp_path}: is a directory, expected a file to write"),
        (["history", "add", part, "--db", a_file / "h.sqlite"], f"{a_file}: exists and is not a directory"),
    ]
    for args, message in cases:
        assert run(*args) == 2, args
        one_line_error(capsys.readouterr().err, message)


# 10. Data files -----------------------------------------------------------------------------------------------

def idx(path: Path, magic: int, dims, payload: bytes = b"") -> Path:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)
    path.write_bytes(gzip.compress(header + payload, compresslevel=1))
    return path


def bomb(path: Path, promised: int, actual: int) -> Path:
    """A labels .gz whose header promises `promised` labels and whose stream expands to `actual` bytes."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: gzip container
    data = packer.compress(struct.pack(">II", 2049, promised))
    for _ in range(actual >> 20):
        data += packer.compress(bytes(1 << 20))
    path.write_bytes(data + packer.flush())
    return path


def test_broken_data_files_are_one_line(tmp_path, capsys):
    rng = np.random.default_rng(3)
    cases = {
        "small": ((1000, 28, 28), "only the test split is present and it has 1,000 images"),
        "empty": ((0, 28, 28), "the header declares (0, 28, 28): no images"),
        "overflow": ((2**31, 2**31, 4), "= 18,446,744,073,709,551,616 bytes, more than the 1,073,741,824"),
    }
    for name, (dims, message) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        count = dims[0] if dims[0] < 2**16 else 0
        idx(folder / "t10k-images-idx3-ubyte.gz", 2051, dims, rng.integers(0, 256, count * 784, np.uint8).tobytes())
        idx(folder / "t10k-labels-idx1-ubyte.gz", 2049, [count], (np.arange(count) % 10).astype(np.uint8).tobytes())
        assert run("run", "--plan", plan_file(tmp_path, ONE_CASE), "--set", "dataset=mnist", "--data-dir", folder,
                   "--out", tmp_path / "out") == 2
        one_line_error(capsys.readouterr().err, message)
    from suite.workloads.data import read_idx

    with pytest.raises(ConfigError, match=r"more data than the 10 bytes its header declares for \(10,\)"):
        read_idx(bomb(tmp_path / "bomb.gz", 10, 64 << 20), "labels")  # 64 MiB expanded: never held


# 11. Labels with "$" --------------------------------------------------------------------------------------------

def test_a_dollar_in_case_ids_renders_as_text_in_report_and_history_plot(tmp_path, capsys):
    rng = np.random.default_rng(4)
    weird = [synthetic_case("a$x^$b", rng), synthetic_case("c$\\frac{$d", rng, train_scale=1.1)]
    path = write_run(tmp_path / "r.json", weird)
    assert run("report", path, "--out", tmp_path / "report") == 0
    assert (tmp_path / "report" / "plots" / "accuracy-params.png").stat().st_size > 1000
    db = tmp_path / "h.sqlite"
    assert run("history", "add", path, "--db", db) == 0
    assert run("history", "plot", "--db", db, "--out", tmp_path / "h.svg") == 0
    assert (tmp_path / "h.svg").stat().st_size > 1000 and "Traceback" not in capsys.readouterr().err


# 12. History show, foreign databases, $MPLBACKEND, input size, NaN in merge, --plan DIR -------------------------

def test_history_show_with_a_zero_before_and_a_foreign_database(tmp_path, capsys):
    rng, db = np.random.default_rng(5), tmp_path / "h.sqlite"
    for index, rate in enumerate([0.0, 0.0, 5.0]):
        case = synthetic_case("a", rng)
        case.metrics["train_samples_per_s"] = rate
        doc = run_document([case], "p", {"tradeoff_bench": {"fingerprint": "f"}}, {"id": f"c{index}"})
        (tmp_path / f"{index}.json").write_text(json.dumps(doc))
        assert run("history", "add", tmp_path / f"{index}.json", "--db", db) == 0
    capsys.readouterr()
    assert run("history", "show", "--db", db) == 0  # the newest value against a median of zero: no ratio
    trend = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| a "))
    assert [cell.strip() for cell in trend.split("|")[1:5]] == ["a", "3", "5", "-"]

    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT)")
    for action in (["show"], ["add", tmp_path / "0.json"], ["plot"]):
        assert run("history", *action, "--db", foreign) == 2
        one_line_error(capsys.readouterr().err, f"{foreign}: not a tradeoff-bench history (table runs has no column")


def test_a_bogus_mplbackend_does_not_stop_a_report(tmp_path):
    rng = np.random.default_rng(8)
    path = write_run(tmp_path / "r.json", [synthetic_case("a", rng), synthetic_case("b", rng, train_scale=1.2)])
    env = {**os.environ, "MPLBACKEND": "bogus", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "suite.cli", "report", str(path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert (tmp_path / "o" / "plots" / "accuracy-params.svg").stat().st_size > 1000


def test_unbounded_inputs_nan_parts_and_plan_directories_are_one_line(results, tmp_path, capsys):
    assert run("compare", "/dev/zero", results) == 2
    one_line_error(capsys.readouterr().err, "/dev/zero: more than the 134,217,728 bytes allowed for a results file")
    doc = json.loads(results.read_text())
    doc["benchmarks"][0]["stats"]["mean"] = "NaN-placeholder"
    poisoned = tmp_path / "nan.json"
    poisoned.write_text(json.dumps(doc).replace('"NaN-placeholder"', "NaN"))
    assert run("merge", results, poisoned, "--out", tmp_path / "merged.json") == 2
    one_line_error(capsys.readouterr().err, f"{poisoned}: not valid JSON", "NaN is not a number JSON allows")
    assert not (tmp_path / "merged.json").exists()
    assert run("run", "--plan", tmp_path, "--out", tmp_path / "out") == 2
    one_line_error(capsys.readouterr().err, f"plan {tmp_path} is a directory; expected a .toml file or one of:")


# 13. Markdown injection ---------------------------------------------------------------------------------------

HOSTILE_ID = "a|b`c`\n<script>alert(1)</script>*x*_y_[l](http://e)$m$~~s~~"


def rendered(markdown: str) -> str:
    """GitHub-flavoured Markdown as HTML, raw HTML allowed (as a job summary's sanitizer would keep tags)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)


def test_markdown_escapes_case_ids_reasons_and_machine_strings(tmp_path, monkeypatch):
    rng = np.random.default_rng(6)
    ok, failed = synthetic_case(HOSTILE_ID, rng), synthetic_case("f", rng, width=3)
    failed.status, failed.reason = "error", "RuntimeError: <img src=x onerror=alert(2)> | `boom`"
    path = write_run(tmp_path / "r.json", [ok, failed], cpu_brand="CPU | <b>bold</b>")
    monkeypatch.setattr(Figure, "savefig", lambda fig, target, *args, **kwargs: target.write(b""))  # text only
    assert run("report", path, "--out", tmp_path / "report") == 0
    assert run("compare", path, path, "--markdown", tmp_path / "c.md") == 0
    for name in ("report/report.md", "c.md"):
        page = rendered((tmp_path / name).read_text())
        for injected in ("<script>", "<img src=x", "<b>bold", "<em>", 'href="http://e"', "<s>", "<del>"):
            assert injected not in page, (name, injected)
        # one cell holds the whole id: a pipe, backtick or line break taking effect would have split it
        cell = re.escape(html.escape(HOSTILE_ID.replace("\n", " "), quote=False))
        assert re.search(f"<td[^>]*>{cell}</td>", page), name
    report = rendered((tmp_path / "report" / "report.md").read_text())
    not_ok = report.split("Cases not ok")[1].split("<tbody>")[1].split("</tbody>")[0]
    assert not_ok.count("<td") == 3 and "<img src=x onerror=alert(2)> | `boom`" in html.unescape(not_ok)
    environment = report.split("<tbody>")[1].split("</tbody>")[0]
    assert environment.count("<td") == 9 and "CPU | <b>bold</b> (2 cores)" in html.unescape(environment)


# 14. Shard specs and long --set values (SIGINT during the last case: with item 2) ------------------------

def test_shard_specs_are_read_one_way(capsys):
    assert parse_shard(" 1/2") == parse_shard("1/2 ") == parse_shard("1/2") == (1, 2)
    for bad in ["1 /2", "1/ 2", "+1/2", "1_0/20", "١/٢", "1/2/3", "0/2", "3/2", "", "/"]:
        with pytest.raises(ConfigError, match="expected K/N with 1 <= K <= N"):
            parse_shard(bad)
    assert run("run", "--shard", "1 /2") == 2
    one_line_error(capsys.readouterr().err, "--shard '1 /2'")


@pytest.mark.parametrize("pair", ["lr=" + "1" * 5000 + "x", "seed=" + "9" * 4000, "depth=" + "1" * 5000,
                                  "x" * 5000 + "=1", "model=" + "m" * 5000, "no-equals" * 600])
def test_long_set_values_are_not_echoed_in_full(tmp_path, capsys, pair):
    assert run("run", "--plan", plan_file(tmp_path, ONE_CASE), "--set", pair, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    one_line_error(err)
    assert len(err) < 200 + len(", ".join(FIELDS)), err  # at most the valid fields and a value cut to 60 characters
