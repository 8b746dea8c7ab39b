"""Peak memory of one measured region, above what was resident when the region began.

CUDA: the caching allocator's own counters. Cached blocks are released first
(`torch.cuda.empty_cache`) and the peaks reset (`torch.cuda.reset_peak_memory_stats`), so the
figures are `max_memory_allocated` / `max_memory_reserved` during the region minus their values at
its start: what the region needed on top of the data and model already on the device.

CPU (Linux): the kernel's resident high-water mark of this process. Writing "5" to
/proc/self/clear_refs resets VmHWM to the current RSS (Linux >= 4.0; proc(5) and
the kernel's Documentation/filesystems/proc.rst), so VmHWM read at the end minus VmRSS at the start is
the region's own peak: tracked by the kernel on every page fault (its RSS counters are batched per
CPU, Linux >= 6.2, or per thread every 64 faults before, so figures carry an error of some hundred
KiB), free of sampling overhead in the timed region, and blind to what earlier cases allocated.
Why not the alternatives: a sampling thread misses peaks shorter than its period and competes with
the timed code for the GIL and the cores; a fresh worker process per case pays a torch import and
a data load per case. Before the region, Python garbage is collected and glibc's `malloc_trim(0)`
(malloc_trim(3)) hands freed heap pages back to the kernel, so the region's allocations fault in
new pages instead of silently reusing pages an earlier case left resident. Caveats: the figure is
process-wide (every thread), and an allocator that keeps freed pages (jemalloc, tcmalloc preloaded)
or a library-level cache kept warm by an earlier case (oneDNN scratchpads) makes it an underestimate.

Other devices and other kernels: no figure, with the reason.
"""

from __future__ import annotations

import ctypes
import functools
import gc
from pathlib import Path

import torch

MB = 2**20  # the suite's "mb" is MiB, as in devices.gpu_info
PROC = Path("/proc/self")


def _status_kib(field: str) -> int:
    """One `kB` field of /proc/self/status (VmRSS, VmHWM) in KiB."""
    for line in (PROC / "status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise OSError(f"{field} missing from {PROC / 'status'}")


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim from the symbols already loaded into this process, or None (musl, macOS)."""
    return getattr(ctypes.CDLL(None), "malloc_trim", None)


def _release_freed_host_memory() -> None:
    """Collect Python garbage and return glibc's free heap pages to the kernel (no-op elsewhere)."""
    gc.collect()
    if _malloc_trim() is not None:
        _malloc_trim()(0)


def reset_cpu_high_water_mark() -> str:
    """Reset this process's VmHWM to its current RSS; returns why that is impossible here, or ""."""
    try:
        (PROC / "clear_refs").write_text("5")
        _status_kib("VmHWM")
    except OSError as exc:
        return f"cannot reset the resident high-water mark through {PROC / 'clear_refs'} ({exc.strerror or exc})"
    return ""


class PeakMemory:
    """Context manager: `.mb` (and on CUDA `.reserved_mb`) after the block, or `.reason` when absent."""

    def __init__(self, device: torch.device):
        self.device = device
        self.mb: float | None = None
        self.reserved_mb: float | None = None
        self.reason = ""

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = (torch.cuda.memory_allocated(self.device), torch.cuda.memory_reserved(self.device))
        elif self.device.type == "cpu":
            _release_freed_host_memory()
            self.reason = reset_cpu_high_water_mark()
            if not self.reason:
                self._start_kib = _status_kib("VmRSS")
        else:
            self.reason = f"no peak-memory counter for device type {self.device.type!r}"
        return self

    def __exit__(self, *exc_info) -> None:
        if exc_info[0] is not None or self.reason:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mb = (torch.cuda.max_memory_allocated(self.device) - self._start[0]) / MB
            self.reserved_mb = (torch.cuda.max_memory_reserved(self.device) - self._start[1]) / MB
        else:
            self.mb = max(0, _status_kib("VmHWM") - self._start_kib) * 1024 / MB

    def metrics(self, prefix: str) -> dict:
        """`{prefix}_peak_mem_mb` (plus `_reserved_mb` on CUDA), or `{prefix}_peak_mem_mb_reason`."""
        key = f"{prefix}_peak_mem_mb"
        if self.mb is None:
            return {f"{key}_reason": self.reason or "not measured"}
        out = {key: self.mb}
        if self.reserved_mb is not None:
            out[f"{prefix}_peak_mem_reserved_mb"] = self.reserved_mb
        return out
