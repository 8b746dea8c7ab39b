"""The training budget: `epochs` (shuffled passes over the training split) or `steps` (optimizer steps), and the
evaluation intervals that cut it into the history's entries.

    epochs = E              E intervals, each one shuffled pass; the held-out split is evaluated after each
    steps = S               S optimizer steps on full batches drawn from successive shuffled passes; evaluated
    eval_interval = I       every I steps and after the last one (without I: once, after the last step)

Under a steps budget an evaluation interval plays the epoch's part: the history has one entry per interval,
epoch-stepped schedules (step, cosine, ...) step once per interval, and fine-tuning after pruning lasts
`finetune_epochs` intervals. `eval_batches` cuts the held-out split to that many batches (suite.workloads.data).
"""

from __future__ import annotations

import itertools
import math

from suite.optim import OPTIMIZERS
from suite.plumbing.errors import ConfigError
from suite.plumbing.fields import CaseField, check_optional_int

FIELDS = (
    CaseField("steps", "int | None", None, "a budget of optimizer steps instead of epochs (epochs is then null)"),
    CaseField("eval_interval", "int | None", None, "steps between held-out evaluations (unset: after the last)"),
    CaseField("eval_batches", "int | None", None, "held-out evaluation on this many batches (unset: the whole split)"),
    CaseField("target_val_loss", "float | None", None, "time-to-target is read off the history at this held-out loss"),
)


def validate_budget(case) -> None:
    """Check steps, eval_interval, eval_batches and target_val_loss (called from Case.__post_init__). A steps
    budget replaces epochs, which is then null."""
    for name in ("steps", "eval_interval", "eval_batches"):
        check_optional_int(case, name, 1)
    if case.steps is not None:
        object.__setattr__(case, "epochs", None)
    elif case.eval_interval is not None:
        raise ConfigError("field 'eval_interval' needs a steps budget (an epochs budget evaluates after each epoch)")
    if case.target_val_loss is not None:
        value = case.target_val_loss
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"field 'target_val_loss' must be a number > 0 (nats per token), got {value!r}")
        if case.target_accuracy is not None:
            raise ConfigError("set one of target_accuracy and target_val_loss, not both")
        object.__setattr__(case, "target_val_loss", float(value))


def budget_id_part(case) -> str:
    """`st2000` for a steps budget, `e10` for epochs."""
    return f"st{case.steps}" if case.steps is not None else f"e{case.epochs}"


def evaluation_id_parts(case) -> list[str]:
    """`ev250` (evaluation interval), `eb20` (held-out batches) and `tl1.95` (target loss), each when set."""
    parts = [f"ev{case.eval_interval}"] if case.eval_interval is not None else []
    parts += [f"eb{case.eval_batches}"] if case.eval_batches is not None else []
    return parts + ([f"tl{case.target_val_loss:g}"] if case.target_val_loss is not None else [])


def interval_sizes(case) -> list[int]:
    """Steps per evaluation interval under a steps budget: eval_interval each, the remainder last."""
    every = case.eval_interval or case.steps
    sizes = [every] * (case.steps // every)
    return sizes + ([case.steps % every] if case.steps % every else [])


def interval_count(case) -> int:
    """How many evaluation intervals (history entries) the budget has: the epochs, or the steps' intervals."""
    return case.epochs if case.steps is None else len(interval_sizes(case))


def total_steps(case, train_size: int) -> int:
    """Optimizer steps in the whole budget (what warmup-cosine decays over); an epoch is ceil(n / batch) steps,
    one for full-batch gd."""
    if case.steps is not None:
        return case.steps
    return case.epochs * (1 if OPTIMIZERS[case.optimizer].full_batch else math.ceil(train_size / case.batch_size))


def interval_batches(case, passes, full_batch: bool):
    """Per evaluation interval, what each of its steps trains on: index batches, or None for a full-batch step.

    `passes()` returns the batches of one new shuffled pass. An epochs budget takes one pass per epoch (the
    last batch may be short); a steps budget takes full batches from as many successive passes as it needs.
    """
    if case.steps is None:
        for _ in range(case.epochs):
            yield [None] if full_batch else passes()
        return
    stream = itertools.repeat(None) if full_batch else itertools.chain.from_iterable(_forever(passes))
    for size in interval_sizes(case):
        yield list(itertools.islice(stream, size))


def _forever(passes):
    while True:
        batches = passes()
        if not batches:
            raise ConfigError("a training pass has no batch (training split smaller than the world size?)")
        yield batches


def finetune_case(case):
    """The case that fine-tunes after pruning: `finetune_epochs` epochs, or as many evaluation intervals under a
    steps budget (of eval_interval steps each, or of the whole budget without one)."""
    if case.steps is None:
        return case.replace(epochs=case.finetune_epochs)
    every = case.eval_interval or case.steps
    return case.replace(steps=case.finetune_epochs * every, eval_interval=every)
