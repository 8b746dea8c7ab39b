"""Data-parallel training (world_size) with DistributedDataParallel: gloo on CPU here, nccl on CUDA; a rank
that dies is tried again once, then recorded with its cause."""

from __future__ import annotations

import pytest
import torch

from suite.cases import Case
from suite.levers import availability, distributed
from suite.runner import RANK_WORK, MeasureConfig, run_case

FAST = MeasureConfig(train_rounds=3, train_steps_per_round=3, train_warmup_rounds=1, latency_calls=10,
                     latency_warmup=2, infer_rounds=2)


def test_world_size_2_reaches_the_accuracy_of_world_size_1_after_the_same_epochs():
    single = run_case(Case(model="dense", depth=1, width=32, epochs=3), FAST)
    double = run_case(Case(model="dense", depth=1, width=32, epochs=3, world_size=2), FAST)
    assert single.status == double.status == "ok", double.reason
    assert abs(double.metrics["test_accuracy"] - single.metrics["test_accuracy"]) <= 0.01
    assert double.metrics["test_accuracy"] > 0.5  # it learned (chance is 0.1): equal accuracies are not two failures
    assert len(double.metrics["history"]) == 3
    m = double.metrics
    efficiency = m["train_samples_per_s"] / (2 * m["train_samples_per_s_world_size_1"])
    assert m["scaling_efficiency"] == pytest.approx(efficiency, rel=0.05)
    assert m["infer_latency_ms_p50"] > 0  # rank 0's weights came back and were measured


def test_a_rank_that_dies_is_retried_once_then_recorded_with_its_cause(monkeypatch):
    case = Case(model="dense", depth=1, width=8, epochs=1, world_size=2)
    monkeypatch.setenv(distributed.SIMULATE_ABORT_ENV, "1")  # rank 1 of the first attempt aborts (SIGABRT)
    retried = distributed.run(case, None, (2, 1, 0), train_budget=False, work=RANK_WORK)
    assert len(retried.step_seconds) == 2 and min(retried.step_seconds) > 0
    monkeypatch.setenv(distributed.SIMULATE_ABORT_ENV, "2")  # and the second: the case records why
    result = run_case(case, FAST)
    assert result.status == "error"
    assert result.reason == ("RankDied: rank 1 died with SIGABRT: simulated abort of rank 1 in attempt 2 "
                             "(tried 2 times)")


def test_shards_split_every_global_batch_between_the_ranks():
    from suite.train import sharded

    batch = torch.arange(10)
    parts = [sharded([batch, torch.arange(1)], (rank, 2))[0] for rank in range(2)]
    assert sorted(torch.cat(parts).tolist()) == list(range(10))
    assert sharded([torch.arange(1)], (0, 2)) == []  # a batch smaller than the world is dropped on every rank


def test_more_ranks_than_cores_or_gpus_are_skipped_with_the_reason(monkeypatch):
    monkeypatch.setattr(distributed.os, "cpu_count", lambda: 2)
    assert availability(Case(model="dense", world_size=4)) == (False, "world_size 4 needs 4 CPU cores, 2 here")
    assert distributed.backend("cuda") == "nccl" and distributed.backend("cpu") == "gloo"


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices for nccl world_size 2")
def test_nccl_world_size_2_on_cuda():
    result = run_case(Case(model="dense", depth=1, width=32, epochs=2, device="cuda", world_size=2), FAST)
    assert result.status == "ok", result.reason
    assert result.metrics["scaling_efficiency"] > 0
