"""The plan's cases as pytest-benchmark benchmarks: training step, batch-1 forward, test evaluation.

pytest-benchmark's timing stats measure what each group is named for; the suite's metrics derived
from the same raw samples ride in extra_info. Each case is trained once per session.
"""

from __future__ import annotations

import pytest

from suite.devices import availability, synced_perf_counter
from suite.measure import latency_metrics, throughput_metrics, time_rounds
from suite.results import CaseResult, group_metrics, not_measured_record
from suite.runner import (
    MeasureConfig,
    accuracy_metrics,
    batch_call,
    latency_call,
    model_metrics,
    prepare,
    train_for_accuracy,
    train_step,
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
    """(model, TrainOutcome) by case id: each case is trained once per session."""
    return {}


@pytest.fixture
def prepared(case, prepared_cases, request):
    """The case prepared on its device; skipped with the reason where the device is absent."""
    ok, reason = availability(case.device)
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
    if prepared.case.id not in trained_cases:
        trained_cases[prepared.case.id] = train_for_accuracy(prepared)
    return trained_cases[prepared.case.id]


def describe(benchmark, case, plan, status="ok", reason=""):
    """The extra_info every benchmark of a case carries."""
    benchmark.extra_info.update({"case": case.as_dict(), "case_id": case.id, "plan": plan, "status": status})
    if reason:
        benchmark.extra_info["reason"] = reason


def test_train_throughput(benchmark, case, prepared, request):
    """Seconds per training step; extra_info: training samples/s (median, min, max, IQR, rounds)."""
    step, per_step = train_step(prepared)
    benchmark.group = "train"
    benchmark.pedantic(step, rounds=CONFIG.train_rounds, iterations=CONFIG.train_steps_per_round,
                       warmup_rounds=CONFIG.train_warmup_rounds)
    describe(benchmark, case, request.config._tradeoff_plan.name)
    benchmark.extra_info.update(throughput_metrics("train", benchmark.stats.stats.data, per_step))


def test_infer_latency(benchmark, case, prepared, trained, request):
    """Seconds per batch-1 forward; extra_info: latency percentiles, batched throughput, params, FLOPs."""
    model, _ = trained
    benchmark.group = "infer"
    benchmark.pedantic(latency_call(prepared, model), rounds=CONFIG.latency_calls, warmup_rounds=CONFIG.latency_warmup)
    call, batch = batch_call(prepared, model)
    describe(benchmark, case, request.config._tradeoff_plan.name)
    benchmark.extra_info.update(latency_metrics(benchmark.stats.stats.data))
    benchmark.extra_info.update(throughput_metrics(
        "infer", time_rounds(call, prepared.device, CONFIG.infer_rounds, 1, 1), batch))
    benchmark.extra_info.update(model_metrics(prepared))


def test_accuracy(benchmark, case, prepared, trained, request):
    """Seconds per test-split evaluation of the trained model; extra_info: accuracy, loss, history."""
    model, outcome = trained
    benchmark.group = "accuracy"
    benchmark.pedantic(evaluate, args=(model, prepared.data.x_test, prepared.data.y_test), rounds=3)
    reason = f"loss not finite at step {outcome.diverged_step}" if outcome.status == "diverged" else ""
    describe(benchmark, case, request.config._tradeoff_plan.name, outcome.status, reason)
    benchmark.extra_info.update(group_metrics(accuracy_metrics(outcome), "accuracy"))
