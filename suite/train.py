"""Training to a budget of epochs, evaluation, and the single training step that is timed."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from suite import budget
from suite.levers.precision import grad_scaler
from suite.measure.devices import synchronize
from suite.optim import OPTIMIZERS, PER_STEP, build_optimizer, build_schedule
from suite.results.study import target_metrics
from suite.workloads.data import Dataset, batches

# Test-only: a case whose id contains this variable's value fails its training step with a real
# allocation failure, which exercises the run's out-of-memory path without filling a device.
SIMULATE_OOM_ENV = "TRADEOFF_BENCH_SIMULATE_OOM"
IMPOSSIBLE_BYTES = 2**62  # 4 EiB: beyond any machine's memory and x86-64's 57-bit virtual address space
# Test-only: a fraction such as 0.15 makes every timed training step 15% slower by doing real extra work;
# benchmarks/regression_rates.py uses it to measure how often the nightly gate detects an injected slowdown.
# $TRADEOFF_BENCH_INJECT_SLOWDOWN_CASE, when set, limits it to the cases whose id contains that text.
INJECT_SLOWDOWN_ENV = "TRADEOFF_BENCH_INJECT_SLOWDOWN"
INJECT_SLOWDOWN_CASE_ENV = "TRADEOFF_BENCH_INJECT_SLOWDOWN_CASE"


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
    target_metrics: dict = field(default_factory=dict)  # time_to_target_s, epochs_to_target or steps_to_target
    samples: int = 0  # training samples this process stepped through
    e2e_seconds: float = 0.0  # the training phase's wall time: batch drawing and syncs in, evaluation out


def sharded(chunks, shard: tuple[int, int]):
    """Rank shard[0]'s part of each batch of index tensors: every shard[1]-th sample. A batch smaller
    than the world size is dropped (some rank would get no sample); with (0, 1) all pass unchanged."""
    rank, world = shard
    return [c[rank::world] for c in chunks if len(c) >= world] if world > 1 else list(chunks)


def task_loss(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of class logits (batch, classes) against labels (batch,), or of a language model's logits
    (batch, length, vocabulary) against next tokens (batch, length): one prediction per label either way."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction=reduction)


def clip_gradients(model, max_norm: float | None) -> None:
    """Scale the gradients so that their global L2 norm is at most max_norm (nothing when None)."""
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)


def minibatch_step(model, optimizer, x: torch.Tensor, y: torch.Tensor, scaler=None, clip=None) -> torch.Tensor:
    """One update on one batch (through the fp16 GradScaler when given, gradients clipped to `clip` when given);
    returns the detached loss."""
    optimizer.zero_grad(set_to_none=True)
    loss = task_loss(model(x), y)
    if scaler is None:
        loss.backward()
        clip_gradients(model, clip)
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        if clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            clip_gradients(model, clip)
        scaler.step(optimizer)
        scaler.update()
    return loss.detach()


def full_batch_step(model, optimizer, data: Dataset, chunk: int, clip=None) -> torch.Tensor:
    """One update over the whole training split, gradients accumulated over chunks of `chunk`."""
    optimizer.zero_grad(set_to_none=True)
    n = data.y_train.numel()
    total = torch.zeros((), device=data.y_train.device)
    for x, y in zip(data.x_train.split(chunk), data.y_train.split(chunk)):
        loss = task_loss(model(x), y, reduction="sum") / n
        loss.backward()
        total += loss.detach()
    clip_gradients(model, clip)
    optimizer.step()
    return total


def make_train_step(case, model, data: Dataset, shard: tuple[int, int] = (0, 1)):
    """(step, samples_per_step): a closure doing one training update of the case's kind, cycling
    through shuffled full batches (this rank's shard of each); what throughput is measured on."""
    optimizer, scaler = build_optimizer(case, model), grad_scaler(case.precision, data.x_train.device)
    model.train()
    simulate_oom = bool(os.environ.get(SIMULATE_OOM_ENV)) and os.environ[SIMULATE_OOM_ENV] in case.id
    if OPTIMIZERS[case.optimizer].full_batch:
        def full_step():
            if simulate_oom:
                torch.empty(IMPOSSIBLE_BYTES, dtype=torch.uint8, device=data.x_train.device)
            return full_batch_step(model, optimizer, data, case.batch_size, case.grad_clip)

        return with_injected_slowdown(full_step, data.x_train.device, case.id), len(data.y_train)
    generator = torch.Generator().manual_seed(case.seed)
    pending = []

    def prepare(calls: int) -> None:
        """Draw shuffled batch orders until `calls` batches wait: host work kept out of timed rounds."""
        while len(pending) < calls:
            pending[:0] = sharded(batches(data, case.batch_size, generator, full_only=True), shard)[::-1]

    def step():
        if simulate_oom:  # CUDA raises torch.cuda.OutOfMemoryError, the CPU allocator a RuntimeError
            torch.empty(IMPOSSIBLE_BYTES, dtype=torch.uint8, device=data.x_train.device)
        prepare(1)
        idx = pending.pop()
        return minibatch_step(model, optimizer, data.x_train[idx], data.y_train[idx], scaler, case.grad_clip)

    step = with_injected_slowdown(step, data.x_train.device, case.id)
    step.prepare = prepare
    return step, min(case.batch_size, len(data.y_train))


def with_injected_slowdown(step, device: torch.device, case_id: str = ""):
    """Test-only: `step` unchanged unless $TRADEOFF_BENCH_INJECT_SLOWDOWN is a fraction f > 0 (and, where
    $TRADEOFF_BENCH_INJECT_SLOWDOWN_CASE is set, the case id contains it); then each call is followed by f
    times its own duration of real work (small matrix products on the host), so the step is slowed in
    proportion whatever the case costs."""
    fraction = float(os.environ.get(INJECT_SLOWDOWN_ENV) or 0)
    only = os.environ.get(INJECT_SLOWDOWN_CASE_ENV)
    if fraction <= 0 or (only and only not in case_id):
        return step
    work = torch.ones(16, 16)

    def slowed():
        start = time.perf_counter()
        loss = step()
        synchronize(device)
        deadline = time.perf_counter() + fraction * (time.perf_counter() - start)
        while time.perf_counter() < deadline:
            torch.mm(work, work)
        return loss

    return slowed


@torch.inference_mode()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> tuple[float, float]:
    """(accuracy, mean cross-entropy loss) over a split, in eval mode; per token for a language model."""
    model.eval()
    correct, loss = 0, 0.0
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        logits = model(xb)
        loss += float(task_loss(logits, yb, reduction="sum"))
        correct += int((logits.argmax(-1) == yb).sum())
    return correct / y.numel(), loss / y.numel()


def _finite_or_none(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


def train(case, model, data: Dataset, device: torch.device, shard: tuple[int, int] = (0, 1),
          after_epoch=None, on_epoch=None) -> TrainOutcome:
    """Train to the case's budget (epochs, or steps: suite.budget), evaluating the held-out split (data.x_test:
    the test split, or the validation split of a tuning trial) after each epoch or evaluation interval, outside
    the training clock.

    `e2e_seconds` is the training phase's wall time: the train clock plus drawing each pass's batch order and the
    host work between steps, evaluation and the callbacks left out (what a user's loop timing would include).
    A NaN or infinite loss stops training with status 'diverged' and the global step it appeared at.
    `shard` = (rank, world_size): data-parallel training on this rank's shard of every batch.
    `after_epoch`, if given, is called after each interval's evaluation, outside both clocks; then `on_epoch`,
    if given, with the interval's history entry (progress display, suite/plumbing/progress.py), outside both clocks too.
    """
    optimizer, full_batch = build_optimizer(case, model), OPTIMIZERS[case.optimizer].full_batch
    scaler = grad_scaler(case.precision, device)
    per_step = case.schedule == PER_STEP
    schedule = build_schedule(case, optimizer, budget.total_steps(case, len(data.y_train)),
                              budget.interval_count(case))
    generator = torch.Generator().manual_seed(case.seed)
    full_only = case.steps is not None  # a steps budget counts full batches

    def passes():
        return sharded(batches(data, case.batch_size, generator, full_only=full_only), shard)

    outcome = TrainOutcome("ok", None, None, 0.0)
    steps, last_finite, outside = 0, None, 0.0  # outside: evaluation and callbacks, not the training phase
    synchronize(device)
    phase_start = time.perf_counter()
    for epoch, chunk in enumerate(budget.interval_batches(case, passes, full_batch), 1):
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        synchronize(device)
        start = time.perf_counter()
        losses = []
        for i in chunk:
            losses.append(full_batch_step(model, optimizer, data, case.batch_size, case.grad_clip) if full_batch
                          else minibatch_step(model, optimizer, data.x_train[i], data.y_train[i], scaler,
                                              case.grad_clip))
            if per_step:
                schedule.step()
        synchronize(device)
        outcome.train_seconds += time.perf_counter() - start
        outcome.samples += len(data.y_train) * len(chunk) if full_batch else sum(len(i) for i in chunk)
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
        if not per_step:
            schedule.step()
        start = time.perf_counter()
        accuracy, test_loss = evaluate(model, data.x_test, data.y_test)
        outcome.eval_seconds.append(time.perf_counter() - start)
        outcome.history.append({"epoch": epoch, "train_loss": float(losses.mean()), "test_accuracy": accuracy,
                                "test_loss": _finite_or_none(test_loss), "wall_time_s": outcome.train_seconds,
                                "lr": lr, "step": steps, "eval_s": outcome.eval_seconds[-1]})
        if after_epoch is not None:
            after_epoch()
        if on_epoch is not None:
            on_epoch(outcome.history[-1])
        outside += time.perf_counter() - start
    outcome.e2e_seconds = time.perf_counter() - phase_start - outside
    if outcome.status == "ok":
        outcome.test_accuracy, outcome.test_loss = accuracy, _finite_or_none(test_loss)
    outcome.target_metrics = target_metrics(case, outcome.history)  # null figures when never reached
    return outcome
