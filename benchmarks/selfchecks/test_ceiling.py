"""The suite's measured fp32 matmul ceiling against torch.matmul timed independently on 2048x2048 matrices.

The ceiling is the figure a run reports (suite.measure.ceiling.get_ceiling: cached per environment
fingerprint); the independent timing is a plain perf_counter loop around `a @ b`. Prints both and
their ratio; fails when they differ by more than 10%. Timing-sensitive: run it on a quiet machine.

    pytest benchmarks/selfchecks/test_ceiling.py -s
"""

from __future__ import annotations

import statistics
import time

import torch

from suite.measure.ceiling import get_ceiling, measure_ceiling

N, WARMUP, ROUNDS = 2048, 2, 10


def independent_matmul_flops_per_s() -> float:
    """Median FLOP/s of `a @ b` on two N x N fp32 CPU matrices, 2 * N**3 FLOPs per product."""
    a, b = torch.randn(N, N), torch.randn(N, N)
    for _ in range(WARMUP):
        a @ b
    seconds = []
    for _ in range(ROUNDS):
        begin = time.perf_counter()
        a @ b
        seconds.append(time.perf_counter() - begin)
    return 2 * N**3 / statistics.median(seconds)


def test_ceiling_matches_independent_matmul(capsys):
    suite_rate = get_ceiling(torch.device("cpu"), "fp32")["flops_per_s"]
    fresh = measure_ceiling(torch.device("cpu"), "fp32")["flops_per_s"]  # tells a stale cache from the method
    independent = independent_matmul_flops_per_s()
    ratio = suite_rate / independent
    with capsys.disabled():
        print(f"\nfp32 CPU ceiling, {torch.get_num_threads()} threads: suite {suite_rate / 1e9:,.1f} GFLOP/s "
              f"(re-measured now {fresh / 1e9:,.1f}), independent {N}x{N} torch.matmul "
              f"{independent / 1e9:,.1f} GFLOP/s, ratio {ratio:.3f}")
    assert 0.9 <= ratio <= 1.1, f"the suite's ceiling is {ratio:.3f}x an independent {N}x{N} matmul"
