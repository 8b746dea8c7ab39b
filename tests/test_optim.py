import pytest
import torch

from suite.cases import Case
from suite.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_schedule
from suite.train import full_batch_step
from suite.workloads.data import load_dataset
from suite.workloads.models import build_model


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_lowers_the_loss(name):
    data = load_dataset("digits")
    torch.manual_seed(0)
    case = Case(model="dense", depth=1, optimizer=name)
    model = build_model(case, data.input_shape, 10)
    optimizer = build_optimizer(case, model)
    loss = lambda: torch.nn.functional.cross_entropy(model(data.x_train), data.y_train).item()  # noqa: E731
    before = float(loss())
    for _ in range(5):
        full_batch_step(model, optimizer, data, 256)
    assert float(loss()) < before


@pytest.mark.parametrize("schedule, expected", [
    ("constant", [1.0, 1.0, 1.0, 1.0]),
    ("exponential", [1.0, 0.8, 0.64, 0.512]),
    ("step", [1.0, 1.0, 1.0, 0.5]),      # epochs 9 -> step every 3 epochs
    ("cosine", [1.0, 0.96985, 0.88302, 0.75]),
])
def test_schedules_apply_per_epoch(schedule, expected):
    assert set(SCHEDULES) == {"constant", "exponential", "step", "cosine", "warmup-cosine"}  # per step: test_budget
    case = Case(optimizer="sgd", lr=1.0, schedule=schedule, epochs=9)
    optimizer = build_optimizer(case, torch.nn.Linear(2, 2))
    sched = build_schedule(case, optimizer)
    seen = []
    for _ in range(4):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        sched.step()
    assert seen == pytest.approx(expected, abs=1e-4)


def test_full_batch_gradient_equals_one_big_batch():
    data = load_dataset("digits")
    torch.manual_seed(0)
    case = Case(model="dense", depth=1, optimizer="gd", lr=0.1)
    a = build_model(case, data.input_shape, 10)
    b = build_model(case, data.input_shape, 10)
    b.load_state_dict(a.state_dict())
    full_batch_step(a, build_optimizer(case, a), data, chunk=100)   # 15 chunks accumulated
    full_batch_step(b, build_optimizer(case, b), data, chunk=10_000)  # one chunk
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)
