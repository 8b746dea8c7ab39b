"""Energy of one measured region from a hardware counter, or the reason there is none.

NVIDIA GPUs: NVML's `nvmlDeviceGetTotalEnergyConsumption`, millijoules since the driver was loaded
(Volta and newer; NVML API reference, "Device Queries"), end minus start. Limits: it is the whole
board's energy (idle power and other processes included), and the counter advances at the driver's
power-sampling rate, which on A100/H100 covers only part of each 100 ms window (Yang et al.,
"Part-time Power Measurements: nvidia-smi's Lack of Attention", arXiv:2312.02741), so regions
shorter than about a second are coarse; a counter that did not advance gives no figure.

CPUs: the kernel's RAPL counters, /sys/class/powercap/intel-rapl:N/energy_uj of each package zone
(also used for AMD Zen), microjoules, wrapping at max_energy_range_uj (Linux powercap sysfs ABI,
Documentation/power/powercap/powercap.rst). Limits: a package counts every process on the socket;
since Linux 5.10 the files are root-only (CVE-2020-8694), and many VMs do not expose them.

Where no counter can be read the figure is absent and `{prefix}_joules_per_sample_reason` says why:
an estimate is never presented as a measurement.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

RAPL_ROOT = Path("/sys/class/powercap")
PACKAGE_ZONE = re.compile(r"intel-rapl:\d+")  # top-level zones only: subzones (core, dram) sit inside packages


class NvmlCounter:
    """NVML's total-energy counter of one GPU, read in millijoules."""

    def __init__(self, cuda_index: int):
        import pynvml

        self.nvml = pynvml
        pynvml.nvmlInit()
        try:
            self.handle = nvml_handle(pynvml, cuda_index)
            self.read()  # raises NVMLError_NotSupported on GPUs older than Volta
        except Exception:
            pynvml.nvmlShutdown()
            raise
        self.source = f"NVML total energy of GPU {cuda_index} (whole board)"

    def read(self) -> tuple[int, ...]:
        """The raw counter (mJ)."""
        return (self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle),)

    @staticmethod
    def joules(start: tuple, end: tuple) -> float:
        """Joules between two reads (a 64-bit counter: no wraparound in practice)."""
        return (end[0] - start[0]) / 1000.0

    def close(self) -> None:
        """Release NVML."""
        self.nvml.nvmlShutdown()


def nvml_handle(pynvml, cuda_index: int):
    """The NVML handle of CUDA device `cuda_index`, through CUDA_VISIBLE_DEVICES when it renumbers them."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if cuda_index < len(visible):
        entry = visible[cuda_index]
        if not entry.isdigit():
            return pynvml.nvmlDeviceGetHandleByUUID(entry)
        cuda_index = int(entry)
    return pynvml.nvmlDeviceGetHandleByIndex(cuda_index)


class RaplCounter:
    """The sum of the RAPL package counters, read in microjoules."""

    def __init__(self, root: Path = RAPL_ROOT):
        zones = sorted(p for p in Path(root).glob("intel-rapl:*") if PACKAGE_ZONE.fullmatch(p.name))
        if not zones:
            raise OSError(f"no RAPL package zones under {root} (no powercap driver, or hidden by a VM)")
        self.files = [z / "energy_uj" for z in zones]
        self.ranges = [int((z / "max_energy_range_uj").read_text()) for z in zones]
        self.read()  # PermissionError where energy_uj is root-only
        self.source = "RAPL " + "+".join((z / "name").read_text().strip() for z in zones) + " (whole socket)"

    def read(self) -> tuple[int, ...]:
        """The raw counters (uJ), one per package."""
        return tuple(int(f.read_text()) for f in self.files)

    def joules(self, start: tuple, end: tuple) -> float:
        """Joules between two reads; a counter that passed max_energy_range_uj wrapped to zero once."""
        return sum(e - s + (r if e < s else 0) for s, e, r in zip(start, end, self.ranges)) / 1e6

    def close(self) -> None:
        """Nothing to release."""


def open_counter(device, rapl_root: Path = RAPL_ROOT):
    """(counter, "") for a device with a readable energy counter, else (None, the reason)."""
    try:
        if device.type == "cuda":
            return NvmlCounter(device.index or 0), ""  # index None: torch's default device 0
        if device.type == "cpu":
            return RaplCounter(rapl_root), ""
    except PermissionError as exc:
        return None, f"energy counter not readable: {exc.filename} (root-only since Linux 5.10, CVE-2020-8694)"
    except OSError as exc:  # no RAPL zones, or the files vanished
        return None, f"no energy counter: {exc}".splitlines()[0]
    except Exception as exc:  # no NVML library or driver, a GPU without the counter: absent, with why
        return None, f"no energy counter: {type(exc).__name__}: {exc}".splitlines()[0]
    return None, f"no energy counter for device type {device.type!r}"


class Energy:
    """Context manager: `.joules` over the block, or `.reason` when there is no figure."""

    def __init__(self, device, rapl_root: Path = RAPL_ROOT):
        self.device, self.rapl_root = device, rapl_root
        self.joules: float | None = None
        self.reason = self.source = ""

    def __enter__(self) -> Energy:
        self._counter, self.reason = open_counter(self.device, self.rapl_root)
        if self._counter is not None:
            self.source = self._counter.source
            self._began, self._start = time.perf_counter(), self._counter.read()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._counter is None:
            return
        try:
            if exc_info[0] is None:
                joules = self._counter.joules(self._start, self._counter.read())
                if joules > 0:
                    self.joules = joules
                else:
                    ms = 1000 * (time.perf_counter() - self._began)
                    self.reason = f"energy counter did not advance over the {ms:.0f} ms region ({self.source})"
        finally:
            self._counter.close()

    def metrics(self, prefix: str, samples: int) -> dict:
        """`{prefix}_joules_per_sample` with its `_source`, or `{prefix}_joules_per_sample_reason`."""
        key = f"{prefix}_joules_per_sample"
        if self.joules is None or samples <= 0:
            return {f"{key}_reason": self.reason or "no samples in the region"}
        return {key: self.joules / samples, f"{key}_source": self.source}
