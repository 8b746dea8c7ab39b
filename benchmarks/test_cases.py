"""The plan's cases as pytest-benchmark benchmarks: training step, batch-1 forward, test evaluation.

pytest-benchmark's timing stats measure what each group is named for; the suite's metrics derived
from the same raw samples ride in extra_info. Each case is trained once per session.
"""

from __future__ import annotations

import pytest

from suite.cost import CostMeter, mfu_metrics
from suite.devices import synced_perf_counter
from suite.levers import availability, intra_op_threads
from suite.lm import derived_metrics
from suite.measure import latency_metrics, throughput_metrics, time_rounds
from suite.results import CaseResult, group_metrics, not_measured_record
from suite.runner import (
    MeasureConfig,
    accuracy_metrics,
    batch_call,
    called_once,
    compress_trained,
    latency_call,
    lever_metrics,
    model_metrics,
    prepare,
    train_for_accuracy,
    train_step,
    training_rounds,
)
from suite.train import evaluate

CONFIG = MeasureConfig()
pytestmark = pytest.mark.benchmark(timer=synced_perf_counter, disable_gc=True)


@pytest.fixture(scope="session")
def prepared_cases(request):
    """Prepared cases by id, built on first use."""
    return {}


@pytest.fixture(scope="session")
def trained_cases():
    """(model, TrainOutcome, compression figures) by case id: each case is trained once per session."""
    return {}


@pytest.fixture(scope="session")
def lever_cases():
    """Lever figures (compile seconds) by case id, measured once per session."""
    return {}


@pytest.fixture(autouse=True)
def case_threads(request):
    """Each benchmark runs under its case's intra-op thread count (restored after)."""
    case = request.getfixturevalue("case") if "case" in request.fixturenames else None
    with intra_op_threads(case.threads if case else None):
        yield


@pytest.fixture
def prepared(case, prepared_cases, request):
    """The case prepared on its device; skipped with the reason where the device is absent."""
    ok, reason = availability(case)
    if not ok:
        if case.id not in {r["case_id"] for r in request.config._tradeoff_not_measured}:
            request.config._tradeoff_not_measured.append(
                not_measured_record(CaseResult(case.id, case.as_dict(), "skipped", reason)))
        pytest.skip(reason)
    if case.id not in prepared_cases:
        prepared_cases[case.id] = prepare(case, request.config.getoption("--data-dir"))
    return prepared_cases[case.id]


@pytest.fixture
def trained(prepared, trained_cases):
    """(model, TrainOutcome, compression figures): trained to the budget, then pruned/quantized if the case
    says so (the same runner functions as `tradeoff-bench run`)."""
    if prepared.case.id not in trained_cases:
        trained_cases[prepared.case.id] = compress_trained(prepared, *train_for_accuracy(prepared), CONFIG)
    return trained_cases[prepared.case.id]


@pytest.fixture
def levers(prepared, lever_cases):
    """Compile seconds (cold, warm) of the case; data-parallel scaling is measured by `tradeoff-bench run`."""
    if prepared.case.id not in lever_cases:
        lever_cases[prepared.case.id] = lever_metrics(prepared, CONFIG, [])
    return lever_cases[prepared.case.id]


def describe(benchmark, case, plan, status="ok", reason=""):
    """The extra_info every benchmark of a case carries."""
    benchmark.extra_info.update({"case": case.as_dict(), "case_id": case.id, "plan": plan, "status": status})
    if reason:
        benchmark.extra_info["reason"] = reason


def test_train_throughput(benchmark, case, prepared, levers, request):
    """Seconds per training step; extra_info: training samples/s (median, min, max, IQR, rounds), peak memory,
    energy per sample and MFU."""
    if case.world_size > 1:
        pytest.skip("world_size > 1: DDP steps are timed in the spawned ranks (tradeoff-bench run)")
    step, per_step = train_step(prepared)
    step = called_once(step)
    rounds, iterations, warmup_rounds = training_rounds(case, CONFIG)
    rounds += CONFIG.train_spread_rounds  # the CLI spreads these over the accuracy run; here one block
    benchmark.group = "train"
    with CostMeter("train", prepared.device, per_step) as cost:
        benchmark.pedantic(cost.count(step), rounds=rounds, iterations=iterations, warmup_rounds=warmup_rounds)
    describe(benchmark, case, request.config._tradeoff_plan.name)
    benchmark.extra_info.update(throughput_metrics("train", benchmark.stats.stats.data, per_step) | cost.metrics())
    benchmark.extra_info.update(group_metrics(levers, "train"))
    benchmark.extra_info.update(mfu_metrics({**benchmark.extra_info, **model_metrics(prepared)}, case, prepared.device))
    benchmark.extra_info.update(derived_metrics(case, benchmark.extra_info))  # a language model's tokens/s


def test_infer_latency(benchmark, case, prepared, trained, levers, request):
    """Seconds per batch-1 forward; extra_info: latency percentiles, batched throughput, params, FLOPs, and the
    batched forward's peak memory, energy per sample and MFU."""
    model, _, compressed = trained
    benchmark.group = "infer"
    benchmark.pedantic(latency_call(prepared, model), rounds=CONFIG.latency_calls, warmup_rounds=CONFIG.latency_warmup)
    call, batch = batch_call(prepared, model)
    call = called_once(call)
    describe(benchmark, case, request.config._tradeoff_plan.name)
    benchmark.extra_info.update(latency_metrics(benchmark.stats.stats.data))
    with CostMeter("infer", prepared.device, batch) as cost:
        infer_seconds = time_rounds(cost.count(call), prepared.device, CONFIG.infer_rounds, 1, 1)
    benchmark.extra_info.update(throughput_metrics("infer", infer_seconds, batch) | cost.metrics())
    benchmark.extra_info.update(model_metrics(prepared) | group_metrics(levers | compressed, "infer"))
    benchmark.extra_info.update(mfu_metrics(benchmark.extra_info, case, prepared.device))


def test_accuracy(benchmark, case, prepared, trained, levers, request):
    """Seconds per test-split evaluation of the trained model; extra_info: accuracy, loss, history."""
    model, outcome, compressed = trained
    benchmark.group = "accuracy"
    benchmark.pedantic(evaluate, args=(model, prepared.data.x_test, prepared.data.y_test), rounds=3)
    reason = f"loss not finite at step {outcome.diverged_step}" if outcome.status == "diverged" else ""
    describe(benchmark, case, request.config._tradeoff_plan.name, outcome.status, reason)
    metrics = accuracy_metrics(outcome) | compressed | levers
    benchmark.extra_info.update(group_metrics(metrics | derived_metrics(case, metrics), "accuracy"))
