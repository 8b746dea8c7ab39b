"""The `precision` axis: fp32, or autocast to bf16 / fp16 (fp16 with a gradient scaler, CUDA only).

Autocast follows PyTorch's automatic mixed precision recipe
(https://pytorch.org/docs/stable/amp.html): matmuls and convolutions run in the lower precision,
reductions such as the loss stay in fp32. The wrapped model's logits are returned in fp32 so the loss,
the accuracy and the argmax are computed the same way for every precision.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from suite.levers.lever import Lever
from suite.measure.ceiling import matmul_tf32
from suite.optim import OPTIMIZERS
from suite.plumbing.errors import ConfigError
from suite.plumbing.fields import CaseField

PRECISIONS = {
    "fp32": "float32 everywhere (no autocast)",
    "bf16": "autocast to bfloat16 (CPU and CUDA); no gradient scaler needed (fp32's exponent range)",
    "fp16": "autocast to float16 with a GradScaler against gradient underflow (CUDA only)",
}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# torch.set_float32_matmul_precision's names for what float32 matmuls may use on CUDA: the case field
# `matmul_precision`, set for the case and restored after it (torch.backends.cuda.matmul.allow_tf32).
MATMUL_PRECISIONS = {
    "highest": "float32 matmuls in full fp32 (TF32 off; PyTorch's default)",
    "high": "float32 matmuls on TF32 tensor cores (10-bit mantissa inputs, fp32 accumulation; CUDA only)",
}


def availability(precision: str, device: str, matmul_precision: str = "highest") -> tuple[bool, str]:
    """(True, "") when the precision and matmul precision can run on the device, else (False, the reason)."""
    if precision == "fp16" and device != "cuda":
        return False, f"fp16 autocast with a GradScaler is CUDA-only in this suite (device {device})"
    if matmul_precision != "highest" and device != "cuda":
        return False, f"matmul_precision {matmul_precision!r} (TF32) applies to CUDA only (device {device})"
    return True, ""


@contextlib.contextmanager
def case_matmul_precision(case):
    """The case's matmul precision on CUDA for the duration, the previous setting restored after."""
    with matmul_tf32(torch.device(case.device), "tf32" if case.matmul_precision == "high" else "fp32"):
        yield


class Autocast(nn.Module):
    """Runs the wrapped model's forward under torch.autocast and returns fp32 logits."""

    def __init__(self, model: nn.Module, device_type: str, dtype: torch.dtype):
        super().__init__()
        self.model, self.device_type, self.dtype = model, device_type, dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.model(x).float()


def apply_precision(model: nn.Module, precision: str, device: torch.device) -> nn.Module:
    """The model itself for fp32, else wrapped to run its forward under autocast."""
    if precision == "fp32":
        return model
    return Autocast(model, device.type, DTYPES[precision])


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A GradScaler for fp16 (small gradients would underflow to zero in float16); None otherwise."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None


class Precision(Lever):
    """Autocast of the model's forward (build phase), TF32 matmuls for the case (scope); fp16's gradient scaler
    is the training step's (suite/train.py)."""

    fields = (CaseField("precision", "str", "fp32", "autocast precision of the forward", PRECISIONS),
              CaseField("matmul_precision", "str", "highest", "float32 matmuls on CUDA: highest, or high (TF32)",
                        MATMUL_PRECISIONS))

    def validate(self, case) -> None:
        if case.precision == "fp16" and OPTIMIZERS[case.optimizer].full_batch:
            raise ConfigError(f"optimizer {case.optimizer!r} (full batch) runs with neither fp16 nor world_size > 1")

    def id_parts(self, case) -> list[str]:
        return ([case.precision] if case.precision != "fp32" else []) + (
            ["tf32"] if case.matmul_precision == "high" else [])

    def availability(self, case) -> tuple[bool, str]:
        return availability(case.precision, case.device, case.matmul_precision)

    def build(self, case, model, data, device):
        return apply_precision(model, case.precision, device), data

    def scope(self, case):
        return case_matmul_precision(case)
