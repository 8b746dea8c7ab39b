"""The optimizer study end to end: selection never reads the test split, and a tuned plan runs through
the CLI into trials, finals, skipped optional data and the report's study sections."""

from __future__ import annotations

import dataclasses
import json

from suite import runner
from suite.cli import main
from suite.plans import expand_plan
from suite.report.study import sensitivity_figure, summaries
from suite.results import study
from suite.results.schema import load_run
from suite.train import evaluate
from tests.test_resnet import FAST

TUNED = {"base": {"model": "dense", "depth": 1, "width": 8, "epochs": 2, "dataset": "digits"},
         "target_accuracy": 0.5, "tuning": {"trials": 2, "seed": 3, "lr": {"adam": [1e-3, 1e-1]}}}
PLAN = """
description = "tiny optimizer study"
seeds = 2
optional_datasets = ["mnist"]
[target_accuracy]
digits = 0.5
mnist = 0.9
[tuning]
trials = 2
[tuning.lr]
gd = [0.1, 1.0]
adam = [0.001, 0.1]
[base]
model = "dense"
depth = 1
width = 8
epochs = 2
[matrix]
optimizer = ["gd", "adam"]
dataset = ["digits", "mnist"]
"""


def poisoned(load):
    """load_dataset with the test split's labels shifted by one class and its images negated."""
    def wrapper(*args, **kwargs):
        data = load(*args, **kwargs)
        return dataclasses.replace(data, x_test=-data.x_test, y_test=(data.y_test + 1) % data.num_classes)
    return wrapper


def trial_rows(plan) -> list[dict]:
    """The plan's cases measured with fewer timed rounds (FAST): selection reads accuracies, not timings."""
    return study.records([runner.run_case(case, FAST) for case in plan.cases])


def test_selection_never_reads_the_test_split(monkeypatch):
    plan = expand_plan(TUNED, "tuned")
    clean = trial_rows(plan)
    monkeypatch.setattr(runner, "load_dataset", poisoned(runner.load_dataset))
    dirty = trial_rows(plan)
    final = plan.cases[0].replace(eval_split="test")
    dirty_final = runner.prepare(final)
    monkeypatch.undo()
    clean_final = runner.prepare(final)  # the poison does reach a case evaluated on the test split
    assert evaluate(dirty_final.model, dirty_final.data.x_test, dirty_final.data.y_test) != evaluate(
        clean_final.model, clean_final.data.x_test, clean_final.data.y_test)
    assert all(r["status"] == "ok" for r in clean + dirty)
    curves = [[[h["test_accuracy"] for h in r["history"]] for r in rows] for rows in (clean, dirty)]
    assert curves[0] == curves[1]  # every validation figure identical with the test split poisoned
    chosen = [[w["case_id"] for w in study.select(rows).values()] for rows in (clean, dirty)]
    assert chosen[0] == chosen[1] and len(chosen[0]) == 1
    assert [c.id for c in study.final_cases(plan, clean)] == [c.id for c in study.final_cases(plan, dirty)]


def test_tuned_plan_runs_end_to_end_through_the_cli(tmp_path, capsys):
    plan_file, out = tmp_path / "study.toml", tmp_path / "out"
    plan_file.write_text(PLAN)
    code = main(["run", "--plan", str(plan_file), "--out", str(out), "--data-dir", str(tmp_path)])  # in process
    assert code == 0, capsys.readouterr().err
    run = load_run(out / "results.json")
    by_split = {split: [c for c in run.cases if c.case.get("eval_split") == split and c.status == "ok"]
                for split in ("validation", "test")}
    assert len(by_split["validation"]) == 4  # 2 optimizers x 2 trials on digits
    assert sorted((c.case["optimizer"], c.case["seed"]) for c in by_split["test"]) == [
        ("adam", 0), ("adam", 1), ("gd", 0), ("gd", 1)]
    skipped = [c for c in run.cases if c.status == "skipped"]
    assert len(skipped) == 4 and all("optional dataset not available" in c.reason for c in skipped)
    for case in by_split["test"] + by_split["validation"]:
        m = case.metrics
        assert m["eval_seconds"] > 0 and m["train_seconds"] > 0
        reached = [h for h in m["history"] if h["test_accuracy"] >= 0.5]
        assert m["epochs_to_target"] == (reached[0]["epoch"] if reached else None)
    rows = study.records(run.cases)
    winners = {w["case"]["optimizer"]: w["case"]["lr"] for w in study.select(rows).values()}
    assert {c.case["optimizer"]: c.case["lr"] for c in by_split["test"]} == winners
    report = (out / "report.md").read_text()
    for title in ("Optimizer study: time to target", "Optimizer study: tuning budget", "Full-batch gd makes one"):
        assert title in report
    for name in ("study_time_to_target", "study_lr_sensitivity"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 5000
    tuned = [r for r in summaries(rows) if "trials" in r]
    lines = sensitivity_figure(tuned).axes[0].lines
    drawn = {line.get_label(): list(line.get_xdata()) for line in lines}
    assert drawn == {o: sorted(c.case["lr"] for c in by_split["validation"] if c.case["optimizer"] == o)
                     for o in ("gd", "adam")}
    assert json.loads((out / "results.json").read_text())["tradeoff_bench"]["plan"] == "study"
