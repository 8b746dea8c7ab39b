"""Training to a budget of epochs, evaluation, and the single training step that is timed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from suite.data import Dataset
from suite.devices import synchronize
from suite.optim import OPTIMIZERS, build_optimizer, build_schedule


@dataclass
class TrainOutcome:
    """What training a case to its budget produced."""

    status: str  # ok | diverged
    test_accuracy: float | None
    test_loss: float | None
    train_seconds: float  # training only; evaluation excluded
    eval_seconds: list[float] = field(default_factory=list)  # one full test-split pass per epoch
    history: list[dict] = field(default_factory=list)
    diverged_step: int | None = None
    last_finite_loss: float | None = None


def batches(data: Dataset, batch_size: int, generator: torch.Generator, full_only: bool = False):
    """Index tensors of one shuffled pass over the training split (the last batch may be short)."""
    perm = torch.randperm(len(data.y_train), generator=generator).to(data.y_train.device)
    chunks = perm.split(batch_size)
    return chunks[:-1] if full_only and len(chunks) > 1 and len(chunks[-1]) < batch_size else chunks


def minibatch_step(model, optimizer, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One update on one batch; returns the detached loss (no host sync)."""
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach()


def full_batch_step(model, optimizer, data: Dataset, chunk: int) -> torch.Tensor:
    """One update over the whole training split, gradients accumulated over chunks of `chunk`."""
    optimizer.zero_grad(set_to_none=True)
    n = len(data.y_train)
    total = torch.zeros((), device=data.y_train.device)
    for x, y in zip(data.x_train.split(chunk), data.y_train.split(chunk)):
        loss = F.cross_entropy(model(x), y, reduction="sum") / n
        loss.backward()
        total += loss.detach()
    optimizer.step()
    return total


def make_train_step(case, model, data: Dataset):
    """(step, samples_per_step): a closure doing one training update of the case's kind, cycling
    through shuffled full batches; what throughput is measured on."""
    optimizer = build_optimizer(case, model)
    model.train()
    if OPTIMIZERS[case.optimizer].full_batch:
        return (lambda: full_batch_step(model, optimizer, data, case.batch_size)), len(data.y_train)
    generator = torch.Generator().manual_seed(case.seed)
    pending = []

    def step():
        if not pending:
            pending.extend(batches(data, case.batch_size, generator, full_only=True))
        idx = pending.pop()
        return minibatch_step(model, optimizer, data.x_train[idx], data.y_train[idx])

    return step, min(case.batch_size, len(data.y_train))


@torch.inference_mode()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> tuple[float, float]:
    """(accuracy, mean cross-entropy loss) over a split, in eval mode."""
    model.eval()
    correct, loss = 0, 0.0
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        logits = model(xb)
        loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    return correct / len(y), loss / len(y)


def _finite_or_none(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


def train(case, model, data: Dataset, device: torch.device) -> TrainOutcome:
    """Train for case.epochs, evaluating the test split after each epoch (outside the training clock).

    A NaN or infinite loss stops training with status 'diverged' and the global step it appeared at.
    """
    optimizer, full_batch = build_optimizer(case, model), OPTIMIZERS[case.optimizer].full_batch
    schedule = build_schedule(case, optimizer)
    generator = torch.Generator().manual_seed(case.seed)
    outcome = TrainOutcome("ok", None, None, 0.0)
    steps, last_finite = 0, None
    for epoch in range(1, case.epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        synchronize(device)
        start = time.perf_counter()
        if full_batch:
            losses = [full_batch_step(model, optimizer, data, case.batch_size)]
        else:
            losses = [minibatch_step(model, optimizer, data.x_train[i], data.y_train[i])
                      for i in batches(data, case.batch_size, generator)]
        synchronize(device)
        outcome.train_seconds += time.perf_counter() - start
        losses = torch.stack(losses).float().cpu()
        finite = torch.isfinite(losses)
        if finite.any():
            last_finite = float(losses[finite][-1])
        if not finite.all():
            outcome.status = "diverged"
            outcome.diverged_step = steps + int((~finite).nonzero()[0]) + 1
            outcome.last_finite_loss = last_finite
            break
        steps += len(losses)
        start = time.perf_counter()
        accuracy, test_loss = evaluate(model, data.x_test, data.y_test)
        outcome.eval_seconds.append(time.perf_counter() - start)
        outcome.history.append({"epoch": epoch, "train_loss": float(losses.mean()), "test_accuracy": accuracy,
                                "test_loss": _finite_or_none(test_loss), "wall_time_s": outcome.train_seconds,
                                "lr": lr})
        schedule.step()
    if outcome.status == "ok":
        outcome.test_accuracy, outcome.test_loss = accuracy, _finite_or_none(test_loss)
    return outcome
