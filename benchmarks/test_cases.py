"""The plan's cases as pytest-benchmark benchmarks: training step, batch-1 forward, test evaluation.

Each case is measured once per session by `suite.runner.run_case`, the function `tradeoff-bench run`
calls: one procedure for both front ends. Each test then hands pytest-benchmark the rounds that
procedure timed for its group (`record_rounds`), so pytest-benchmark's stats, `--benchmark-compare` and
`--benchmark-histogram` see exactly the samples the suite's metrics were derived from.
"""

from __future__ import annotations

import pytest
import torch

from suite import levers
from suite.executors import MeasureRequest
from suite.executors.instructions import measure_config
from suite.executors.isolated import measure_in_child
from suite.executors.node import measure_with, node_identity
from suite.results.schema import CaseResult, group_metrics, not_measured_record

MEASURED = ("ok", "diverged")  # statuses whose groups carry timed rounds


@pytest.fixture(scope="session")
def measured_cases():
    """CaseResult by case id: each case is measured once per session."""
    return {}


@pytest.fixture
def measured(case, measured_cases, request) -> CaseResult:
    """The case's result; a case that could not be measured is recorded once in the JSON's not_measured
    list, then skipped with its reason (skipped, oom) or failed (error)."""
    if case.id not in measured_cases:
        option = request.config.getoption
        config = measure_config(option("--measure"), option("--timing-only"))
        variables = levers.process_environment(case)  # a case that needs them runs in a process of its own
        if request.config._tradeoff_isolation == "process" or variables:
            request_ = MeasureRequest(config, option("--data-dir"))
            result = measure_in_child(case, request_, env=variables)[0]
            result.node = {**result.node, **node_identity(torch.get_num_threads())}  # this machine's, as the CLI
        else:
            result = measure_with(case, config, option("--data-dir"))
        measured_cases[case.id] = result
        if result.status not in MEASURED:
            request.config._tradeoff_not_measured.append(not_measured_record(result))
    result = measured_cases[case.id]
    if result.status == "error":
        pytest.fail(f"case {case.id}: {result.reason}", pytrace=False)
    if result.status not in MEASURED:
        pytest.skip(f"{result.status}: {result.reason}")
    return result


def record_rounds(benchmark, seconds: list[float]) -> None:
    """Give pytest-benchmark the rounds the suite timed, as if its own pedantic mode had timed them."""
    benchmark._mode = "pedantic(...)"  # the fixture is used once, like any pedantic benchmark
    stats = benchmark._make_stats(1)
    for value in seconds:
        stats.update(value)


def describe(benchmark, result: CaseResult, group: str, plan: str) -> None:
    """The group's rounds and the extra_info every benchmark of a case carries: the case, its id, plan,
    status (the same in all three groups), reason and the group's metrics."""
    if group not in result.samples:  # --measure instructions counts the step and the forward, trains nothing
        pytest.skip(f"no {group} measurement in this mode")
    benchmark.group = group
    record_rounds(benchmark, result.samples[group])
    benchmark.extra_info.update({"case": result.case, "case_id": result.case_id, "plan": plan,
                                 "status": result.status, **({"reason": result.reason} if result.reason else {}),
                                 **({"node": result.node} if result.node else {})})
    benchmark.extra_info.update(group_metrics(result.metrics, group))


def test_train_throughput(benchmark, measured, request):
    """Seconds per training step; extra_info: training samples/s (median, min, max, IQR, rounds), peak memory,
    energy per sample, MFU, compile seconds and data-parallel scaling."""
    describe(benchmark, measured, "train", request.config._tradeoff_plan.name)


def test_infer_latency(benchmark, measured, request):
    """Seconds per batch-1 forward; extra_info: latency percentiles, batched throughput, params, FLOPs, and the
    batched forward's peak memory, energy per sample and MFU."""
    describe(benchmark, measured, "infer", request.config._tradeoff_plan.name)


def test_accuracy(benchmark, measured, request):
    """Seconds per test-split evaluation of the trained model; extra_info: accuracy, loss, history."""
    if not measured.samples.get("accuracy"):
        pytest.skip(measured.metrics.get("test_accuracy_reason", "no accuracy measured"))
    describe(benchmark, measured, "accuracy", request.config._tradeoff_plan.name)
