"""The whole flow of one case: prepare -> measure the training step -> train -> measure inference.

Both front ends use these pieces: `tradeoff-bench run` through `run_case`, and
`pytest benchmarks` through `prepare`, `train_step`, `latency_call` and `batch_call`.
"""

from __future__ import annotations

import copy
import dataclasses
import random
from dataclasses import dataclass

import numpy as np
import torch

from suite import budget, levers
from suite.cases import Case
from suite.levers import AfterTraining, availability, distributed, runtime
from suite.levers.compilation import compile_seconds
from suite.measure.cost import CostMeter, mfu_metrics
from suite.measure.devices import torch_device
from suite.measure.oom import is_out_of_memory, out_of_memory_result
from suite.measure.timing import flops_per_sample, latency_metrics, throughput_metrics, time_latency, time_rounds
from suite.optim import OPTIMIZERS
from suite.procedure import procedure_block
from suite.results.schema import CaseResult
from suite.train import TrainOutcome, evaluate, make_train_step, task_loss, train
from suite.workloads import keras_seed
from suite.workloads.data import Dataset, load_dataset, validation_split
from suite.workloads.lm import derived_metrics, flop_metrics
from suite.workloads.models import build_model, count_params


@dataclass(frozen=True)
class MeasureConfig:
    """How every case is measured, by both front ends (recorded as the run's procedure, suite.procedure)."""

    train_rounds: int = 6  # contiguous rounds, inside the cost meter
    train_steps_per_round: int = 5
    train_warmup_rounds: int = 2
    train_spread_rounds: int = 20  # more rounds taken between the epochs of the accuracy run (SpreadRounds)
    spread_warmup_steps: int = 1  # untimed steps before the spread rounds that follow each evaluation
    latency_calls: int = 1000  # p99 needs >= P99_MIN_SAMPLES calls: with fewer it is omitted (measure.py)
    latency_warmup: int = 10
    latency_bound_s: float = 10.0  # fewer calls (and no p99) where the warm-up says latency_calls would take longer
    infer_rounds: int = 10
    gc: str = "enabled"  # Python's garbage collector stays on during timed rounds, as in users' programs
    compile_seconds: bool = True  # time cold and warm compilation apart (four more compilations per compile case)
    timing_only: bool = False  # time the step and the forwards on the initial model; no training to the budget

    def procedure(self, front_end: str, executor: str = "local") -> dict:
        """This configuration as the run's procedure block (timing_only only when on: older runs compare as before)."""
        settings = {k: v for k, v in dataclasses.asdict(self).items() if k != "timing_only" or v}
        return procedure_block({**settings, "spread": "between epochs of the accuracy run",
                                "clock": "CUDA events on CUDA, else perf_counter after a device sync",
                                "torch_threads_default": torch.get_num_threads(),
                                "runtimes": runtime.procedure_notes()}, front_end, executor)


@dataclass
class Prepared:
    """A case ready to measure: its device, its data on that device, and the initial model."""

    case: Case
    device: torch.device
    data: Dataset
    model: torch.nn.Module
    data_dir: object = None  # where data-parallel ranks load the data again
    distributed: distributed.DistributedRun | None = None  # world_size > 1: timed steps and trained weights


# Where the same case and seed give the same figures to the last digit; the run records these notes in
# machine_info.tradeoff_bench.determinism. Source: https://pytorch.org/docs/stable/notes/randomness.html
DETERMINISM = {
    "cpu": "reproducible in practice: seeded torch, numpy and random, one batch order per seed, and CPU kernels "
           "without atomics give identical figures for the same torch version and thread count (checked by "
           "tests/test_determinism.py); the case field deterministic=true also demands "
           "torch.use_deterministic_algorithms(True), which raises on an op without a deterministic version",
    "cuda": "not guaranteed: some CUDA kernels (atomicAdd-based backward passes) are not deterministic; "
            "deterministic=true turns on torch.use_deterministic_algorithms(True), which also needs "
            "CUBLAS_WORKSPACE_CONFIG set before CUDA starts",
}
NOT_GUARANTEED = "not guaranteed: PyTorch documents no deterministic mode for this device"


