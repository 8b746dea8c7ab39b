"""The acceleration levers of a case: their registries, validation, id fragments, availability, and the
two that act on the whole case (memory format, intra-op threads). Each lever's mechanics live in its
own module: precision.py, compilation.py, compression.py, distributed.py, runtime.py, and environment.py for
the levers a process takes when it starts (allocator, OpenMP binding, inter-op threads).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os

import torch

from suite.levers import compilation, compression, distributed, environment, precision, runtime
from suite.measure.devices import availability as device_availability
from suite.optim import OPTIMIZERS, fused_availability
from suite.plumbing.errors import ConfigError, shown
from suite.workloads import keras_seed
from suite.workloads.models import BUILDERS, CONV_MODELS

MEMORY_FORMATS = {
    "contiguous": "NCHW tensors (torch.contiguous_format)",
    "channels_last": "NHWC tensors for the conv models' (and plug-in models') weights and inputs (torch.channels_last)",
}
LEVER_CHOICES = {
    "precision": precision.PRECISIONS,
    "compile": compilation.COMPILE_MODES,
    "memory_format": MEMORY_FORMATS,
    "quantization": compression.QUANTIZATIONS,
    "matmul_precision": precision.MATMUL_PRECISIONS,
    "runtime": runtime.RUNTIMES,
    "allocator": environment.ALLOCATORS,
    "omp_bind": environment.OMP_BINDS,
}


def validate(case) -> None:
    """Check the lever fields and their combinations (called from Case.__post_init__); ConfigError names
    the field. Normalizes finetune_epochs: None without pruning, 1 by default with it."""
    compression.parse_pruning(case.pruning)
    if case.pruning == "none":
        object.__setattr__(case, "finetune_epochs", None)
    elif case.finetune_epochs is None:
        object.__setattr__(case, "finetune_epochs", 1)
    for name, minimum in (("finetune_epochs", 0), ("threads", 1), ("world_size", 1)):
        value = getattr(case, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            raise ConfigError(f"field {name!r} must be an integer >= {minimum}, got {shown(value)}")
    if case.memory_format == "channels_last" and case.model not in CONV_MODELS and case.model in BUILDERS:
        raise ConfigError(f"memory_format channels_last needs a conv model ({', '.join(CONV_MODELS)}), "
                          f"got {case.model!r}")
    if case.quantization != "none" and (case.precision != "fp32" or case.compile != "none"):
        raise ConfigError("quantization needs precision fp32 and compile none (it measures eager int8 kernels)")
    full_batch = OPTIMIZERS[case.optimizer].full_batch
    if full_batch and (case.precision == "fp16" or case.world_size > 1):
        raise ConfigError(f"optimizer {case.optimizer!r} (full batch) runs with neither fp16 nor world_size > 1")
    if case.world_size > 1 and case.compile != "none":
        raise ConfigError("world_size > 1 is measured eager (compile none)")
    runtime.validate(case)
    environment.validate(case)


def id_parts(case) -> list[str]:
    """Id fragments for the levers that differ from their defaults (an all-default case adds none)."""
    parts = [case.precision] if case.precision != "fp32" else []
    parts += ["tf32"] if case.matmul_precision == "high" else []
    parts += [f"compile-{case.compile}"] if case.compile != "none" else []
    parts += ["cl"] if case.memory_format == "channels_last" else []
    parts += [case.quantization] if case.quantization != "none" else []
    if case.pruning != "none":
        method, sparsity = compression.parse_pruning(case.pruning)
        parts += [f"prune-{method}{sparsity:g}", f"ft{case.finetune_epochs}"]
    parts += [f"t{case.threads}"] if case.threads is not None else []
    parts += [f"ws{case.world_size}"] if case.world_size != 1 else []
    return parts + runtime.id_parts(case) + environment.id_parts(case)


def determinism_availability(case) -> tuple[bool, str]:
    """Deterministic algorithms on CUDA need cuBLAS's workspace setting before CUDA starts
    (https://pytorch.org/docs/stable/notes/randomness.html): without it every matmul would raise."""
    if case.deterministic and case.device == "cuda" and not os.environ.get("CUBLAS_WORKSPACE_CONFIG"):
        return False, "deterministic=true on CUDA needs CUBLAS_WORKSPACE_CONFIG=:4096:8 set before the run starts"
    return True, ""


def availability(case) -> tuple[bool, str]:
    """(True, "") when the case's device and every lever it uses can run here, else the first reason."""
    for ok, reason in (device_availability(case.device), determinism_availability(case),
                       precision.availability(case.precision, case.device, case.matmul_precision),
                       fused_availability(case),
                       compilation.availability(case.compile, case.device),
                       runtime.availability(case),  # torch: compression.availability
                       distributed.availability(case.world_size, case.device),
                       environment.availability(case), keras_seed.availability(case)):
        if not ok:
            return ok, reason
    return True, ""


@contextlib.contextmanager
def intra_op_threads(threads: int | None):
    """torch.set_num_threads(threads) for the duration (nothing when None), the previous count restored."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def with_case_threads(measure):
    """Decorate `measure(case, ...)` to run under the case's intra-op thread count and matmul precision."""

    @functools.wraps(measure)
    def wrapped(case, *args, **kwargs):
        with intra_op_threads(case.threads), precision.case_matmul_precision(case):
            return measure(case, *args, **kwargs)

    return wrapped


def apply_memory_format(model: torch.nn.Module, data, memory_format: str):
    """(model, data) with the conv weights and the image tensors in channels_last when asked."""
    if memory_format != "channels_last":
        return model, data
    fmt = torch.channels_last
    images = {k: getattr(data, k).contiguous(memory_format=fmt) for k in ("x_train", "x_test")}
    return model.to(memory_format=fmt), dataclasses.replace(data, **images)


def prepare_model(case, model: torch.nn.Module, data, device: torch.device):
    """(model, data) with the case's memory format and precision applied to the freshly built model."""
    model, data = apply_memory_format(model, data, case.memory_format)
    return precision.apply_precision(model, case.precision, device), data
