"""The acceleration levers: the registry, and each phase's hook called on every lever in registry order.

A lever is one module with one `Lever` (suite/levers/lever.py: its case fields and a hook per phase) and one line in
LEVERS below. The registry order is the order of the levers' fragments in a case's id: keep it, so that existing ids
and the history stay valid.
"""

from __future__ import annotations

import contextlib

from suite.levers.compilation import Compile
from suite.levers.compression import Compression
from suite.levers.determinism import Determinism
from suite.levers.distributed import DataParallel
from suite.levers.environment import Environment
from suite.levers.lever import AfterTraining, Lever
from suite.levers.memory_format import MemoryFormat
from suite.levers.precision import Precision
from suite.levers.runtime import Runtime
from suite.levers.threads import Threads
from suite.measure.devices import availability as device_availability
from suite.optim import fused_availability
from suite.workloads import keras_seed

LEVERS: tuple[Lever, ...] = (Precision(), Compile(), MemoryFormat(), Compression(), Threads(), DataParallel(),
                             Runtime(), Environment(), Determinism())
FIELDS = tuple(field for lever in LEVERS for field in lever.fields)
LEVER_CHOICES = {field.name: field.choices for field in FIELDS if field.choices}

__all__ = ["AfterTraining", "FIELDS", "LEVERS", "LEVER_CHOICES", "after_training", "availability", "build",
           "id_parts", "in_process", "inference_model", "process_environment", "scope", "training_model", "validate"]


def validate(case) -> None:
    """Check every lever's fields and combinations (called when a Case is made); ConfigError names the field."""
    for lever in LEVERS:
        lever.validate(case)


def id_parts(case) -> list[str]:
    """Id fragments for the levers that differ from their defaults (an all-default case adds none)."""
    return [part for lever in LEVERS for part in lever.id_parts(case)]


def availability(case) -> tuple[bool, str]:
    """(True, "") when the case's device, every lever it uses, its optimizer's fused kernel and its framework can
    run here, else the first reason."""
    checks = [lambda c: device_availability(c.device), *(lever.availability for lever in LEVERS), fused_availability,
              keras_seed.availability]
    for check in checks:
        ok, reason = check(case)
        if not ok:
            return ok, reason
    return True, ""


def process_environment(case) -> dict[str, str]:
    """Phase 1: the variables the case's process needs before torch starts ({}: any process will do)."""
    variables: dict[str, str] = {}
    for lever in LEVERS:
        variables |= lever.process_environment(case)
    return variables


def in_process(case) -> None:
    """Phase 1, in the case's own process once it runs."""
    for lever in LEVERS:
        lever.in_process(case)


def build(case, model, data, device):
    """Phase 2: (model, data) with every lever applied to the freshly built model."""
    for lever in LEVERS:
        model, data = lever.build(case, model, data, device)
    return model, data


@contextlib.contextmanager
def scope(case):
    """Phase 3: every lever's setting for the case's measurement, restored after."""
    with contextlib.ExitStack() as stack:
        for lever in LEVERS:
            stack.enter_context(lever.scope(case))
        yield


def training_model(case, model):
    """Phase 3: the model the timed training step runs."""
    for lever in LEVERS:
        model = lever.training_model(case, model)
    return model


def after_training(case, model, outcome, tools: AfterTraining) -> tuple[object, object, dict]:
    """Phase 4: (model, outcome, metrics) once every lever acted on the trained model, in registry order."""
    metrics: dict = {}
    for lever in LEVERS:
        model, outcome, figures = lever.after_training(case, model, outcome, tools)
        metrics |= figures
    return model, outcome, metrics


def inference_model(case, model):
    """Phase 5: the model the latency and batched-inference calls run."""
    for lever in LEVERS:
        model = lever.inference_model(case, model)
    return model
