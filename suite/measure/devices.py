"""Devices: which exist here, how to synchronize and time them, and the environment fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
import time

import torch

from suite.results.isa import isa_class

DEVICES = {
    "cpu": "the host CPU (intra-op threads as torch reports them)",
    "cuda": "an NVIDIA GPU through CUDA (timed with CUDA events)",
    "mps": "an Apple GPU through Metal Performance Shaders",
    "xla": "an XLA device through torch_xla (TPU and others)",
}


def availability(name: str) -> tuple[bool, str]:
    """(True, "") when the device can run here, else (False, the reason)."""
    if name == "cpu":
        return True, ""
    if name == "cuda":
        return (True, "") if torch.cuda.is_available() else (False, "CUDA is not available on this machine")
    if name == "mps":
        ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        return (True, "") if ok else (False, "MPS is not available on this machine")
    if name == "xla":
        try:
            import torch_xla.core.xla_model  # noqa: F401
        except ImportError:
            return False, "torch_xla is not installed"
        return True, ""
    return False, f"unknown device {name!r}"


def torch_device(name: str) -> torch.device:
    """The torch.device for a device name."""
    if name == "xla":
        import torch_xla.core.xla_model as xm

        return xm.xla_device()
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    """Wait until every queued kernel on `device` has finished (torch.accelerator for any other
    accelerator torch knows; the CPU runs synchronously)."""
    if device.type == "cpu":
        return
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
    elif device.type == "xla":
        import torch_xla.core.xla_model as xm

        xm.wait_device_ops()
    elif hasattr(torch, "accelerator"):  # torch >= 2.6: XPU, HPU, privateuse1 backends
        torch.accelerator.synchronize(device)


def synced_perf_counter() -> float:
    """perf_counter read after the current accelerator (torch.accelerator, else an initialized CUDA)
    finished its queued work: a timer that needs no device argument."""
    accelerator = torch.accelerator.current_accelerator() if hasattr(torch, "accelerator") else None
    if accelerator is not None and (accelerator.type != "cuda" or torch.cuda.is_initialized()):
        synchronize(accelerator)
    elif torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter()


def time_region(device: torch.device, fn, repeat: int = 1) -> float:
    """Seconds for `repeat` calls of fn: CUDA events on a CUDA device, else perf_counter after a sync."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeat):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0
    synchronize(device)
    begin = time.perf_counter()
    for _ in range(repeat):
        fn()
    synchronize(device)
    return time.perf_counter() - begin


