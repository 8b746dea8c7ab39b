"""What a lever is: the case fields it adds, how it checks and names them, and one hook for each phase of a case
at which a lever acts. The registry (suite/levers/__init__.py) calls the hooks of every lever in its order; a
lever overrides only the hooks of the phases it acts at, the others do nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from suite.plumbing.fields import CaseField


@dataclass(frozen=True)
class AfterTraining:
    """What the after-training phase gets from the runner (the layers above the levers): the case's data on its
    device, and the runner's own procedures, so a lever measures the way every case is measured."""

    data: object  # suite.workloads.data.Dataset, on `device`
    device: object  # torch.device
    evaluate: Callable  # (model, x, y) -> (accuracy, loss): the training loop's evaluation
    latency_p50: Callable  # model -> batch-1 latency p50 in ms, by the run's latency procedure
    finetune: Callable  # (case, model) -> TrainOutcome: train `model` in place on the case's training split


class Lever:
    """One lever. Phases, in the order a case meets them:

    1. `process_environment`: variables the case's process needs before `import torch` (the case then runs in a fresh
       process of its own), and `in_process` once that process has started;
    2. `build`: the freshly built model and the data, before anything is timed;
    3. `scope`: a context around the whole measurement of the case (training step, training, inference);
       `training_model`: the model the timed training step runs;
    4. `after_training`: the trained model becomes what inference and accuracy then measure (compression,
       export to a deployment runtime), with the figures of that change;
    5. `inference_model`: the model the latency and batched-inference calls run.
    """

    fields: tuple[CaseField, ...] = ()

    def validate(self, case) -> None:
        """ConfigError naming the field when the lever's fields, or their combination with others, cannot run."""

    def id_parts(self, case) -> list[str]:
        """Fragments of the case's id; none at the lever's defaults, so existing ids stay valid."""
        return []

    def availability(self, case) -> tuple[bool, str]:
        """(True, "") when this machine can run the lever as the case sets it, else (False, what it lacks)."""
        return True, ""

    def process_environment(self, case) -> dict[str, str]:
        """Process variables the case needs before torch starts; {} when it can run in any process."""
        return {}

    def in_process(self, case) -> None:
        """What the case's own process sets once it runs, before any measured work."""

    def build(self, case, model, data, device):
        """(model, data) with the lever applied to the freshly built model."""
        return model, data

    def scope(self, case):
        """A context manager around the case's measurement (a setting made for the case and restored after)."""
        return contextlib.nullcontext()

    def training_model(self, case, model):
        """The model the timed training step runs."""
        return model

    def after_training(self, case, model, outcome, tools: AfterTraining) -> tuple[object, object, dict]:
        """(model, outcome, metrics) after training: the model inference then measures, the outcome whose accuracy
        the case reports, and the figures of the change."""
        return model, outcome, {}

    def inference_model(self, case, model):
        """The model the latency and batched-inference calls run."""
        return model
