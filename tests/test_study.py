"""The optimizer study's pure parts: time-to-target, seed intervals, the seeded LR sampler, plan keys,
selection and performance profiles (no training here; see test_study_run.py)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from suite.plans import expand_plan
from suite.plumbing.errors import ConfigError
from suite.results import study

HISTORY = [{"epoch": 1, "test_accuracy": 0.5, "wall_time_s": 1.0},
           {"epoch": 2, "test_accuracy": 0.91, "wall_time_s": 2.5},
           {"epoch": 3, "test_accuracy": 0.89, "wall_time_s": 4.0}]
BASE = {"model": "dense", "depth": 1, "width": 8, "epochs": 2, "dataset": "digits"}


def test_time_to_target_is_the_first_epoch_reaching_it():
    assert study.time_to_target(HISTORY, 0.9) == (2.5, 2)
    assert study.time_to_target(HISTORY, 0.5) == (1.0, 1)
    assert study.time_to_target(HISTORY, 0.95) == (None, None)
    assert study.time_to_target([], 0.1) == (None, None)


def test_interval_is_the_student_t_interval_of_the_mean():
    iv = study.interval([1.0, 2.0, 3.0, None])
    # t(0.975, df=2) = 4.3027 (any t table); sd = 1, so the half-width is 4.3027 / sqrt(3)
    assert iv["n"] == 3 and iv["mean"] == 2.0 and iv["sd"] == pytest.approx(1.0)
    assert iv["high"] - iv["mean"] == pytest.approx(4.3027 / math.sqrt(3), rel=1e-4)
    assert study.interval([]) == {"mean": None, "sd": None, "low": None, "high": None, "n": 0}
    assert study.interval([5.0])["low"] == study.interval([5.0])["high"] == 5.0


def test_a_difference_is_real_only_beyond_the_seed_spread():
    tight_low, tight_high = study.interval([1.0, 1.01, 0.99]), study.interval([2.0, 2.01, 1.99])
    assert study.real_difference(tight_low, tight_high)
    assert not study.real_difference(study.interval([1.0, 3.0, 2.0]), study.interval([2.5, 1.5, 2.2]))
    assert not study.real_difference(study.interval([]), tight_low)


def test_sampler_is_seeded_bounded_and_per_optimizer():
    one = study.Tuning(5, 0, {"adam": (1e-4, 1e-1)})
    two = study.Tuning(5, 0, {"adam": (1e-4, 1e-1), "sgd": (1e-3, 1.0)})
    lrs = one.sample_lrs("adam")
    assert lrs == two.sample_lrs("adam") == one.sample_lrs("adam")
    assert len(set(lrs)) == 5 and all(1e-4 <= lr <= 1e-1 for lr in lrs)
    assert study.Tuning(5, 1, one.spaces).sample_lrs("adam") != lrs


@pytest.mark.parametrize(("tuning", "message"), [
    ({"trials": 0, "lr": {"adam": [1e-4, 1]}}, "trials must be an integer >= 1"),
    ({"trials": 2, "lr": {"adma": [1e-4, 1]}}, "valid choices: gd, sgd"),
    ({"trials": 2, "lr": {"adam": [1, 1e-4]}}, "0 < low < high"),
    ({"trials": 2, "lr": {"adam": [1e-4, 1]}, "budget": 3}, "valid keys: trials, seed, lr"),
])
def test_bad_tuning_tables_name_the_valid_choices(tuning, message):
    with pytest.raises(ConfigError, match=message):
        expand_plan({"base": BASE, "tuning": tuning}, "bad")


def test_seeds_and_targets_expand_without_changing_default_ids():
    plain = expand_plan({"base": BASE}, "plain")
    seeded = expand_plan({"base": BASE, "seeds": 3, "target_accuracy": {"digits": 0.9}}, "seeded")
    assert [c.id for c in plain.cases] == ["dense-d1-w8-adam-lr0.001-constant-digits-cpu-b64-e2-s0"]
    assert [c.seed for c in seeded.cases] == [0, 1, 2]
    assert all(c.target_accuracy == 0.9 and c.id.endswith("-t0.9") for c in seeded.cases)
    with pytest.raises(ConfigError, match="seeds must be an integer >= 1"):
        expand_plan({"base": BASE, "seeds": 0}, "bad")
    with pytest.raises(ConfigError, match="valid choices: digits"):
        expand_plan({"base": BASE, "target_accuracy": {"digitz": 0.9}}, "bad")


def test_tuned_plans_start_with_validation_trials():
    plan = expand_plan({"base": BASE, "seeds": 2, "tuning": {"trials": 3, "lr": {"adam": [1e-4, 1e-1]}},
                        "matrix": {"optimizer": ["adam", "sgd"]}}, "tuned")
    trials = [c for c in plan.cases if c.optimizer == "adam"]
    assert len(trials) == 3 and all(c.eval_split == "validation" and c.id.endswith("-val") for c in trials)
    assert [c.lr for c in trials] == plan.tuning.sample_lrs("adam")
    untuned = [c for c in plan.cases if c.optimizer == "sgd"]
    assert [(c.eval_split, c.seed) for c in untuned] == [("test", 0), ("test", 1)]


def row(case: dict, accuracy, seconds=None, **extra) -> dict:
    """A result row as suite.results.study.records makes them."""
    case = {"lr": 0.1, "seed": 0, "eval_split": "validation", "optimizer": "adam", "schedule": "constant",
            "dataset": "digits", "model": "dense", **case}
    return {"case": case, "case_id": "-".join(f"{v}" for v in case.values()), "status": "ok",
            "test_accuracy": accuracy, "time_to_target_s": seconds, **extra}


def test_selection_picks_the_best_validation_accuracy_and_ignores_test_rows():
    rows = [row({"lr": 0.1}, 0.80), row({"lr": 0.01}, 0.90, 3.0), row({"lr": 0.001}, 0.90, 2.0),
            row({"lr": 1.0}, None), row({"lr": 0.1, "optimizer": "sgd"}, None)]
    winners = study.select(rows)
    assert [w["case"]["lr"] for w in winners.values()] == [0.001]  # the sgd group never finished: no winner
    poisoned = rows + [row({"lr": 0.1, "eval_split": "test"}, 1.0, 0.1)]
    assert study.select(poisoned) == winners


def test_final_cases_rerun_the_winner_with_every_seed():
    plan = expand_plan({"base": BASE, "seeds": 2, "tuning": {"trials": 2, "lr": {"adam": [1e-4, 1e-1]}}}, "t")
    rows = [row(c.as_dict(), 0.5 + c.lr, case_id=c.id) for c in plan.cases]
    finals = study.final_cases(plan, rows)
    best = max(plan.cases, key=lambda c: c.lr)
    assert [(c.lr, c.seed, c.eval_split) for c in finals] == [(best.lr, 0, "test"), (best.lr, 1, "test")]
    cases = list(plan.cases)
    done = {r["case_id"]: SimpleNamespace(case=r["case"], case_id=r["case_id"], status="ok",
                                          metrics={"test_accuracy": r["test_accuracy"]}) for r in rows}
    phases = study.in_phases(plan, cases, {})
    assert next(phases) == list(plan.cases)  # the trials first; the finals once their results are recorded
    phases = study.in_phases(plan, cases, done)
    assert next(phases) == [] and next(phases) == finals
    assert cases == list(plan.cases) + finals


def test_performance_profile_fractions():
    times = {"p1": {"a": 1.0, "b": 2.0, "c": None}, "p2": {"a": 4.0, "b": 2.0, "c": None}, "p3": {"a": None}}
    profile = study.performance_profile(times, [1.0, 2.0, 10.0])
    assert profile["a"] == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert profile["b"] == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert profile["c"] == [0.0, 0.0, 0.0]


def test_a_pruned_row_reaches_its_target_on_its_own_fine_tune_curve():
    history = [{"epoch": 1, "step": 10, "test_accuracy": 0.8, "test_loss": 2.1, "wall_time_s": 1.0},
               {"epoch": 2, "step": 20, "test_accuracy": 0.95, "test_loss": 1.9, "wall_time_s": 2.0}]
    finetune = [{"epoch": 1, "step": 10, "test_accuracy": 0.85, "test_loss": 2.05, "wall_time_s": 0.5},
                {"epoch": 2, "step": 20, "test_accuracy": 0.91, "test_loss": 2.038, "wall_time_s": 1.0}]
    case = SimpleNamespace(target_accuracy=0.9, target_val_loss=None, steps=None)
    assert study.compressed_target_metrics(case, history, 2.0, finetune) == {"time_to_target_s": 3.0,
                                                                              "epochs_to_target": 4}
    # reached before pruning, never by the pruned model: null, not the unpruned model's 2.0 s
    case.target_accuracy = 0.95
    assert study.compressed_target_metrics(case, history, 2.0, finetune) == {"time_to_target_s": None,
                                                                              "epochs_to_target": None}
    loss_case = SimpleNamespace(target_accuracy=None, target_val_loss=2.0, steps=20)
    assert study.compressed_target_metrics(loss_case, history, 2.0, finetune) == {"time_to_target_s": None,
                                                                                   "steps_to_target": None}
    loss_case.target_val_loss = 2.05
    assert study.compressed_target_metrics(loss_case, history, 2.0, finetune) == {"time_to_target_s": 2.5,
                                                                                   "steps_to_target": 30}
    assert study.compressed_target_metrics(loss_case, history, 2.0, None) == {
        "time_to_target_s_reason": study.NO_CURVE_REASON}  # quantized: no curve of its own
    assert study.compressed_target_metrics(SimpleNamespace(target_accuracy=None, target_val_loss=None, steps=None),
                                           history, 2.0, None) == {}
