"""Reproducibility: the same case and seed on CPU give the same accuracy and loss to the last digit."""

import json

import torch

from suite.cases import Case
from suite.runner import prepare
from tests.conftest import run_cli

CASE_SETS = ["--set", "model=conv", "--set", "depth=1", "--set", "width=8", "--set", "epochs=2"]


def accuracy_figures(out) -> tuple:
    """(test accuracy, test loss, per-epoch train losses) of the run's only case, as written."""
    doc = json.loads((out / "results.json").read_text())
    extra = next(b["extra_info"] for b in doc["benchmarks"] if b["group"] == "accuracy")
    return extra["test_accuracy"], extra["test_loss"], [h["train_loss"] for h in extra["history"]]


def test_same_case_in_two_processes_gives_identical_figures(tmp_path):
    plan = tmp_path / "one.toml"
    plan.write_text('description = "one case"\n[base]\nmodel = "conv"\n')
    figures = []
    for name in ("first", "second"):
        proc = run_cli("run", "--plan", plan, "--out", tmp_path / name, *CASE_SETS)
        assert proc.returncode == 0, proc.stderr
        figures.append(accuracy_figures(tmp_path / name))
    assert figures[0] == figures[1]  # floats compared exactly: JSON keeps every digit
    assert 0.1 < figures[0][0] <= 1.0 and len(figures[0][2]) == 2
    env = json.loads((tmp_path / "first" / "results.json").read_text())["machine_info"]["tradeoff_bench"]
    note = env["determinism"]["cpu"]
    assert note.startswith("reproducible in practice") and "deterministic=true" in note


def test_deterministic_algorithms_are_a_lever_not_a_default():
    prepare(Case(model="dense", depth=1, width=8, epochs=1, deterministic=True))
    assert torch.are_deterministic_algorithms_enabled()
    case = Case(model="dense", depth=1, width=8, epochs=1)
    prepare(case)  # the next case runs as users do, whatever ran before it
    assert not torch.are_deterministic_algorithms_enabled()
    assert case.id.endswith("-s0") and case.replace(deterministic=True).id.endswith("-s0-det")
