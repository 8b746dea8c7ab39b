"""Energy per sample: NVML (its library calls faked at the boundary), RAPL (a fake sysfs tree), or a reason."""

from __future__ import annotations

import pynvml
import pytest
import torch

from suite.measure.energy import Energy

GPU = torch.device("cuda", 1)


@pytest.fixture
def fake_nvml(monkeypatch):
    """pynvml's functions replaced by fakes: a GPU whose energy counter reads the `readings` in turn (mJ)."""
    state = {"readings": [], "handles": [], "shutdowns": 0}

    def fake_nvml_init():
        pass

    def fake_nvml_shutdown():
        state["shutdowns"] += 1

    def fake_nvml_handle_by_index(index):
        state["handles"].append(index)
        return f"handle-{index}"

    def fake_nvml_total_energy_mj(handle):
        assert handle.startswith("handle-")
        reading = state["readings"].pop(0)
        if isinstance(reading, Exception):
            raise reading
        return reading

    monkeypatch.setattr(pynvml, "nvmlInit", fake_nvml_init)
    monkeypatch.setattr(pynvml, "nvmlShutdown", fake_nvml_shutdown)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", fake_nvml_handle_by_index)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetTotalEnergyConsumption", fake_nvml_total_energy_mj)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return state


def test_nvml_energy_is_end_minus_start_per_sample(fake_nvml):
    fake_nvml["readings"] = [5_000_000, 5_000_000, 5_250_000]  # support check, start, end: 250 J
    with Energy(GPU) as energy:
        pass
    metrics = energy.metrics("train", 1000)
    assert metrics["train_joules_per_sample"] == pytest.approx(0.25)
    assert "NVML" in metrics["train_joules_per_sample_source"]
    assert fake_nvml["handles"] == [1] and fake_nvml["shutdowns"] == 1


def test_nvml_follows_cuda_visible_devices(fake_nvml, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,0")
    fake_nvml["readings"] = [0, 0, 1000]
    with Energy(torch.device("cuda", 0)) as energy:
        pass
    assert fake_nvml["handles"] == [3]
    assert energy.metrics("infer", 10)["infer_joules_per_sample"] == pytest.approx(0.1)


def test_nvml_without_the_counter_gives_a_reason(fake_nvml):
    fake_nvml["readings"] = [pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)]  # a pre-Volta GPU
    with Energy(GPU) as energy:
        pass
    metrics = energy.metrics("train", 64)
    assert "train_joules_per_sample" not in metrics
    assert "Not Supported" in metrics["train_joules_per_sample_reason"]
    assert fake_nvml["shutdowns"] == 1


def test_a_counter_that_did_not_advance_gives_a_reason(fake_nvml):
    fake_nvml["readings"] = [7, 7, 7]
    with Energy(GPU) as energy:
        pass
    assert "did not advance" in energy.metrics("infer", 64)["infer_joules_per_sample_reason"]


def write_zone(root, name: str, label: str, energy_uj: int, max_uj: int = 10_000_000):
    """One powercap zone directory as the kernel lays it out."""
    zone = root / name
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "name").write_text(f"{label}\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")


def test_rapl_sums_packages_and_handles_wraparound(tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    write_zone(tmp_path, "intel-rapl:0:0", "core", 0)  # a subzone: already inside package-0
    write_zone(tmp_path, "intel-rapl:1", "package-1", 9_500_000)
    with Energy(torch.device("cpu"), rapl_root=tmp_path) as energy:
        write_zone(tmp_path, "intel-rapl:0", "package-0", 3_000_000)  # +2 J
        write_zone(tmp_path, "intel-rapl:0:0", "core", 100_000_000)
        write_zone(tmp_path, "intel-rapl:1", "package-1", 500_000)  # wrapped at 10 J: +1 J
    metrics = energy.metrics("infer", 30)
    assert metrics["infer_joules_per_sample"] == pytest.approx(3.0 / 30)
    assert metrics["infer_joules_per_sample_source"] == "RAPL package-0+package-1 (whole socket)"


def test_no_rapl_gives_a_reason_and_no_figure(tmp_path):
    with Energy(torch.device("cpu"), rapl_root=tmp_path) as energy:
        torch.ones(1000).sum()
    metrics = energy.metrics("train", 64)
    assert set(metrics) == {"train_joules_per_sample_reason"}
    assert "no RAPL package zones" in metrics["train_joules_per_sample_reason"]


def test_device_without_a_counter_gives_a_reason():
    with Energy(torch.device("meta")) as energy:
        pass
    assert energy.metrics("train", 1) == {"train_joules_per_sample_reason": "no energy counter for device type 'meta'"}


def test_environment_describes_each_gpu_through_nvml(monkeypatch):
    from suite.measure.devices import gpu_info

    def not_supported(*args):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    clocks = {(pynvml.NVML_CLOCK_SM, "max"): 1980, (pynvml.NVML_CLOCK_MEM, "max"): 2619,
              (pynvml.NVML_CLOCK_SM, "now"): 345}
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlSystemGetDriverVersion", lambda: "550.54.15")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 1)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda index: f"handle-{index}")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda handle: b"NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMemoryInfo", lambda handle: type("Memory", (), {"total": 80 * 2**30}))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCudaComputeCapability", lambda handle: (9, 0))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMaxClockInfo", lambda handle, kind: clocks[kind, "max"])
    monkeypatch.setattr(pynvml, "nvmlDeviceGetClockInfo", lambda handle, kind: clocks[kind, "now"])
    monkeypatch.setattr(pynvml, "nvmlDeviceGetPowerManagementLimit", not_supported)
    assert gpu_info() == [{"name": "NVIDIA H100 80GB HBM3", "driver": "550.54.15", "memory_mb": 81920,
                           "compute_capability": "9.0", "sm_clock_max_mhz": 1980, "sm_clock_mhz": 345,
                           "memory_clock_max_mhz": 2619, "power_limit_w": None}]
