"""Accuracy floors on real data: what the suite trains must actually learn."""

import pytest

from suite.cases import Case
from suite.plans import load_plan
from suite.runner import prepare, train_for_accuracy


@pytest.mark.slow
def test_seed_cnn_on_mnist_10k_reaches_97_percent_in_4_epochs(mnist_dir):
    """The seed's recipe (Adam 1e-3, batch 64) on the real MNIST digits; 4 of its 10 epochs keep the test short
    (97.75% after 4 epochs, 98.6% after 10, on the 2,000 held-out images)."""
    case = Case(model="seed-cnn", optimizer="adam", lr=1e-3, batch_size=64, epochs=4, dataset="mnist")
    prepared = prepare(case, mnist_dir)
    assert len(prepared.data.y_train) == 8000 and len(prepared.data.y_test) == 2000
    _, outcome = train_for_accuracy(prepared)
    assert outcome.status == "ok"
    assert outcome.test_accuracy >= 0.97, outcome.history


@pytest.mark.slow
def test_conv_variants_on_digits_reach_95_percent_within_default_budget():
    plan = load_plan("default")
    base = plan.base
    variants = [c for c in plan.cases if c.model == "conv" and c.optimizer == base.optimizer
                and c.schedule == base.schedule and c.weight_decay == base.weight_decay and c.device == "cpu"]
    assert len(variants) == 5  # depth 1, 2, 4; shared at depth 2 and 4
    for case in variants:
        _, outcome = train_for_accuracy(prepare(case))
        assert outcome.test_accuracy >= 0.95, (case.id, outcome.test_accuracy)