def determinism_notes(devices) -> dict:
    """Per device name, whether its figures are reproducible to the last digit, and why not."""
    return {name: DETERMINISM.get(name, NOT_GUARANTEED) for name in devices}


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch. Deterministic algorithms are a lever (the case's `deterministic`
    field), never a hidden default: they change which kernels run and how fast (torch.compile included)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.are_deterministic_algorithms_enabled() != deterministic:  # setting it imports inductor (~1 s)
        torch.use_deterministic_algorithms(deterministic)


def prepare(case: Case, data_dir=None, download: bool = False, data: Dataset | None = None) -> Prepared:
    """Load the data (unless given: `data`, as load_dataset returned it) onto the case's device and build the
    seeded initial model there."""
    device = torch_device(case.device)
    data = load_dataset(case.dataset, data_dir, download) if data is None else data
    data = (validation_split(data) if case.eval_split == "validation" else data).to(device)
    data = data.for_case(case)  # a text corpus: windows of the case's context; eval_batches: the held-out part
    seed_everything(case.seed, case.deterministic)
    model = build_model(case, data.input_shape, data.num_classes).to(device)
    model, data = levers.build(case, model, data, device)  # memory format and precision
    return Prepared(case, device, data, model, data_dir)


# What each data-parallel rank runs (suite.levers.distributed spawns them).
RANK_WORK = distributed.RankWork(prepare, make_train_step, train)


def model_metrics(p: Prepared) -> dict:
    """Parameter count (shared weights once) and FLOPs per sample (a transformer's attention added by formula
    where FlopCounterMode counts none, and per token: suite.workloads.lm)."""
    metrics = {"params": count_params(p.model),
               **flops_per_sample(p.model, p.data.x_train, p.data.y_train, task_loss)}
    return metrics | flop_metrics(p.model, p.data.x_train, metrics)


def train_step(p: Prepared):
    """(step, samples_per_step) on a fresh copy of the initial model, so timing trains nothing that
    the accuracy run uses (compiled when the case says so)."""
    return make_train_step(p.case, levers.training_model(p.case, copy.deepcopy(p.model)), p.data)


def training_rounds(case: Case, config: MeasureConfig) -> tuple[int, int, int]:
    """(rounds, steps per round, warm-up rounds) of the training-throughput measurement, for both front ends."""
    if OPTIMIZERS[case.optimizer].full_batch:  # one step is a whole epoch already: 1 per round, 1 warm-up
        return config.train_rounds, 1, 1
    return config.train_rounds, config.train_steps_per_round, config.train_warmup_rounds


def called_once(fn):
    """fn, after one call made before a metered region: one-time allocations (optimizer state, kernel
    caches, thread pools) belong to no case's steady state and would inflate whichever case ran first."""
    fn()
    return fn


def time_training(p: Prepared, step, config: MeasureConfig) -> list[float]:
    """Seconds per training step: `step` timed in rounds here, or for world_size > 1 the DDP steps that
    rank 0 of the spawned ranks timed (same rounds; the same ranks then train to the budget, kept in p)."""
    rounds = training_rounds(p.case, config)
    if p.case.world_size > 1:
        p.distributed = distributed.run(p.case, p.data_dir, rounds, train_budget=not config.timing_only,
                                        work=RANK_WORK)
        return p.distributed.step_seconds
    return time_rounds(step, p.device, *rounds)


DDP_MEMORY_REASON = ("not measured: data-parallel ranks train in processes of their own, and this process's peak "
                     "would describe the idle parent")


def train_metrics(case: Case, cost: CostMeter) -> dict:
    """The training region's peak memory and energy, except a data-parallel case's memory: its ranks ran
    in other processes, so the figure is absent with the reason."""
    metrics = cost.metrics()
    if case.world_size > 1:
        metrics = {k: v for k, v in metrics.items() if not k.startswith("train_peak_mem")}
        metrics["train_peak_mem_mb_reason"] = DDP_MEMORY_REASON
    return metrics


