import pytest
import torch

from suite.cases import Case
from suite.runner import prepare, run_case, train_for_accuracy


def test_huge_learning_rate_diverges_and_is_recorded():
    result = run_case(Case(model="dense", depth=1, optimizer="sgd", lr=1e6, epochs=3))
    assert result.status == "diverged"
    assert result.metrics["diverged_step"] >= 1
    assert "loss not finite at step" in result.reason
    assert result.metrics["test_accuracy"] is None
    assert result.samples["train"] and result.samples["accuracy"]  # speed is still measured


def test_same_seed_same_figures():
    case = Case(model="conv", depth=1, width=8, epochs=2)
    _, first = train_for_accuracy(prepare(case))
    _, second = train_for_accuracy(prepare(case))
    assert first.test_accuracy == second.test_accuracy and first.test_loss == second.test_loss
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in second.history]


def test_history_has_one_entry_per_epoch_and_excludes_evaluation():
    _, outcome = train_for_accuracy(prepare(Case(model="dense", depth=1, epochs=3, schedule="exponential")))
    assert [h["epoch"] for h in outcome.history] == [1, 2, 3]
    assert [round(h["lr"], 6) for h in outcome.history] == [0.001, 0.0008, 0.00064]
    times = [h["wall_time_s"] for h in outcome.history]
    assert times == sorted(times) and outcome.train_seconds == times[-1]
    assert len(outcome.eval_seconds) == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here: no absent device to skip")
def test_absent_device_is_skipped_with_reason():
    result = run_case(Case(device="cuda"))
    assert result.status == "skipped" and "CUDA is not available" in result.reason


def test_end_to_end_training_time_holds_batch_drawing_and_leaves_out_evaluation_and_callbacks():
    import time

    from suite.runner import e2e_metrics

    p = prepare(Case(model="dense", depth=1, width=16, epochs=2))
    _, outcome = train_for_accuracy(p, after_epoch=lambda: time.sleep(0.1))  # between epochs: outside the phase
    assert outcome.samples == 2 * len(p.data.y_train)
    assert outcome.train_seconds < outcome.e2e_seconds < outcome.train_seconds + 0.1
    e2e = e2e_metrics(p.case, outcome)["train_e2e_samples_per_s"]
    assert e2e == outcome.samples / outcome.e2e_seconds < outcome.samples / outcome.train_seconds
    assert "rank" in e2e_metrics(p.case.replace(world_size=2), outcome)["train_e2e_samples_per_s_reason"]
    full = prepare(Case(model="dense", depth=1, width=16, optimizer="gd", lr=0.1, steps=3, eval_interval=2))
    assert train_for_accuracy(full)[1].samples == 3 * len(full.data.y_train)  # each full-batch step: the whole split
