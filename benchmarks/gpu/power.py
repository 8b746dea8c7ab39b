"""Board power sampled through NVML while a region runs, and its integral over time: an energy figure
independent of NVML's energy counter, to check that counter against.

`nvmlDeviceGetPowerUsage` returns milliwatts; on Ampere (except GA100) and newer GPUs it is the power
averaged over the last second, on older ones the instantaneous power (NVML API reference, "Device
Queries"). A one-second average integrated over a region misplaces energy near its edges; it is exact
when the region starts after, and ends with, at least a second of steady power on both sides, which the
validation arranges with idle periods (see validate.py's energy check).
"""

from __future__ import annotations

import threading
import time

import numpy as np


def integrate_power(samples: list[tuple[float, float]], start: float, end: float) -> float:
    """Joules from (perf_counter seconds, watts) samples over [start, end]: the trapezoid rule over the
    readings inside, with the power at the edges interpolated (held beyond the first and last reading)."""
    if end <= start:
        raise ValueError(f"empty region: end {end} is not after start {start}")
    if not samples:
        raise ValueError("no power samples")
    times, watts = (np.asarray(column, dtype=float) for column in zip(*sorted(samples)))
    grid = np.concatenate([[start], times[(times > start) & (times < end)], [end]])
    power = np.interp(grid, times, watts)
    return float(np.sum((power[1:] + power[:-1]) / 2 * np.diff(grid)))


class PowerSampler:
    """Context manager: a thread reading NVML's board power every `period` seconds into `.samples`
    as (perf_counter seconds at the middle of the reading, watts)."""

    def __init__(self, cuda_index: int = 0, period: float = 0.01):
        import pynvml

        self.nvml, self.cuda_index, self.period = pynvml, cuda_index, period
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> float:
        """The board power now, in watts."""
        return self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0

    def _sample(self) -> None:
        while not self._stop.is_set():
            before = time.perf_counter()
            watts = self.read()
            self.samples.append(((before + time.perf_counter()) / 2, watts))
            self._stop.wait(self.period)

    def __enter__(self) -> PowerSampler:
        from suite.measure.energy import nvml_handle

        self.nvml.nvmlInit()
        try:
            self.handle = nvml_handle(self.nvml, self.cuda_index)
            self.read()  # raises NVMLError_NotSupported where the board reports no power
        except Exception:
            self.nvml.nvmlShutdown()
            raise
        self._thread = threading.Thread(target=self._sample, name="nvml-power", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.nvml.nvmlShutdown()
