"""Out-of-memory as a recorded result: recognise an allocation failure, free what it held, say how much is free."""

from __future__ import annotations

import gc
import os
import traceback

import torch

from suite.results.schema import CaseResult


def is_out_of_memory(exc: BaseException) -> bool:
    """An allocation failure: CUDA's OutOfMemoryError, Python's MemoryError, or the RuntimeError of an
    allocator ("DefaultCPUAllocator: can't allocate memory", "MPS backend out of memory")."""
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(s in str(exc) for s in ("out of memory", "can't allocate"))


def out_of_memory_result(case, exc: BaseException) -> CaseResult:
    """Free what the failed `case` (a suite.cases.Case) held, then record 'oom' with the batch size and the memory
    left free."""
    message = (str(exc).splitlines() or [type(exc).__name__])[0]
    traceback.clear_frames(exc.__traceback__)  # the failed frames' tensors
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    free = free_memory_mb(case.device)
    free_text = "unknown" if free is None else f"{free:,.0f} MiB"
    return CaseResult(case.id, case.as_dict(), "oom",
                      f"out of memory at batch size {case.batch_size} (free after cleanup: {free_text}): {message}",
                      {"oom_batch_size": case.batch_size, "free_memory_mb": free})


def free_memory_mb(device: str) -> float | None:
    """Free memory of a device in MiB: CUDA's free device memory, else the host's MemAvailable
    (Linux /proc/meminfo, see the kernel's Documentation/filesystems/proc.rst); None where unknown."""
    if device == "cuda" and torch.cuda.is_available():
        return torch.cuda.mem_get_info()[0] / 2**20
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024  # the file counts kB (KiB)
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (ValueError, OSError):
        return None
