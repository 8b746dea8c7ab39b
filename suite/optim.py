"""Optimizers and learning-rate schedules, one registry each (name -> spec), and the recipe fields that act on
them: Adam's beta2, weight decay on matrices only, gradient clipping, warm-up and the floor of warmup-cosine."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from suite.plumbing.errors import ConfigError
from suite.plumbing.fields import CaseField, check_number


@dataclass(frozen=True)
class OptimizerSpec:
    """How to build one optimizer, and the learning rate a case gets when it names none."""

    description: str
    default_lr: float
    build: Callable  # (params, lr, weight_decay) -> torch.optim.Optimizer
    full_batch: bool = False  # one update per epoch over the whole training set
    betas: bool = False  # has Adam's (beta1, beta2): the `beta2` field applies
    fusable: bool = False  # torch.optim has a fused implementation (`fused=True`): the `fused` field applies


OPTIMIZERS = {
    "gd": OptimizerSpec(
        "full-batch gradient descent: one update per epoch, gradients accumulated over chunks",
        0.5, lambda p, lr, wd: torch.optim.SGD(p, lr=lr, weight_decay=wd), full_batch=True),
    "sgd": OptimizerSpec("mini-batch SGD", 0.05, lambda p, lr, wd: torch.optim.SGD(p, lr=lr, weight_decay=wd)),
    "momentum": OptimizerSpec(
        "SGD with heavy-ball momentum 0.9", 0.01,
        lambda p, lr, wd: torch.optim.SGD(p, lr=lr, momentum=0.9, weight_decay=wd)),
    "nesterov": OptimizerSpec(
        "SGD with Nesterov momentum 0.9", 0.01,
        lambda p, lr, wd: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)),
    "adagrad": OptimizerSpec("Adagrad", 0.01, lambda p, lr, wd: torch.optim.Adagrad(p, lr=lr, weight_decay=wd)),
    "rmsprop": OptimizerSpec(
        "RMSprop (alpha 0.99)", 1e-3, lambda p, lr, wd: torch.optim.RMSprop(p, lr=lr, weight_decay=wd)),
    "adam": OptimizerSpec(
        "Adam (betas 0.9, 0.999); weight_decay is an L2 term in the gradient", 1e-3,
        lambda p, lr, wd, **kw: torch.optim.Adam(p, lr=lr, weight_decay=wd, **kw), betas=True, fusable=True),
    "adamw": OptimizerSpec(
        "AdamW: decoupled weight decay", 1e-3,
        lambda p, lr, wd, **kw: torch.optim.AdamW(p, lr=lr, weight_decay=wd, **kw), betas=True, fusable=True),
}

# Schedules are stepped once per epoch (per evaluation interval under a steps budget); each builder takes
# (optimizer, epochs). warmup-cosine is stepped after every optimizer step and built by build_schedule.
PER_STEP = "warmup-cosine"
SCHEDULES = {
    "constant": ("the learning rate never changes",
                 lambda opt, epochs: torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0)),
    "exponential": ("multiply by gamma 0.8 after every epoch",
                    lambda opt, epochs: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8)),
    "step": ("step decay: halve every max(1, epochs // 3) epochs",
             lambda opt, epochs: torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.5)),
    "cosine": ("cosine annealing to 0 over the case's epochs",
               lambda opt, epochs: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)),
    PER_STEP: ("linear warm-up over warmup_steps, then cosine decay to the floor min_lr (default lr/10) at the "
               "budget's last step, set every optimizer step (nanoGPT's get_lr)", None),
}

OPTIMIZER_FIELDS = (
    CaseField("optimizer", "str", "adam", "the optimizer", OPTIMIZERS),
    CaseField("lr", "float | None", None, "learning rate (unset: the optimizer's default)"),
    CaseField("schedule", "str", "constant", "learning-rate schedule", SCHEDULES),
    CaseField("weight_decay", "float", 0.0, "weight decay"),
)
RECIPE_FIELDS = (
    CaseField("beta2", "float | None", None, "Adam's second-moment coefficient (adam, adamw; unset: 0.999)"),
    CaseField("decay_2d_only", "bool", False, "weight decay on tensors of 2+ dimensions only (no biases, norms)"),
    CaseField("grad_clip", "float | None", None, "clip the gradients' global norm to this"),
    CaseField("warmup_steps", "int | None", None, "warmup-cosine: linear warm-up steps (default 0)"),
    CaseField("min_lr", "float | None", None, "warmup-cosine: the floor the cosine decays to (default lr / 10)"),
    CaseField("fused", "bool", False, "adam/adamw: torch.optim's fused implementation"),
)


def validate_optimizer(case) -> None:
    """Check lr (the optimizer's default when unset) and weight_decay (called when a Case is made)."""
    if case.lr is None:
        object.__setattr__(case, "lr", OPTIMIZERS[case.optimizer].default_lr)
    check_number(case, "lr", positive=True)
    check_number(case, "weight_decay", positive=False)



def build_optimizer(case, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The case's optimizer over the model's parameters, with its lr and weight decay (on every parameter, or
    with decay_2d_only on the matrices alone), its beta2 where set, and torch.optim's fused implementation
    (one kernel for the whole update) when `fused`."""
    extra = {"fused": True} if case.fused else {}
    optimizer = OPTIMIZERS[case.optimizer].build(parameter_groups(model, case.weight_decay, case.decay_2d_only),
                                                 case.lr, case.weight_decay, **extra)
    if case.beta2 is not None:
        for group in optimizer.param_groups:
            group["betas"] = (group["betas"][0], case.beta2)
    return optimizer


def parameter_groups(model: torch.nn.Module, weight_decay: float, decay_2d_only: bool):
    """The model's parameters, or with decay_2d_only two groups as nanoGPT's configure_optimizers makes them:
    tensors of 2 or more dimensions (matmul weights, embeddings) decayed, the rest (biases, norms) not."""
    if not decay_2d_only:
        return model.parameters()
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def warmup_cosine(step: int, lr: float, warmup_steps: int, total_steps: int, min_lr: float) -> float:
    """The learning rate of optimizer step `step` (0-based), nanoGPT's get_lr: lr (step + 1) / (warmup + 1) while
    warming up, then a cosine from lr down to min_lr at step `total_steps`, and min_lr after it."""
    if step < warmup_steps:
        return lr * (step + 1) / (warmup_steps + 1)
    if step >= total_steps:
        return min_lr
    ratio = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def build_schedule(case, optimizer: torch.optim.Optimizer, total_steps: int | None = None,
                   intervals: int | None = None):
    """The case's learning-rate schedule: warmup-cosine over `total_steps` optimizer steps (stepped after each),
    the others stepped once at the end of every epoch, or of each of `intervals` under a steps budget."""
    if case.schedule == PER_STEP:
        peak = case.lr
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(
            step, peak, case.warmup_steps, total_steps, case.min_lr) / peak)
    return SCHEDULES[case.schedule][1](optimizer, intervals or case.epochs)


def validate_recipe(case) -> None:
    """Check the recipe fields (called from Case.__post_init__); fields that do not apply are set to null: beta2
    without an Adam optimizer, warmup_steps and min_lr without warmup-cosine, decay_2d_only without decay."""
    if not isinstance(case.decay_2d_only, bool):
        raise ConfigError(f"field 'decay_2d_only' must be true or false, got {case.decay_2d_only!r}")
    if not case.weight_decay:
        object.__setattr__(case, "decay_2d_only", False)
    if case.grad_clip is not None and (_not_number(case.grad_clip) or case.grad_clip <= 0):
        raise ConfigError(f"field 'grad_clip' must be a number > 0 (the largest gradient norm), got {case.grad_clip!r}")
    if not isinstance(case.fused, bool):
        raise ConfigError(f"field 'fused' must be true or false, got {case.fused!r}")
    if case.fused and not OPTIMIZERS[case.optimizer].fusable:
        fusable = ", ".join(name for name, spec in OPTIMIZERS.items() if spec.fusable)
        raise ConfigError(f"field 'fused' applies to optimizers {fusable} (torch.optim's fused implementation), "
                          f"got optimizer {case.optimizer!r}")
    if not OPTIMIZERS[case.optimizer].betas:
        object.__setattr__(case, "beta2", None)
    if case.beta2 is not None and (_not_number(case.beta2) or not 0 <= case.beta2 < 1):
        raise ConfigError(f"field 'beta2' must be a number in [0, 1), got {case.beta2!r}")
    for name in ("beta2", "grad_clip"):
        if getattr(case, name) is not None:
            object.__setattr__(case, name, float(getattr(case, name)))
    if case.schedule != PER_STEP:
        object.__setattr__(case, "warmup_steps", None)
        object.__setattr__(case, "min_lr", None)
        return
    warmup = 0 if case.warmup_steps is None else case.warmup_steps
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ConfigError(f"field 'warmup_steps' must be an integer >= 0, got {warmup!r}")
    floor = case.lr / 10 if case.min_lr is None else case.min_lr
    if _not_number(floor) or not 0 <= floor <= case.lr:
        raise ConfigError(f"field 'min_lr' must be a number in [0, lr = {case.lr:g}], got {floor!r}")
    object.__setattr__(case, "warmup_steps", warmup)
    object.__setattr__(case, "min_lr", float(floor))


def fused_availability(case) -> tuple[bool, str]:
    """(True, "") unless the case asks for the fused optimizer on a device torch.optim has no fused kernels for."""
    if not case.fused:
        return True, ""
    from torch.optim.optimizer import _get_fused_kernels_supported_devices

    devices = _get_fused_kernels_supported_devices()
    if case.device in devices:
        return True, ""
    return False, f"fused {case.optimizer} has no kernels for device {case.device} in this torch " \
                  f"(supported: {', '.join(devices)})"


def _not_number(value) -> bool:
    return isinstance(value, bool) or not isinstance(value, (int, float)) or value != value


def recipe_id_parts(case) -> dict[str, list[str]]:
    """Id fragments of the recipe fields that are set, keyed by the id part they follow (lr, schedule, wd)."""
    return {
        "lr": ([f"beta2-{case.beta2:g}"] if case.beta2 is not None else []) + (["fused"] if case.fused else []),
        "schedule": [f"wu{case.warmup_steps}", f"min{case.min_lr:g}"] if case.schedule == PER_STEP else [],
        "wd": (["decay2d"] if case.decay_2d_only else []) + ([f"clip{case.grad_clip:g}"] if case.grad_clip else []),
    }
