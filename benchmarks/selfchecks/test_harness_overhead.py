"""Harness overhead: the suite's training step against a minimal hand-written PyTorch loop.

Both train seed-cnn with Adam (lr 1e-3, batch 64) on the same data; their rounds are interleaved
so that machine noise hits both alike. Prints both throughputs and their ratio; fails when the
suite is more than 5% slower.

    pytest benchmarks/selfchecks/test_harness_overhead.py -s [--data-dir DIR]   (MNIST when DIR holds it, else digits)
"""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F

from suite.cases import Case
from suite.measure.devices import time_region
from suite.runner import prepare, train_step

ROUNDS, STEPS, BATCH = 30, 10, 64


def hand_written_loop(data, seed: int):
    """The loop a user would write: a fixed shuffled order, zero_grad, forward, loss, backward, step."""
    torch.manual_seed(seed)
    from suite.workloads.models import seed_cnn

    model = seed_cnn(data.input_shape, data.num_classes).to(data.x_train.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(data.y_train))
    batches = [order[i:i + BATCH] for i in range(0, len(order) - BATCH + 1, BATCH)]
    position = [0]

    def step():
        idx = batches[position[0] % len(batches)]
        position[0] += 1
        optimizer.zero_grad()
        loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        loss.backward()
        optimizer.step()

    return step


def test_harness_overhead_seed_cnn(request, capsys):
    data_dir = request.config.getoption("--data-dir")
    case = Case(model="seed-cnn", optimizer="adam", lr=1e-3, batch_size=BATCH,
                dataset="mnist" if data_dir else "digits")
    prepared = prepare(case, data_dir)
    suite_step, _ = train_step(prepared)
    hand_step = hand_written_loop(prepared.data, case.seed)
    for step in (suite_step, hand_step):  # warm-up
        time_region(prepared.device, step, STEPS)
    suite_rates, hand_rates = [], []
    for _ in range(ROUNDS):
        suite_rates.append(BATCH * STEPS / time_region(prepared.device, suite_step, STEPS))
        hand_rates.append(BATCH * STEPS / time_region(prepared.device, hand_step, STEPS))
    suite_rate, hand_rate = statistics.median(suite_rates), statistics.median(hand_rates)
    ratio = suite_rate / hand_rate
    with capsys.disabled():
        print(f"\nharness overhead, seed-cnn on {case.dataset}, batch {BATCH}, {ROUNDS} interleaved rounds of "
              f"{STEPS} steps: suite {suite_rate:,.0f} samples/s, hand-written {hand_rate:,.0f} samples/s, "
              f"ratio {ratio:.3f}")
    assert ratio >= 0.95, f"suite is {100 * (1 - ratio):.1f}% slower than a hand-written loop"
