"""Peak memory: a region's own allocations are counted, earlier cases' are not, and it grows with batch size."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest
import torch

from suite.cases import Case
from suite.measure.memory import MB, PeakMemory
from suite.runner import MeasureConfig, run_case
from tests.cost_helpers import ceiling_cache  # noqa: F401  (fixture)

CPU = torch.device("cpu")
FAST = MeasureConfig(train_rounds=2, train_steps_per_round=2, train_warmup_rounds=1, latency_calls=5,
                     latency_warmup=1, infer_rounds=2)


def allocate_mb(mb: int) -> torch.Tensor:
    """A tensor of `mb` MiB whose pages are all touched (resident)."""
    return torch.ones(mb * MB // 4, dtype=torch.float32)


def own_allocation() -> tuple[float, dict]:
    """A 64 MiB region: (its peak, its metrics)."""
    with PeakMemory(CPU) as peak:
        x = allocate_mb(64)
        del x
    return peak.mb, peak.metrics("train")


def another_cases_allocations() -> tuple[float, float]:
    """(an earlier case's 128 MiB peak, then an 8 MiB region while 96 MiB of another case is still held)."""
    with PeakMemory(CPU) as earlier:  # an earlier case: its peak raised the process's high-water mark
        x = allocate_mb(128)
        del x
    kept = allocate_mb(96)  # and memory another case still holds
    with PeakMemory(CPU) as later:
        y = allocate_mb(8)
        del y
    del kept
    return earlier.mb, later.mb


def in_fresh_process(regions):
    """regions() in a fresh interpreter: a CPU region reads the whole process's resident memory, and in a test
    worker other threads and earlier tests move it (an 8 MiB region once read 2.4 MiB in a pytest-xdist worker)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(regions).result(timeout=120)


def test_region_counts_its_own_allocation():
    mb, metrics = in_fresh_process(own_allocation)
    assert 64 * 0.95 <= mb < 64 + 8  # the kernel's RSS counters are batched: a little slack
    assert metrics == {"train_peak_mem_mb": mb}


def test_region_excludes_another_cases_allocations():
    earlier, later = in_fresh_process(another_cases_allocations)
    assert earlier >= 128 * 0.95
    assert 8 * 0.9 <= later < 8 + 8


def test_absent_device_gives_a_reason():
    with PeakMemory(torch.device("meta")) as peak:
        pass
    assert peak.mb is None
    assert "meta" in peak.metrics("infer")["infer_peak_mem_mb_reason"]


def three_batch_sizes() -> list:
    """The dense model measured at batch 32, 256 and 2048, one after the other."""
    base = Case(model="dense", depth=2, width=512, optimizer="adam", epochs=1, dataset="synthetic")
    return [run_case(base.replace(batch_size=b), FAST) for b in (32, 256, 2048)]


def test_peak_memory_grows_with_batch_size(ceiling_cache):  # noqa: F811
    # a fresh process: in a test worker, pages freed by earlier tests are reused without raising the resident
    # memory, and batch 2048's training peak once read 0.4 MiB below batch 256's there
    results = in_fresh_process(three_batch_sizes)
    assert [r.status for r in results] == ["ok"] * 3, [r.reason for r in results]
    train = [r.metrics["train_peak_mem_mb"] for r in results]
    infer = [r.metrics["infer_peak_mem_mb"] for r in results]
    assert train[0] < train[1] < train[2], train
    assert infer[0] < infer[1] < infer[2], infer
    # batch 2048 holds at least its 2048 x 784 float32 inputs (6.1 MiB) on top of batch 32's figure
    assert train[2] - train[0] > 2048 * 784 * 4 / MB
    for r in results:  # every row: energy measured or absent with the reason
        for prefix in ("train", "infer"):
            key = f"{prefix}_joules_per_sample"
            assert (key in r.metrics) != (f"{key}_reason" in r.metrics)
        m, ceiling = r.metrics, r.metrics["mfu_ceiling_gflops"] * 1e9  # MFU = FLOPs/sample x samples/s / ceiling
        assert m["train_mfu"] == pytest.approx(m["train_flops_per_sample"] * m["train_samples_per_s"] / ceiling)
        assert m["infer_mfu"] == pytest.approx(m["flops_per_sample"] * m["infer_samples_per_s"] / ceiling)
