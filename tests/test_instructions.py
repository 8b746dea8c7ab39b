"""Instruction counts (suite/executors/instructions.py): real counts of a tiny dense model under callgrind, repeatable
between processes and larger for more work; the callgrind file parser; the count verdicts of compare; the
skipped case where valgrind is missing."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from suite.cases import Case
from suite.executors.instructions import INSTALL, CountConfig, count_case, measure_config, read_instructions
from suite.executors.node import measure_with
from suite.plumbing.errors import ConfigError
from suite.results.compare import Entry, metric_row
from tests.conftest import in_ci

# One counted step and a few forwards: each child process spends most of its ~20 s of CPU importing torch.
CONFIG = CountConfig(train_steps=1, forwards=5, warmup_steps=1, warmup_forwards=2)
SMALL = Case(model="dense", depth=1, width=16, epochs=1)
LARGER = SMALL.replace(width=64)


@pytest.fixture(scope="module")
def counted():
    """(small, small again, larger): three child processes under callgrind, at once (2 cores: about 30 s)."""
    if shutil.which("valgrind") is None:
        reason = f"valgrind is not on PATH ({INSTALL})"
        if in_ci():
            pytest.fail(f"{reason}; CI is set, so a missing valgrind fails instead of skipping", pytrace=False)
        pytest.skip(reason)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda case: count_case(case, CONFIG), [SMALL, SMALL, LARGER]))
    assert [r.status for r in results] == ["ok"] * 3, [r.reason for r in results]
    return [r.metrics for r in results]


@pytest.mark.parametrize("metric", ["train_instructions_per_sample", "infer_instructions_per_call"])
def test_two_processes_count_within_half_a_percent(counted, metric):
    first, second, _ = counted
    assert first[metric] > 1000 and second[metric] > 1000
    assert abs(second[metric] - first[metric]) / first[metric] < 0.005


def test_a_model_with_more_work_counts_more(counted):
    small, _, larger = counted
    # width 64 instead of 16: the hidden layers' multiply-adds grow 16-fold, the per-call overhead stays
    assert larger["train_instructions_per_sample"] > 1.05 * small["train_instructions_per_sample"]
    assert larger["infer_instructions_per_call"] > small["infer_instructions_per_call"]
    assert small["train_instructions"] == small["train_instructions_per_sample"] * SMALL.batch_size


CALLGRIND_FILE = """# callgrind format
version: 1
creator: callgrind-3.19.0
part: 2
desc: Trigger: Client Request: infer
positions: line
events: Ir Dr
fn=(1) main
0 100 7
+2 50
cfn=(2) work
calls=3 0
0 900 4
fn=(2) work
* 900
"""


def test_read_instructions_takes_totals_else_summary_else_the_self_costs(tmp_path):
    path = tmp_path / "callgrind.out.2"
    path.write_text(CALLGRIND_FILE)
    assert read_instructions(path) == ("infer", 100 + 50 + 900)  # the call's inclusive 900 is not added
    path.write_text(CALLGRIND_FILE.replace("events: Ir Dr", "events: Ir Dr\nsummary: 2000 9"))
    assert read_instructions(path) == ("infer", 2000)
    path.write_text(CALLGRIND_FILE + "totals: 1050 11\n")
    assert read_instructions(path) == ("infer", 1050)
    path.write_text(CALLGRIND_FILE.replace("events: Ir Dr", "events: Dr"))
    with pytest.raises(ValueError, match="its `events:` line has no Ir"):
        read_instructions(path)
    path.write_text("not a callgrind file\n")
    with pytest.raises(ValueError, match="no `events:` line"):
        read_instructions(path)


@pytest.mark.parametrize("factor, verdict", [(1.01, "unchanged"), (1.02, "regressed"), (0.98, "improved")])
def test_counts_compare_with_a_1_5_percent_threshold_and_no_noise(factor, verdict):
    name = "train_instructions_per_sample"
    base = Entry("c", {}, "ok", {name: 40_000.0})
    cand = Entry("c", {}, "ok", {name: 40_000.0 * factor})
    assert metric_row("c", name, base, cand, 1.5, 0.01).verdict == verdict


def test_without_valgrind_the_case_is_skipped_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    result = measure_with(SMALL, measure_config("instructions"))  # both front ends measure through it
    assert (result.status, result.metrics) == ("skipped", {})
    assert INSTALL in result.reason


def test_the_procedure_records_the_counting_settings():
    procedure = measure_config("instructions").procedure("cli")
    assert (procedure["measure"], procedure["train_steps"], procedure["forwards"], procedure["threads"]) == \
        ("instructions", 2, 20, 1)
    assert procedure["valgrind_flags"] == "--tool=callgrind --instr-atstart=no --collect-atstart=no"
    assert "measure" not in measure_config("time").procedure("cli")  # timed runs keep their procedure
    with pytest.raises(ConfigError, match="time, instructions"):
        measure_config("cycles")


def test_a_counted_run_reports_its_counts_and_how_they_were_counted(tmp_path):
    from suite.cli import main
    from suite.results.schema import CaseResult
    from tests.test_compare import CASE, write_run

    procedure = {"version": 3, "measure": "instructions", **CountConfig().__dict__, "threads": 1,
                 "valgrind": "valgrind-3.19.0", "valgrind_flags": "--tool=callgrind", "front_end": "cli"}
    results = [CaseResult(f"c{width}", {**CASE, "width": width}, "ok", "",
                          {"train_instructions_per_sample": 1000.0 * width,
                           "infer_instructions_per_call": 500.0 * width},
                          {"train": [1.0], "infer": [0.1]}) for width in (16, 32)]
    path = write_run(tmp_path / "results.json", results, procedure=procedure)
    assert main(["report", str(path), "--format", "md"]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "instruction counts under valgrind-3.19.0 (--tool=callgrind)" in report
    assert "2 steps and 20 forwards counted" in report
    counts = report.split("## Instruction counts")[1].split("\n## ")[0]
    assert "train instr/sample |" in counts and "32,000" in counts and "16,000 ★" in counts
    assert "## Accuracy" not in report  # nothing trained: no empty accuracy table
    assert "x2.00" in report.split("## Trade-offs")[1]  # the counts in the trade-off summary
