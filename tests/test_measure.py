import time

import torch

from suite.measure.timing import flops_per_sample, latency_metrics, throughput_metrics, time_latency, time_rounds
from suite.metrics import noisy_metrics
from suite.plumbing.stats import spread
from suite.results.measurement import Measurement
from suite.train import task_loss


def test_spread_of_known_samples():
    s = spread([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s == {"median": 3.0, "min": 1.0, "max": 100.0, "iqr": 2.0, "rounds": 5}


def test_throughput_is_samples_over_seconds():
    m = throughput_metrics("train", [0.5, 0.25, 1.0], 100)
    assert m["train_samples_per_s"] == 200.0
    assert m["train_samples_per_s_min"] == 100.0 and m["train_samples_per_s_max"] == 400.0
    assert m["train_samples_per_s_rounds"] == 3
    assert m["train_samples_per_s_iqr"] == 150.0 and m["train_samples_per_s_noisy"] is True  # 150/200 > 10%


def test_a_measurement_takes_its_statistics_and_noise_flag_once_from_its_rounds():
    steady = Measurement.of([100.0, 104.0, 98.0, 101.0], "samples/s")
    assert (steady.median, steady.min, steady.max, steady.count) == (100.5, 98.0, 104.0, 4)
    assert steady.iqr == 2.25 and steady.noisy is False  # 2.2% of the median (numpy's linear quartiles)
    shaky = Measurement.of([100.0, 130.0, 80.0, 101.0], "samples/s")
    assert shaky.iqr == 13.25 and shaky.noisy is True  # 13% of the median
    assert shaky.metrics("x") == {"x": 100.5, "x_min": 80.0, "x_max": 130.0, "x_iqr": 13.25, "x_rounds": 4,
                                  "x_noisy": True}


def test_the_report_marks_the_flagged_timings_whose_spread_comes_from_their_rounds():
    flags = {"train_samples_per_s_noisy": True, "infer_latency_ms_p50_noisy": True, "infer_samples_per_s_noisy": True}
    assert noisy_metrics(flags) == ["train_samples_per_s", "infer_latency_ms_p50"]  # batched: spread over seeds
    assert noisy_metrics({**flags, "train_samples_per_s_noisy": False, "infer_latency_ms_p50_noisy": False}) == []


def test_latency_percentiles_in_ms_and_p99_only_from_a_thousand_calls():
    m = latency_metrics([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert round(m["infer_latency_ms_p50"], 6) == 50.5 and round(m["infer_latency_ms_iqr"], 6) == 49.5
    assert "infer_latency_ms_p99" not in m and "1000 calls, 100 were timed" in m["infer_latency_ms_p99_reason"]
    assert m["infer_latency_samples"] == 100 and m["infer_latency_ms_max"] == 100.0
    assert m["infer_latency_ms_p50_noisy"] is True
    m = latency_metrics([i / 10000 for i in range(1, 1001)])  # 0.1..100 ms
    assert round(m["infer_latency_ms_p99"], 6) == 99.001 and "infer_latency_ms_p99_reason" not in m


def test_latency_takes_a_thousand_calls_unless_they_would_pass_the_bound():
    from suite.runner import MeasureConfig

    config = MeasureConfig()
    assert (config.latency_calls, config.latency_bound_s) == (1000, 10.0)
    calls = []
    seconds, fewer = time_latency(lambda: calls.append(1), torch.device("cpu"), 1000, 5, 10.0)
    assert len(seconds) == 1000 and len(calls) == 1005 and fewer == ""
    assert "infer_latency_ms_p99" in latency_metrics(seconds, fewer)

    def slow():  # 2 ms a call: 1,000 calls would take 2 s, over a bound of 0.05 s
        time.sleep(0.002)

    seconds, fewer = time_latency(slow, torch.device("cpu"), 1000, 3, 0.05)
    assert 1 <= len(seconds) <= 25 and "1000 calls would take about 2" in fewer and "0.05 s bound" in fewer
    m = latency_metrics(seconds, fewer)
    assert "infer_latency_ms_p99" not in m and m["infer_latency_samples"] == len(seconds)
    assert m["infer_latency_ms_p99_reason"].endswith(fewer) and m["infer_latency_ms_max"] >= 2.0


def test_time_rounds_counts_calls_and_warmup_and_prepares_outside_the_clock():
    calls, prepared = [], []

    def fn():
        calls.append(1)

    fn.prepare = prepared.append
    seconds = time_rounds(fn, torch.device("cpu"), rounds=4, iterations=3, warmup_rounds=2)
    assert len(seconds) == 4 and len(calls) == (4 + 2) * 3
    assert all(s >= 0 for s in seconds)
    assert prepared == [6, 3, 3, 3, 3]  # the warm-up calls, then before each timed round


def test_flops_of_a_linear_layer():
    model = torch.nn.Linear(64, 10)
    flops = flops_per_sample(model, torch.zeros(4, 64), torch.zeros(4, dtype=torch.long), task_loss)
    assert flops["flops_per_sample"] == 2 * 64 * 10
    # backward: only the weight gradient (the input needs none), another 2*64*10
    assert flops["train_flops_per_sample"] == 2 * 2 * 64 * 10


def test_a_counted_step_keeps_its_prepare_outside_the_clock(tmp_path):
    """CostMeter.count must pass the step's prepare on: otherwise the step draws its batches inside the rounds."""
    from suite.measure.cost import CostMeter

    pending = []

    def prepare(calls):
        if len(pending) < calls:
            time.sleep(0.02)  # drawing a batch order: host work that must stay out of the clock
            pending.extend(range(calls - len(pending)))

    def step():
        prepare(1)
        pending.pop()

    step.prepare = prepare
    with CostMeter("train", torch.device("cpu"), 8, rapl_root=tmp_path) as meter:
        seconds = time_rounds(meter.count(step), torch.device("cpu"), rounds=3, iterations=2, warmup_rounds=1)
    assert meter.calls == (3 + 1) * 2
    assert max(seconds) < 0.005  # each round would hold a 20 ms sleep (10 ms per call) if prepare ran inside
