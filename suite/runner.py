"""The whole flow of one case: prepare -> measure the training step -> train -> measure inference.

Both front ends use these pieces: `tradeoff-bench run` through `run_case`, and
`pytest benchmarks` through `prepare`, `train_step`, `latency_call` and `batch_call`.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

import numpy as np
import torch

from suite.cases import Case
from suite.data import Dataset, load_dataset
from suite.devices import availability, torch_device
from suite.measure import flops_per_sample, latency_metrics, throughput_metrics, time_rounds
from suite.models import build_model, count_params
from suite.results import CaseResult
from suite.train import TrainOutcome, evaluate, make_train_step, train


@dataclass(frozen=True)
class MeasureConfig:
    """How many rounds each measurement takes (the same for the CLI and pytest-benchmark)."""

    train_rounds: int = 10
    train_steps_per_round: int = 5
    train_warmup_rounds: int = 2
    latency_calls: int = 100
    latency_warmup: int = 10
    infer_rounds: int = 10


@dataclass
class Prepared:
    """A case ready to measure: its device, its data on that device, and the initial model."""

    case: Case
    device: torch.device
    data: Dataset
    model: torch.nn.Module


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare(case: Case, data_dir=None, download: bool = False) -> Prepared:
    """Load the data onto the case's device and build the seeded initial model there."""
    device = torch_device(case.device)
    data = load_dataset(case.dataset, data_dir, download).to(device)
    seed_everything(case.seed)
    model = build_model(case, data.input_shape, data.num_classes).to(device)
    return Prepared(case, device, data, model)


def model_metrics(p: Prepared) -> dict:
    """Parameter count (shared weights once) and FLOPs per sample."""
    return {"params": count_params(p.model), **flops_per_sample(p.model, p.data.x_train, p.data.y_train)}


def train_step(p: Prepared):
    """(step, samples_per_step) on a fresh copy of the initial model, so timing trains nothing that
    the accuracy run uses."""
    return make_train_step(p.case, copy.deepcopy(p.model), p.data)


def latency_call(p: Prepared, model: torch.nn.Module):
    """One batch-1 forward in eval mode under inference_mode: what latency is measured on."""
    model.eval()
    x = p.data.x_test[:1]

    def call():
        with torch.inference_mode():
            return model(x)

    return call


def batch_call(p: Prepared, model: torch.nn.Module):
    """(call, samples) for one forward at the case's batch size: batched inference throughput."""
    model.eval()
    x = p.data.x_test[: p.case.batch_size]

    def call():
        with torch.inference_mode():
            return model(x)

    return call, len(x)


def train_for_accuracy(p: Prepared) -> tuple[torch.nn.Module, TrainOutcome]:
    """Train a copy of the initial model to the case's budget (the seed fixes the batch order)."""
    model = copy.deepcopy(p.model)
    return model, train(p.case, model, p.data, p.device)


def accuracy_metrics(outcome: TrainOutcome) -> dict:
    """The accuracy group's extra_info."""
    metrics = {"test_accuracy": outcome.test_accuracy, "test_loss": outcome.test_loss,
               "train_seconds": outcome.train_seconds, "history": outcome.history}
    if outcome.status == "diverged":
        metrics |= {"diverged_step": outcome.diverged_step, "last_finite_loss": outcome.last_finite_loss}
    return metrics


def run_case(case: Case, config: MeasureConfig = MeasureConfig(), data_dir=None, download=False) -> CaseResult:
    """Measure one case. An absent device gives 'skipped', an unexpected failure 'error': the run goes on."""
    ok, reason = availability(case.device)
    if not ok:
        return CaseResult(case.id, case.as_dict(), "skipped", reason)
    try:
        p = prepare(case, data_dir, download)
        metrics = model_metrics(p)
        step, per_step = train_step(p)
        train_seconds = time_rounds(step, p.device, config.train_rounds, config.train_steps_per_round,
                                    config.train_warmup_rounds)
        metrics |= throughput_metrics("train", train_seconds, per_step)
        model, outcome = train_for_accuracy(p)
        metrics |= accuracy_metrics(outcome)
        if not outcome.eval_seconds:  # diverged in its first epoch: still time one evaluation
            outcome.eval_seconds = time_rounds(lambda: evaluate(model, p.data.x_test, p.data.y_test),
                                               p.device, 1, 1, 0)
        latency = time_rounds(latency_call(p, model), p.device, config.latency_calls, 1, config.latency_warmup)
        metrics |= latency_metrics(latency)
        call, batch = batch_call(p, model)
        metrics |= throughput_metrics("infer", time_rounds(call, p.device, config.infer_rounds, 1, 1), batch)
    except torch.cuda.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        return CaseResult(case.id, case.as_dict(), "error", f"out of memory: {str(exc).splitlines()[0]}")
    except Exception as exc:  # one case failing must not lose the others
        return CaseResult(case.id, case.as_dict(), "error", f"{type(exc).__name__}: {exc}".splitlines()[0])
    samples = {"train": train_seconds, "infer": latency, "accuracy": outcome.eval_seconds}
    reason = f"loss not finite at step {outcome.diverged_step}" if outcome.status == "diverged" else ""
    return CaseResult(case.id, case.as_dict(), outcome.status, reason, metrics, samples)
