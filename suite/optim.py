"""Optimizers and learning-rate schedules, one registry each (name -> spec)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class OptimizerSpec:
    """How to build one optimizer, and the learning rate a case gets when it names none."""

    description: str
    default_lr: float
    build: Callable  # (params, lr, weight_decay) -> torch.optim.Optimizer
    full_batch: bool = False  # one update per epoch over the whole training set


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
        lambda p, lr, wd: torch.optim.Adam(p, lr=lr, weight_decay=wd)),
    "adamw": OptimizerSpec(
        "AdamW: decoupled weight decay", 1e-3, lambda p, lr, wd: torch.optim.AdamW(p, lr=lr, weight_decay=wd)),
}

# Schedules are stepped once per epoch; each builder takes (optimizer, epochs).
SCHEDULES = {
    "constant": ("the learning rate never changes",
                 lambda opt, epochs: torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0)),
    "exponential": ("multiply by gamma 0.8 after every epoch",
                    lambda opt, epochs: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8)),
    "step": ("step decay: halve every max(1, epochs // 3) epochs",
             lambda opt, epochs: torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.5)),
    "cosine": ("cosine annealing to 0 over the case's epochs",
               lambda opt, epochs: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)),
}


def build_optimizer(case, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The case's optimizer over the model's parameters, with its lr and L2 weight decay."""
    return OPTIMIZERS[case.optimizer].build(model.parameters(), case.lr, case.weight_decay)


def build_schedule(case, optimizer: torch.optim.Optimizer):
    """The case's learning-rate schedule, to be stepped once at the end of every epoch."""
    return SCHEDULES[case.schedule][1](optimizer, case.epochs)
