"""The matmul ceiling (measured, cached per fingerprint under tmp_path), MFU, and the environment block."""

from __future__ import annotations

import json

import pytest
import torch

from suite.cases import Case
from suite.measure import ceiling, cost
from suite.measure.devices import fingerprint
from suite.measure.environment import environment
from suite.plumbing.errors import ConfigError
from tests.cost_helpers import ceiling_cache  # noqa: F401  (fixture)

CPU = torch.device("cpu")


def test_measured_ceiling_is_a_rate_from_its_rounds():
    # a generous bound: on a loaded machine a stalled call must not cut the size search or the rounds short
    record = ceiling.measure_ceiling(CPU, "fp32", n=128, rounds=3, max_seconds=60.0)
    assert record["flops_per_s_min"] <= record["flops_per_s"] <= record["flops_per_s_max"]
    assert record["n"] == 128 and record["rounds"] == 3 and record["iterations"] >= 1
    assert "128x128 fp32" in record["method"]
    assert record["flops_per_s"] > 1e7  # any CPU of this century multiplies faster than 10 MFLOP/s, even loaded


def test_unknown_precision_names_the_choices():
    with pytest.raises(ConfigError, match="fp32"):
        ceiling.measure_ceiling(CPU, "fp8")


def fake_measurement(device, precision, n=None, rounds=ceiling.ROUNDS, known_size=False):
    """A steady measurement (the real one is timing-dependent: noisy rounds would not be cached)."""
    return {"device": device.type, "precision": precision, "flops_per_s": 2e9, "noisy": False, "busy": False}


def test_ceiling_is_cached_per_fingerprint(ceiling_cache, monkeypatch):  # noqa: F811
    monkeypatch.setattr(ceiling, "measure_ceiling", fake_measurement)
    first = ceiling.get_ceiling(CPU, "fp32", fingerprint="aaaaaaaaaaaa")
    cached = json.loads((ceiling_cache / "ceiling-aaaaaaaaaaaa.json").read_text())
    assert cached[ceiling.ceiling_name(CPU, "fp32")] == first and first["fingerprint"] == "aaaaaaaaaaaa"

    def only_rechecks(device, precision, n=None, rounds=ceiling.ROUNDS, known_size=False):
        if rounds != ceiling.RECHECK_ROUNDS:
            raise AssertionError("measured in full although cached")
        return fake_measurement(device, precision)

    monkeypatch.setattr(ceiling, "_measured", {})  # a new process: only the disk cache is left
    monkeypatch.setattr(ceiling, "measure_ceiling", only_rechecks)
    again = ceiling.get_ceiling(CPU, "fp32", fingerprint="aaaaaaaaaaaa")
    assert again["flops_per_s"] == first["flops_per_s"] and again["rechecked"] is True
    monkeypatch.setattr(ceiling, "_measured", {})
    with pytest.raises(AssertionError, match="measured in full"):  # another environment: measured anew
        ceiling.get_ceiling(CPU, "fp32", fingerprint="bbbbbbbbbbbb")


def test_a_cached_ceiling_five_times_too_high_is_replaced_at_the_next_run(ceiling_cache, monkeypatch):  # noqa: F811
    """A cache entry 5x the machine's rate fails the short re-check and is measured again. The machine is a fake
    (2 GFLOP/s, steady): a real one on a loaded machine can move by more than 5x between two measurements."""
    name = ceiling.ceiling_name(CPU, "fp32")
    calls = []

    def steady(device, precision, n=None, rounds=ceiling.ROUNDS, known_size=False):
        calls.append(rounds)
        return fake_measurement(device, precision)

    monkeypatch.setattr(ceiling, "measure_ceiling", steady)
    monkeypatch.setattr(ceiling, "_measured", {})
    path = ceiling_cache / "ceiling-dddddddddddd.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({name: {"n": 256, "flops_per_s": 5 * 2e9}}))
    record = ceiling.get_ceiling(CPU, "fp32", fingerprint="dddddddddddd")
    assert calls == [ceiling.RECHECK_ROUNDS, ceiling.ROUNDS]  # re-checked, disagreed, measured in full
    assert record["replaced_flops_per_s"] == 5 * 2e9 and record["flops_per_s"] == 2e9
    assert json.loads(path.read_text())[name]["flops_per_s"] == 2e9  # the cache holds the new figure


