"""A steps budget (for every family), evaluation intervals, the warmup-cosine schedule with its floor, the
nanoGPT recipe fields (beta2, decay on matrices only, gradient clipping) and time to a target loss."""

from __future__ import annotations

import math

import pytest
import torch

from suite.budget import interval_sizes
from suite.cases import Case, make_case, parse_value
from suite.optim import build_optimizer, warmup_cosine
from suite.plumbing.errors import ConfigError
from suite.results.study import target_metrics
from suite.runner import prepare, train_for_accuracy
from suite.train import minibatch_step
from suite.workloads.models import build_model

DENSE = dict(model="dense", depth=1, width=16, batch_size=32)


def test_warmup_cosine_is_nanogpt_get_lr():
    # nanoGPT's shakespeare_char: lr 1e-3, 100 warm-up steps, cosine to min_lr 1e-4 at step 2000
    lr = lambda step: warmup_cosine(step, 1e-3, 100, 2000, 1e-4)  # noqa: E731
    assert lr(0) == pytest.approx(1e-3 / 101) and lr(99) == pytest.approx(1e-3 * 100 / 101)
    assert lr(100) == pytest.approx(1e-3)
    assert lr(1050) == pytest.approx(1e-4 + 0.5 * 9e-4)  # half way down the cosine
    assert lr(1525) == pytest.approx(1e-4 + 0.5 * (1 + math.cos(0.75 * math.pi)) * 9e-4)
    assert lr(2000) == lr(5000) == pytest.approx(1e-4)  # the floor


def test_steps_budget_evaluates_at_intervals_and_steps_the_schedule_every_step():
    case = Case(**DENSE, steps=25, eval_interval=10, schedule="warmup-cosine", warmup_steps=5, lr=0.01, min_lr=0.001)
    assert case.epochs is None and interval_sizes(case) == [10, 10, 5]
    assert "-b32-st25-s0-ev10" in case.id and "-warmup-cosine-wu5-min0.001-" in case.id
    p = prepare(case)
    model, outcome = train_for_accuracy(p)
    assert [h["step"] for h in outcome.history] == [10, 20, 25] and [h["epoch"] for h in outcome.history] == [1, 2, 3]
    expected = [warmup_cosine(step, 0.01, 5, 25, 0.001) for step in (0, 10, 20)]
    assert [h["lr"] for h in outcome.history] == pytest.approx(expected)  # the rate at each interval's start
    assert len(outcome.eval_seconds) == 3 and outcome.test_loss < math.log(10)  # learned: below chance


def test_fewer_steps_than_warmup_still_runs_and_evaluates_at_the_end():
    case = Case(**DENSE, steps=3, schedule="warmup-cosine", warmup_steps=100)
    _, outcome = train_for_accuracy(prepare(case))
    assert len(outcome.history) == 1 and outcome.history[0]["step"] == 3
    # evaluated once, at the end: 3 steps at a rate still warming up leave the model at chance (ln 10 for 10 classes)
    assert outcome.test_loss == outcome.history[0]["test_loss"] == pytest.approx(math.log(10), abs=0.1)


def test_epoch_schedules_step_once_per_interval_under_a_steps_budget():
    case = Case(**DENSE, steps=30, eval_interval=10, schedule="exponential")
    _, outcome = train_for_accuracy(prepare(case))
    assert [round(h["lr"], 7) for h in outcome.history] == [0.001, 0.0008, 0.00064]


