import torch

from suite.measure import flops_per_sample, latency_metrics, throughput_metrics, time_rounds
from suite.stats import spread


def test_spread_of_known_samples():
    s = spread([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s == {"median": 3.0, "min": 1.0, "max": 100.0, "iqr": 2.0, "rounds": 5}


def test_throughput_is_samples_over_seconds():
    m = throughput_metrics("train", [0.5, 0.25, 1.0], 100)
    assert m["train_samples_per_s"] == 200.0
    assert m["train_samples_per_s_min"] == 100.0 and m["train_samples_per_s_max"] == 400.0
    assert m["train_samples_per_s_rounds"] == 3


def test_latency_percentiles_in_ms():
    m = latency_metrics([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert round(m["infer_latency_ms_p50"], 6) == 50.5
    assert round(m["infer_latency_ms_p99"], 6) == 99.01
    assert m["infer_latency_samples"] == 100


def test_time_rounds_counts_calls_and_warmup():
    calls = []
    seconds = time_rounds(lambda: calls.append(1), torch.device("cpu"), rounds=4, iterations=3, warmup_rounds=2)
    assert len(seconds) == 4 and len(calls) == (4 + 2) * 3
    assert all(s >= 0 for s in seconds)


def test_flops_of_a_linear_layer():
    model = torch.nn.Linear(64, 10)
    flops = flops_per_sample(model, torch.zeros(4, 64), torch.zeros(4, dtype=torch.long))
    assert flops["flops_per_sample"] == 2 * 64 * 10
    # backward: only the weight gradient (the input needs none), another 2*64*10
    assert flops["train_flops_per_sample"] == 2 * 2 * 64 * 10