@pytest.mark.parametrize("flags", [{"noisy": False, "busy": True}, {"noisy": True, "busy": False}])
def test_a_busy_or_noisy_ceiling_is_cached_flagged_and_reused_only_while_the_recheck_agrees(
        ceiling_cache, monkeypatch, flags):  # noqa: F811
    figures = iter([5e8, 5.2e8, 9e8])  # measured; re-checked in a fresh process (agrees); re-checked later (not)
    monkeypatch.setattr(ceiling, "measure_ceiling",
                        lambda device, precision, n=None, **_: {"flops_per_s": next(figures), **flags})
    assert ceiling.get_ceiling(CPU, "fp32", fingerprint="eeeeeeeeeeee")["flops_per_s"] == 5e8
    cached = json.loads((ceiling_cache / "ceiling-eeeeeeeeeeee.json").read_text())
    assert {k: cached[ceiling.ceiling_name(CPU, "fp32")][k] for k in flags} == flags
    monkeypatch.setattr(ceiling, "_measured", {})  # a fresh process of the same run
    again = ceiling.get_ceiling(CPU, "fp32", fingerprint="eeeeeeeeeeee")
    assert again["flops_per_s"] == 5e8 and again["rechecked"] is True
    monkeypatch.setattr(ceiling, "_measured", {})  # a quieter machine: the re-check disagrees, measured again
    with pytest.raises(StopIteration):
        ceiling.get_ceiling(CPU, "fp32", fingerprint="eeeeeeeeeeee")


class SlowMachine:
    """A simulated machine whose matmul takes 2n^3 / rate seconds on a simulated clock."""

    def __init__(self, rate: float, slower_after: int | None = None, factor: float = 1.0):
        self.rate, self.now, self.calls = rate, 0.0, 0
        self.slower_after, self.factor = slower_after, factor  # other processes take the cores after some calls

    def matmul(self, a, b, out):
        self.calls += 1
        slower = self.slower_after is not None and self.calls > self.slower_after
        self.now += 2 * a.shape[0] ** 3 / self.rate * (self.factor if slower else 1.0)

    def install(self, monkeypatch):
        import time

        monkeypatch.setattr(ceiling, "_matmul", self.matmul)
        monkeypatch.setattr(time, "perf_counter", lambda: self.now)
        monkeypatch.setattr(time, "process_time", lambda: self.now * torch.get_num_threads())


@pytest.mark.parametrize(("rate", "size"), [(1e11, 2048), (2e9, 512), (1e8, 256), (1e6, 64)])
def test_every_ceiling_measurement_ends_within_five_seconds(monkeypatch, rate, size):
    """From a fast CPU to emulated bf16 (1e8 FLOP/s: 172 s per 2048x2048 matmul) and slower, the measurement
    takes at most 5 s: smaller matrices, the size used recorded."""
    machine = SlowMachine(rate)
    machine.install(monkeypatch)
    for rounds, known_size in ((ceiling.ROUNDS, False), (ceiling.RECHECK_ROUNDS, True)):  # measured, re-checked
        machine.now = 0.0
        record = ceiling.measure_ceiling(CPU, "fp32", n=2048, rounds=rounds, known_size=known_size)
        assert machine.now <= ceiling.MAX_SECONDS and record["seconds"] == pytest.approx(machine.now, abs=1e-3)
        assert (record["n"], record["n_wanted"]) == (size, 2048) and record["rounds"] == rounds
        assert record["flops_per_s"] == pytest.approx(rate)
        assert (f"{size}x{size}" in record["method"]) and (("would pass the 5 s bound" in record["method"])
                                                           == (size < 2048))


def test_a_recheck_times_each_size_of_its_search_once(monkeypatch):
    """A re-check (a size measured here before) calls each size 32, 64, ..., 2048 once, a full measurement three
    times (SIZE_CALLS), then both time their rounds."""
    machine = SlowMachine(1e11)
    machine.install(monkeypatch)
    for known_size, per_size in ((True, 1), (False, ceiling.SIZE_CALLS)):
        machine.calls = 0
        record = ceiling.measure_ceiling(CPU, "fp32", n=2048, rounds=ceiling.RECHECK_ROUNDS, known_size=known_size)
        assert machine.calls == 7 * per_size + record["rounds"] * record["iterations"]


def test_rounds_stop_at_the_bound_when_even_the_smallest_size_is_slow(monkeypatch):
    machine = SlowMachine(5e4)  # 1.3 s per 32x32 matmul
    machine.install(monkeypatch)
    record = ceiling.measure_ceiling(CPU, "fp32", n=2048)
    assert record["n"] == 32 and 1 <= record["rounds"] < ceiling.ROUNDS
    assert machine.now <= ceiling.MAX_SECONDS + 3 * 2 * 32**3 / 5e4  # the size-search calls, then the rounds


def test_environment_block_holds_the_cpu_ceiling(ceiling_cache):  # noqa: F811
    env = environment({"brand_raw": "test cpu"})
    record = env["compute_ceilings"][ceiling.ceiling_name(CPU, "fp32")]
    assert record["fingerprint"] == env["fingerprint"] and record["flops_per_s"] > 0 and record["n"] == 256
    assert (ceiling_cache / f"ceiling-{env['fingerprint']}.json").is_file()


def test_cpu_ceilings_are_kept_per_thread_count():
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert ceiling.ceiling_name(CPU, "bf16") == "cpu-bf16-t1"
        torch.set_num_threads(2)
        assert ceiling.ceiling_name(CPU, "bf16") == "cpu-bf16-t2"
    finally:
        torch.set_num_threads(previous)
    assert ceiling.ceiling_name(torch.device("cuda"), "fp32") == "cuda-fp32"