DDP_E2E_REASON = ("not measured: data-parallel ranks each train on a shard of every batch, and the processes "
                  "report one rank's samples only")


def e2e_metrics(case: Case, outcome: TrainOutcome) -> dict:
    """`train_e2e_samples_per_s`: samples over the accuracy run's training-phase wall time (TrainOutcome.e2e_seconds:
    batch drawing, syncs and host work between steps included, evaluation excluded), beside the step-only
    `train_samples_per_s`; a data-parallel case gets the reason instead."""
    if case.world_size > 1:
        return {"train_e2e_samples_per_s_reason": DDP_E2E_REASON}
    return {"train_e2e_samples_per_s": outcome.samples / outcome.e2e_seconds} if outcome.e2e_seconds > 0 else {}


def lever_metrics(p: Prepared, config: MeasureConfig, train_seconds: list[float]) -> dict:
    """Figures that only some levers have, each measured apart from the steady-state rounds:
    compile seconds (cold and warm), and data-parallel scaling of `train_seconds` against world size 1."""
    metrics = {}
    if p.case.compile != "none" and not config.compile_seconds:
        metrics["compile_seconds_reason"] = "not measured: this run's MeasureConfig leaves compile times out"
    elif p.case.compile != "none":
        cold, warm = compile_seconds(lambda: train_step(p)[0], p.device)
        metrics |= {"compile_seconds_cold": cold, "compile_seconds_warm": warm}
        cold, warm = compile_seconds(lambda: latency_call(p, copy.deepcopy(p.model)), p.device)
        metrics |= {"infer_compile_seconds_cold": cold, "infer_compile_seconds_warm": warm}
    if p.case.world_size > 1 and train_seconds:
        rounds = (config.train_rounds, config.train_steps_per_round, config.train_warmup_rounds)
        run_1 = distributed.run(p.case, p.data_dir, rounds, world_size=1, train_budget=False, work=RANK_WORK)
        metrics |= distributed.scaling_metrics(train_seconds, run_1, p.case.world_size)
    return metrics


def latency_call(p: Prepared, model: torch.nn.Module):
    """One batch-1 forward in eval mode under inference_mode: what latency is measured on."""
    model = levers.inference_model(p.case, model.eval())
    x = p.data.x_test[:1]

    def call():
        with torch.inference_mode():
            return model(x)

    return call


def latency_seconds(p: Prepared, model: torch.nn.Module, config: MeasureConfig) -> tuple[list[float], str]:
    """Seconds per batch-1 call of `model` and why fewer than config.latency_calls were timed ("" if not):
    the one latency procedure, for the case's model and for a compressed case's model before compression."""
    return time_latency(latency_call(p, model), p.device, config.latency_calls, config.latency_warmup,
                        config.latency_bound_s)


def batch_call(p: Prepared, model: torch.nn.Module):
    """(call, samples) for one forward at the case's batch size: batched inference throughput."""
    model = levers.inference_model(p.case, model.eval())
    x = p.data.x_test[: p.case.batch_size]

    def call():
        with torch.inference_mode():
            return model(x)

    return call, len(x)


