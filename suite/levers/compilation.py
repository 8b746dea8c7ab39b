"""The `compile` axis: eager, or torch.compile in one of its modes, with compile time kept apart.

Compile time is never part of steady-state figures: the timed rounds of training and inference start
after warm-up calls that absorb it. It is reported on its own as the seconds of the first call of a
freshly compiled callable (compilation plus one execution), twice:

- cold: dynamo reset, inductor's in-memory caches cleared and an empty on-disk cache directory
  (TORCHINDUCTOR_CACHE_DIR, read on every lookup by torch._inductor.runtime.cache_dir_utils.cache_dir);
- warm: the same again with the on-disk cache that the cold compile filled (FX graph cache hits).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import torch
from torch import nn

from suite.levers.lever import Lever
from suite.measure.devices import time_region
from suite.plumbing.fields import CaseField

COMPILE_MODES = {
    "none": "eager execution (no torch.compile)",
    "default": "torch.compile(mode=None): inductor with its default balance of compile time and speed",
    "reduce-overhead": "torch.compile(mode='reduce-overhead'): CUDA graphs on CUDA to cut launch overhead",
    "max-autotune": "torch.compile(mode='max-autotune'): autotunes kernel templates (longest compile)",
}


def availability(mode: str, device: str) -> tuple[bool, str]:
    """(True, "") when torch.compile can run here: a C++ compiler for inductor on CPU; on CUDA, Triton and
    the C compiler that Triton builds its kernel launcher with ($CC, else cc, gcc or clang on PATH)."""
    if mode == "none":
        return True, ""
    if device == "cpu":
        compiler = os.environ.get("CXX") or next((c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)
        return (True, "") if compiler else (False, "torch.compile on CPU needs a C++ compiler (none on PATH)")
    if device == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            return False, "torch.compile on CUDA needs Triton (not installed)"
        compiler = os.environ.get("CC") or next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
        return (True, "") if compiler else (False, "torch.compile on CUDA needs a C compiler for Triton (none on PATH)")
    return False, f"torch.compile is not measured on device {device!r} in this suite"


def maybe_compile(model: nn.Module, mode: str) -> nn.Module:
    """The model itself for 'none', else torch.compile(model) in that mode."""
    if mode == "none":
        return model
    return torch.compile(model, mode=None if mode == "default" else mode)


def _reset(clear_inductor: bool = True) -> None:
    torch._dynamo.reset()
    if clear_inductor:
        from torch._inductor.utils import clear_inductor_caches

        clear_inductor_caches()


@contextlib.contextmanager
def fresh_cache_dir():
    """An empty inductor cache directory for the duration, the previous setting restored after."""
    previous = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="tradeoff-inductor-") as path:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = path
        try:
            yield path
        finally:
            if previous is None:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = previous
            _reset()


def compile_seconds(make_call, device: torch.device) -> tuple[float, float]:
    """(cold, warm) seconds of the first call of `make_call()`, a freshly compiled callable each time."""
    with fresh_cache_dir():
        _reset()
        cold = time_region(device, make_call())
        _reset()
        warm = time_region(device, make_call())
    return cold, warm


class Compile(Lever):
    """torch.compile of the model the training step and the inference calls run (the accuracy run trains eager)."""

    fields = (CaseField("compile", "str", "none", "torch.compile mode of the timed step and inference",
                        COMPILE_MODES),)

    def id_parts(self, case) -> list[str]:
        return [f"compile-{case.compile}"] if case.compile != "none" else []

    def availability(self, case) -> tuple[bool, str]:
        return availability(case.compile, case.device)

    def training_model(self, case, model):
        return maybe_compile(model, case.compile)

    def inference_model(self, case, model):
        return maybe_compile(model, case.compile)