def test_mfu_is_achieved_over_ceiling(monkeypatch):
    def fake_ceiling(device, precision):
        assert (device.type, precision) == ("cpu", "fp32")
        return {"flops_per_s": 1e9}

    monkeypatch.setattr(cost, "get_ceiling", fake_ceiling)
    metrics = {"train_samples_per_s": 1000.0, "train_flops_per_sample": 300_000,
               "infer_samples_per_s": 2000.0, "flops_per_sample": 100_000}
    key = ceiling.ceiling_name(CPU, "fp32")
    assert cost.mfu_metrics(metrics, Case(), CPU) == pytest.approx(
        {"train_mfu": 0.3, "infer_mfu": 0.2, "mfu_ceiling_key": key, "mfu_ceiling_gflops": 1.0})
    del metrics["infer_samples_per_s"]
    assert set(cost.mfu_metrics(metrics, Case(), CPU)) == {"train_mfu", "mfu_ceiling_key", "mfu_ceiling_gflops"}
    quantized = cost.mfu_metrics({**metrics, "infer_samples_per_s": 2000.0}, Case(quantization="dynamic-int8",
                                                                                  model="dense"), CPU)
    assert "infer_mfu" not in quantized and "int8" in quantized["infer_mfu_reason"]


def test_tf32_is_a_cuda_ceiling_only():
    with pytest.raises(ConfigError, match="'tf32' is a CUDA matmul mode"):
        ceiling.measure_ceiling(CPU, "tf32")
    assert ceiling.ceiling_name(torch.device("cuda"), "tf32") == "cuda-tf32"
    with ceiling.matmul_tf32(CPU, "fp32") as tf32:  # nothing to set on a CPU
        assert tf32 is None


@pytest.fixture
def tf32_flags():
    """Restore the TF32 settings a test changes (they are process-wide)."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize(("model", "matmul", "cudnn", "expected"), [
    ("conv", False, True, "tf32"), ("seed-cnn", False, True, "tf32"), ("conv", True, False, "fp32"),
    ("dense", False, True, "fp32"),
    ("dense", True, False, "fp32"),  # not the global matmul setting: the case's matmul_precision (highest) decides
])
def test_mfu_ceiling_follows_the_tf32_setting_of_the_model_s_ops(tf32_flags, model, matmul, cudnn, expected):
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
    case = Case(model=model, device="cuda")
    assert cost.ceiling_precision(case, torch.device("cuda")) == expected
    assert cost.ceiling_precision(case, CPU) == "fp32"  # TF32 is CUDA's
    assert cost.ceiling_precision(case.replace(precision="bf16"), torch.device("cuda")) == "bf16"
    if model == "dense":
        assert cost.ceiling_precision(case.replace(matmul_precision="high"), torch.device("cuda")) == "tf32"


def test_mfu_of_a_cuda_conv_case_uses_the_tf32_ceiling(tf32_flags, monkeypatch):
    asked = []
    monkeypatch.setattr(cost, "get_ceiling", lambda device, precision: asked.append(precision) or {"flops_per_s": 1e12})
    torch.backends.cudnn.allow_tf32 = True
    metrics = {"train_samples_per_s": 1000.0, "train_flops_per_sample": 1e6}
    mfu = cost.mfu_metrics(metrics, Case(model="conv", device="cuda"), torch.device("cuda"))
    assert mfu == {"train_mfu": 1e-3, "mfu_ceiling_key": "cuda-tf32", "mfu_ceiling_gflops": 1000.0}
    assert asked == ["tf32"]


def test_tf32_enters_the_fingerprint_only_with_gpus(tf32_flags):
    cpu_env = {"cpu_brand": "x", "cpu_cores": 2, "torch": "2.11", "torch_threads": 2, "allocator": {}, "gpus": []}
    gpu_env = {**cpu_env, "gpus": [{"name": "NVIDIA H100 80GB HBM3"}]}
    on, off = {"matmul": True, "cudnn_conv": True}, {"matmul": False, "cudnn_conv": True}
    assert fingerprint({**cpu_env, "tf32": on}) == fingerprint({**cpu_env, "tf32": off}) == fingerprint(cpu_env)
    assert fingerprint({**gpu_env, "tf32": on}) != fingerprint({**gpu_env, "tf32": off})
    assert fingerprint({**gpu_env, "tf32": off}) != fingerprint({**cpu_env, "tf32": off})


def test_a_round_is_cut_when_the_machine_slows_down_in_it(monkeypatch):
    """256x256 at 1e10 FLOP/s: rounds of 30 calls (3.4 ms each); after the size search (12 calls) every call
    takes 100x longer, so one round would take 10 s: it is cut at the bound, within one tenth of a round."""
    machine = SlowMachine(1e10, slower_after=12, factor=100)
    machine.install(monkeypatch)
    record = ceiling.measure_ceiling(CPU, "fp32", n=256)
    assert record["n"] == 256 and record["iterations"] == 30 and record["rounds"] == 1
    assert machine.now <= ceiling.MAX_SECONDS + 3 * 100 * 2 * 256**3 / 1e10