def gpu_info() -> list[dict]:
    """Name, driver, memory, compute capability, clocks and power limit of each NVIDIA GPU through NVML (a
    figure this GPU or driver does not report is None); where NVML fails, each CUDA device's name and memory
    from torch (so the fingerprint always names the GPU); empty where there is none."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no driver library, or NVML refused: torch may still see the GPUs
        return torch_gpu_info()
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            gpus.append({"name": _text(pynvml.nvmlDeviceGetName(handle)), "driver": _text(driver),
                         "memory_mb": pynvml.nvmlDeviceGetMemoryInfo(handle).total // 2**20,
                         **_nvml_details(pynvml, handle)})
        return gpus
    finally:
        pynvml.nvmlShutdown()


def torch_gpu_info() -> list[dict]:
    """Name and memory of each CUDA device as torch reports them (no driver version without NVML)."""
    if not torch.cuda.is_available():
        return []
    return [{"name": torch.cuda.get_device_name(i), "driver": None,
             "memory_mb": torch.cuda.get_device_properties(i).total_memory // 2**20, "source": "torch.cuda"}
            for i in range(torch.cuda.device_count())]


def _nvml_details(pynvml, handle) -> dict:
    """Compute capability, SM and memory clocks (maximum and at this moment, MHz) and the power limit (W)."""
    queries = {
        "compute_capability": lambda: ".".join(map(str, pynvml.nvmlDeviceGetCudaComputeCapability(handle))),
        "sm_clock_max_mhz": lambda: pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM),
        "sm_clock_mhz": lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM),
        "memory_clock_max_mhz": lambda: pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM),
        "power_limit_w": lambda: pynvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000,
    }
    details = {}
    for key, query in queries.items():
        try:
            details[key] = query()
        except Exception:  # NVMLError_NotSupported and kin: not reported by this GPU or driver
            details[key] = None
    return details


def tf32_settings() -> dict:
    """Whether CUDA fp32 work may use TF32 tensor cores: cuBLAS matmuls and cuDNN convolutions."""
    return {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn_conv": torch.backends.cudnn.allow_tf32}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")
# Environment variables that tune them: glibc (MALLOC_ARENA_MAX..., GLIBC_TUNABLES), jemalloc (MALLOC_CONF),
# tcmalloc (TCMALLOC_*), mimalloc (MIMALLOC_*).
ALLOCATOR_ENV = ("MALLOC_", "GLIBC_TUNABLES", "TCMALLOC_", "MIMALLOC_")


def allocator_info(maps_path: str = "/proc/self/maps") -> dict:
    """The memory allocator in use: jemalloc, tcmalloc or mimalloc when preloaded or mapped into the process
    (Linux's /proc/self/maps lists every mapped library), else glibc malloc; with the C library's version
    and the environment variables that tune the allocator."""
    preload = os.environ.get("LD_PRELOAD", "")
    try:
        with open(maps_path, encoding="utf-8", errors="replace") as maps:
            mapped = maps.read()
    except OSError:  # not Linux: LD_PRELOAD is all there is to go on
        mapped = ""
    name = next((lib for lib in ALLOCATORS if lib in preload or f"lib{lib}" in mapped), "glibc")
    settings = {k: v for k, v in sorted(os.environ.items()) if k.startswith(ALLOCATOR_ENV)}
    libc = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in getattr(os, "confstr_names", {}) else None
    return {"name": name, "ld_preload": preload, "settings": settings, "libc": libc}


_CPU_INFO: dict = {}


def cpu_info() -> dict:
    """py-cpuinfo's description of this CPU, read once per process (a read takes about a second)."""
    if "cpu" not in _CPU_INFO:
        import cpuinfo

        _CPU_INFO["cpu"] = cpuinfo.get_cpu_info()
    return _CPU_INFO["cpu"]


def keep_cpu_info(cpu: dict) -> None:
    """Take `cpu`, this machine's description as pytest-benchmark's machine_info read it, for cpu_info()."""
    _CPU_INFO.setdefault("cpu", cpu)


def environment_parts(cpu: dict | None = None) -> dict:
    """What a run's figures depend on, with a short fingerprint of the parts that must match for two runs to be
    compared (CPU model, its instruction-set class (suite.results.isa), cores, torch version, threads, GPU models
    and TF32, allocator). suite.measure.environment adds the measured matmul ceilings of that fingerprint."""
    cpu = cpu_info() if cpu is None else cpu
    env = {
        "cpu_brand": cpu.get("brand_raw", "unknown"),
        "cpu_isa": isa_class(cpu),
        "cpu_cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "tf32": tf32_settings(),
        "gpus": gpu_info(),
        "allocator": allocator_info(),
    }
    env["fingerprint"] = fingerprint(env)
    return env


def fingerprint(env: dict) -> str:
    """12 hex digits identifying the environment's comparable parts (with GPUs, the TF32 settings too:
    they change what fp32 work computes and how fast; without, CPU fingerprints stay as they were)."""
    parts = {k: env.get(k) for k in ("cpu_brand", "cpu_isa", "cpu_cores", "torch", "torch_threads", "allocator")}
    parts["gpus"] = [g.get("name") for g in env.get("gpus", [])]
    if parts["gpus"]:
        parts["tf32"] = env.get("tf32")
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]
