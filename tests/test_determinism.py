"""Reproducibility: the same case and seed on CPU give the same accuracy and loss to the last digit."""

import json

import torch

from suite.cases import Case
from suite.runner import prepare


def accuracy_figures(path) -> dict:
    """Per measured case of a results file: (test accuracy, test loss, per-epoch train losses), as written."""
    doc = json.loads(path.read_text())
    return {b["extra_info"]["case_id"]: (b["extra_info"]["test_accuracy"], b["extra_info"]["test_loss"],
                                         [h["train_loss"] for h in b["extra_info"]["history"]])
            for b in doc["benchmarks"] if b["group"] == "accuracy"}


def test_same_cases_in_two_processes_give_identical_figures(cli_run, bench_run):
    """The tiny plan measured in two processes, one per front end (tests/conftest.py's shared runs)."""
    (out, cli), (bench_json, bench) = cli_run, bench_run
    assert cli.returncode == 0 and bench.returncode == 0, cli.stderr + bench.stdout[-2000:]
    figures = [accuracy_figures(out / "results.json"), accuracy_figures(bench_json)]
    assert figures[0] == figures[1]  # floats compared exactly: JSON keeps every digit
    assert len(figures[0]) == 2
    for accuracy, _, train_losses in figures[0].values():
        assert 0.1 < accuracy <= 1.0 and len(train_losses) == 2
    env = json.loads((out / "results.json").read_text())["machine_info"]["tradeoff_bench"]
    note = env["determinism"]["cpu"]
    assert note.startswith("reproducible in practice") and "deterministic=true" in note


def test_deterministic_algorithms_are_a_lever_not_a_default():
    prepare(Case(model="dense", depth=1, width=8, epochs=1, deterministic=True))
    assert torch.are_deterministic_algorithms_enabled()
    case = Case(model="dense", depth=1, width=8, epochs=1)
    prepare(case)  # the next case runs as users do, whatever ran before it
    assert not torch.are_deterministic_algorithms_enabled()
    assert case.id.endswith("-s0") and case.replace(deterministic=True).id.endswith("-s0-det")