class SpreadRounds:
    """Timing rounds of the training step taken a few at a time between the epochs of the accuracy run.

    A contiguous block of rounds lasts about a tenth of a second on small models, so one disturbance of
    the machine (another process, a frequency change) can move every round of a case and fake a
    regression. Rounds spread over the whole training run see such a disturbance in a few rounds only,
    and the median ignores it. The step trains its own throwaway copy of the model, never the one whose
    accuracy is measured.
    """

    def __init__(self, p: Prepared, step, config: MeasureConfig):
        _, self.iterations, _ = training_rounds(p.case, config)
        self.step, self.device, self.seconds = step, p.device, []
        # ceil: spread over every epoch (evaluation interval under a steps budget)
        self.per_epoch = -(-config.train_spread_rounds // budget.interval_count(p.case))
        self.total, self.warmup = config.train_spread_rounds, config.spread_warmup_steps

    def __call__(self) -> None:
        rounds = min(self.per_epoch, self.total - len(self.seconds))
        if rounds <= 0:
            return
        # The evaluation pass just before evicted the step's working set from the caches: the first
        # round after it ran slower in 8 of 8 cases measured, so one untimed step comes first.
        for _ in range(self.warmup):
            self.step()
        self.seconds += time_rounds(self.step, self.device, rounds, self.iterations, 0)


def train_for_accuracy(p: Prepared, after_epoch=None, on_epoch=None) -> tuple[torch.nn.Module, TrainOutcome]:
    """Train a copy of the initial model to the case's budget (the seed fixes the batch order), eager:
    torch.compile changes the speed of the same arithmetic, which the timed rounds measure. For
    world_size > 1 the ranks train with DDP and rank 0's weights come back. `after_epoch` runs between
    epochs, outside the clocks (SpreadRounds); `on_epoch` gets each epoch's history entry (progress)."""
    model = copy.deepcopy(p.model)
    if p.case.world_size == 1:
        return model, train(p.case, model, p.data, p.device, after_epoch=after_epoch, on_epoch=on_epoch)
    run = p.distributed or distributed.run(p.case, p.data_dir, (0, 0, 0), work=RANK_WORK)
    model.load_state_dict(run.state_dict)
    return model, TrainOutcome(**run.outcome)


def accuracy_metrics(outcome: TrainOutcome) -> dict:
    """The accuracy group's extra_info."""
    metrics = {"test_accuracy": outcome.test_accuracy, "test_loss": outcome.test_loss,
               "train_seconds": outcome.train_seconds, "history": outcome.history,
               "eval_seconds": sum(outcome.eval_seconds), **outcome.target_metrics}
    if outcome.status == "diverged":
        metrics |= {"diverged_step": outcome.diverged_step, "last_finite_loss": outcome.last_finite_loss}
    return metrics


def measure_inference(p: Prepared, model: torch.nn.Module, config: MeasureConfig, phase) -> tuple[dict, list]:
    """(metrics, batch-1 seconds) of `model`: batch-1 latency, then batched inference throughput with its peak
    memory and energy; `phase(name)` is told each part."""
    phase("batch-1 latency")
    latency, fewer = latency_seconds(p, model, config)
    metrics = latency_metrics(latency, fewer)
    phase("batched inference")
    call, batch = batch_call(p, model)
    call = called_once(call)
    with CostMeter("infer", p.device, batch) as infer_cost:
        infer_seconds = time_rounds(infer_cost.count(call), p.device, config.infer_rounds, 1, 1)
    metrics |= throughput_metrics("infer", infer_seconds, batch) | infer_cost.metrics()
    metrics["infer_batch_seconds"] = infer_seconds  # raw rounds, so compare can test batched throughput
    return metrics, latency


TIMING_ONLY_REASON = "not measured: timing only (no training to the accuracy budget)"


def timing_only_result(p: Prepared, metrics: dict, train_seconds: list[float], config: MeasureConfig,
                       phase) -> CaseResult:
    """A timing-only case's result: the contiguous training rounds already timed, then the forwards of the
    initial model through the same procedure; accuracy metrics absent with their reason, no accuracy samples.
    MFU is left out too (with its reason): its compute ceiling is seconds of matmuls in every fresh process."""
    inference, latency = measure_inference(p, copy.deepcopy(p.model), config, phase)
    metrics |= inference | {"test_accuracy_reason": TIMING_ONLY_REASON} | derived_metrics(p.data, metrics)
    if p.case.compile != "none":  # lever_metrics' compile times are not the step and the forwards either
        metrics["compile_seconds_reason"] = "not measured: timing only"
    metrics |= {f"{group}_mfu_reason": "not measured: timing only (no compute ceiling measured)"
                for group in ("train", "infer")}
    return CaseResult(p.case.id, p.case.as_dict(), "ok", "timing only: accuracy not measured", metrics,
                      {"train": train_seconds, "infer": latency})


def keras_case(case: Case, config: MeasureConfig, data_dir=None, download=False) -> CaseResult:
    """The seed's Keras model on the case's dataset and split (suite.workloads.keras_seed)."""
    data = load_dataset(case.dataset, data_dir, download)
    data = validation_split(data) if case.eval_split == "validation" else data
    status, reason, metrics, samples = keras_seed.run(case, config, data)
    return CaseResult(case.id, case.as_dict(), status, reason, metrics, samples)


def after_training_tools(p: Prepared, config: MeasureConfig) -> AfterTraining:
    """What the levers' after-training phase measures with: this runner's evaluation, latency and training."""
    p50 = lambda model: latency_metrics(*latency_seconds(p, model, config))["infer_latency_ms_p50"]  # noqa: E731
    return AfterTraining(p.data, p.device, evaluate, p50, lambda case, model: train(case, model, p.data, p.device))


def run_case(case: Case, config: MeasureConfig = MeasureConfig(), data_dir=None, download=False,
             progress=None) -> CaseResult:
    """Measure one case under its levers' settings (suite.levers.scope). An absent device gives 'skipped', an
    unexpected failure 'error': the run goes on. `progress` (suite.plumbing.progress.CaseProgress), if given, is
    told each phase and epoch between timed regions."""
    ok, reason = availability(case)
    if not ok:
        return CaseResult(case.id, case.as_dict(), "skipped", reason)
    with levers.scope(case):
        return measure_case(case, config, data_dir, download, progress)


def measure_case(case: Case, config: MeasureConfig, data_dir, download, progress) -> CaseResult:
    """run_case's measurement, inside the case's lever scope."""
    phase = progress.phase if progress is not None else lambda name: None
    try:
        if case.framework != "torch":  # the seed's Keras model: Keras's fit, timed by its own callback
            return keras_case(case, config, data_dir, download)
        p = prepare(case, data_dir, download)
        metrics = model_metrics(p)
        step, per_step = train_step(p)
        step = called_once(step) if case.world_size == 1 else step
        phase("timing the training step")
        with CostMeter("train", p.device, per_step) as train_cost:  # peak memory and energy of the region
            train_seconds = time_training(p, train_cost.count(step), config)
        if config.timing_only:  # no training to the budget: the forwards run on the initial model
            return timing_only_result(p, metrics | throughput_metrics("train", train_seconds, per_step)
                                      | train_metrics(case, train_cost), train_seconds, config, phase)
        spread = SpreadRounds(p, step, config) if case.world_size == 1 else None
        phase("training")
        model, outcome = train_for_accuracy(p, spread, progress.epoch if progress is not None else None)
        train_seconds += spread.seconds if spread else []
        metrics |= throughput_metrics("train", train_seconds, per_step) | train_metrics(case, train_cost)
        metrics |= e2e_metrics(case, outcome)
        metrics |= lever_metrics(p, config, train_seconds)
        # compression, export to the case's runtime and its int8, the model file
        model, outcome, changed = levers.after_training(case, model, outcome, after_training_tools(p, config))
        metrics |= accuracy_metrics(outcome) | changed
        if not outcome.eval_seconds:  # diverged in its first epoch: still time one evaluation
            outcome.eval_seconds = time_rounds(lambda: evaluate(model, p.data.x_test, p.data.y_test),
                                               p.device, 1, 1, 0)
        inference, latency = measure_inference(p, model, config, phase)
        metrics |= inference
        metrics |= mfu_metrics(metrics, case, p.device) | derived_metrics(p.data, metrics)
    except runtime.Unsupported as exc:  # a model the exporter cannot convert
        return CaseResult(case.id, case.as_dict(), "skipped", str(exc))
    except Exception as exc:  # one case failing must not lose the others
        if is_out_of_memory(exc):
            return out_of_memory_result(case, exc)
        return CaseResult(case.id, case.as_dict(), "error", f"{type(exc).__name__}: {exc}".splitlines()[0])
    samples = {"train": train_seconds, "infer": latency, "accuracy": outcome.eval_seconds}
    reason = f"loss not finite at step {outcome.diverged_step}" if outcome.status == "diverged" else ""
    return CaseResult(case.id, case.as_dict(), outcome.status, reason, metrics, samples)