@pytest.mark.parametrize("fields, message", [
    ({"steps": 0}, "field 'steps' must be an integer >= 1, got 0"),
    ({"eval_interval": 5}, "field 'eval_interval' needs a steps budget"),
    ({"steps": 10, "eval_batches": 0}, "field 'eval_batches' must be an integer >= 1, got 0"),
    ({"beta2": 1.0}, "field 'beta2' must be a number in [0, 1), got 1.0"),
    ({"grad_clip": 0}, "field 'grad_clip' must be a number > 0"),
    ({"schedule": "warmup-cosine", "warmup_steps": -1}, "field 'warmup_steps' must be an integer >= 0, got -1"),
    ({"schedule": "warmup-cosine", "min_lr": 0.1}, "field 'min_lr' must be a number in [0, lr = 0.001], got 0.1"),
    ({"target_val_loss": -1}, "field 'target_val_loss' must be a number > 0"),
    ({"target_val_loss": 2.0, "target_accuracy": 0.5}, "set one of target_accuracy and target_val_loss, not both"),
    ({"decay_2d_only": "yes"}, "field 'decay_2d_only' must be true or false"),
])
def test_bad_recipe_fields_are_one_line_errors(fields, message):
    with pytest.raises(ConfigError) as error:
        make_case({**DENSE, **fields})
    assert message in str(error.value) and "\n" not in str(error.value)


def test_recipe_fields_at_their_defaults_change_no_id_and_inapplicable_ones_are_null():
    assert Case().id == "conv-d2-w32-adam-lr0.001-constant-digits-cpu-b64-e10-s0"
    momentum = Case(optimizer="momentum", beta2=0.99, warmup_steps=100, min_lr=1e-4, decay_2d_only=True)
    assert (momentum.beta2, momentum.warmup_steps, momentum.min_lr, momentum.decay_2d_only) == (None, None, None, False)
    assert Case(schedule="warmup-cosine", lr=0.01).min_lr == 0.001  # default floor: lr / 10
    assert parse_value("steps", "none") is None and parse_value("steps", "200") == 200


def test_optimizer_gets_beta2_and_decays_matrices_only():
    case = Case(model="transformer", dataset="tinyshakespeare", depth=1, width=16, heads=2, context=8,
                optimizer="adamw", beta2=0.99, weight_decay=0.1, decay_2d_only=True)
    model = build_model(case, (8,), 65)
    optimizer = build_optimizer(case, model)
    decayed, plain = optimizer.param_groups
    assert all(p.dim() == 2 for p in decayed["params"]) and decayed["weight_decay"] == 0.1
    assert all(p.dim() == 1 for p in plain["params"]) and plain["weight_decay"] == 0.0  # LayerNorm weights, biases
    assert len(decayed["params"]) + len(plain["params"]) == len(list(model.parameters()))
    assert decayed["betas"] == plain["betas"] == (0.9, 0.99)


def test_gradients_are_clipped_to_the_norm():
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    x, y = torch.randn(16, 8) * 100, torch.randint(0, 4, (16,))
    minibatch_step(model, optimizer, x, y, clip=0.5)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in model.parameters()]))
    assert norm == pytest.approx(0.5, rel=1e-5)


def test_time_to_target_loss_reads_the_first_evaluation_at_or_below_it():
    history = [{"epoch": 1, "step": 250, "wall_time_s": 7.0, "test_loss": 2.4},
               {"epoch": 2, "step": 500, "wall_time_s": 14.0, "test_loss": 1.9},
               {"epoch": 3, "step": 750, "wall_time_s": 21.0, "test_loss": 1.8}]
    steps_case = Case(**DENSE, steps=750, eval_interval=250, target_val_loss=1.95)
    assert target_metrics(steps_case, history) == {"time_to_target_s": 14.0, "steps_to_target": 500}
    assert target_metrics(Case(**DENSE, target_val_loss=1.95), history) == {"time_to_target_s": 14.0,
                                                                            "epochs_to_target": 2}
    assert target_metrics(steps_case.replace(target_val_loss=1.0), history) == {"time_to_target_s": None,
                                                                                "steps_to_target": None}


def test_tuning_selects_the_lowest_validation_loss_for_a_language_model():
    from suite.results.study import select
    from tests.test_study import row

    lm = {"model": "transformer", "dataset": "tinyshakespeare"}
    rows = [row({**lm, "lr": 0.01}, 0.46, val_loss=2.00), row({**lm, "lr": 0.001}, 0.45, val_loss=1.90)]
    assert [w["case"]["lr"] for w in select(rows).values()] == [0.001]  # lower loss wins over higher accuracy
