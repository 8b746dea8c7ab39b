"""What a case costs besides time: peak memory and energy of a measured region, and its MFU.

Wrap a measured region and count the calls that ran in it:

    with CostMeter("train", device, samples_per_call) as cost:
        seconds = time_rounds(cost.count(step), device, rounds, iterations, warmup_rounds)
    metrics |= cost.metrics()    # train_peak_mem_mb, train_joules_per_sample (or *_reason)

Memory is in suite.measure.memory, energy in suite.measure.energy, the compute ceiling in suite.measure.ceiling.
"""

from __future__ import annotations

from pathlib import Path

import torch

from suite.measure.ceiling import ceiling_name, get_ceiling
from suite.measure.energy import RAPL_ROOT, Energy
from suite.measure.memory import PeakMemory

# The FLOPs per sample that each group's throughput multiplies (keys of measure.flops_per_sample).
FLOPS_KEYS = {"train": "train_flops_per_sample", "infer": "flops_per_sample"}


class CostMeter:
    """Peak memory and energy over a `with` block, and the samples the counted calls processed in it."""

    def __init__(self, prefix: str, device: torch.device, samples_per_call: int, rapl_root: Path = RAPL_ROOT):
        self.prefix, self.samples_per_call, self.calls = prefix, samples_per_call, 0
        self.memory, self.energy = PeakMemory(device), Energy(device, rapl_root)

    def count(self, fn):
        """fn, counting its calls (warm-up calls included: they ran inside the metered region). fn's
        `prepare`, where it has one, is kept: time_rounds runs it outside the clock (suite.measure.timing)."""

        def counted(*args, **kwargs):
            self.calls += 1
            return fn(*args, **kwargs)

        if hasattr(fn, "prepare"):
            counted.prepare = fn.prepare
        return counted

    def __enter__(self) -> CostMeter:
        self.memory.__enter__()  # collects garbage first: outside the energy window
        self.energy.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self.energy.__exit__(*exc_info)
        self.memory.__exit__(*exc_info)

    def metrics(self) -> dict:
        """Peak memory and energy per sample (or the reason each is absent), keyed by the prefix."""
        return self.memory.metrics(self.prefix) | self.energy.metrics(self.prefix, self.calls * self.samples_per_call)


def mfu(flops_per_sample: float, samples_per_s: float, ceiling_flops_per_s: float) -> float:
    """Model FLOPs utilization: achieved model FLOP/s over the peak FLOP/s.

    PaLM (Chowdhery et al. 2022, arXiv:2204.02311, appendix B) defines MFU as observed throughput x
    model FLOPs per token / peak FLOP/s; nanoGPT's `estimate_mfu` (model.py) computes it the same way
    against a datasheet peak. Here the peak is the GEMM rate measured on this machine (suite.measure.ceiling)
    and the FLOPs are FlopCounterMode's matmul and convolution FLOPs per sample.
    """
    return flops_per_sample * samples_per_s / ceiling_flops_per_s


QUANTIZED_MFU_REASON = ("no MFU: an int8 model's FLOPs run on integer kernels, and this suite measures no int8 "
                        "ceiling to hold them against")


def ceiling_precision(case, device: torch.device) -> str:
    """The ceiling that matches how a case computes: its `precision` (fp32 for a case without one), except
    fp32 on CUDA with TF32 on for the kind of op that carries the model's FLOPs, which is `tf32`: cuDNN
    convolutions for the conv models (torch.backends.cudnn.allow_tf32, on by default), cuBLAS matmuls for
    the others (the case's `matmul_precision`: "high" is TF32; a case without the field, the setting in force)."""
    fields = case.as_dict()
    precision = fields.get("precision", "fp32")
    if precision != "fp32" or device.type != "cuda":
        return precision
    if case.convolutional:
        tf32 = torch.backends.cudnn.allow_tf32
    elif "matmul_precision" in fields:
        tf32 = fields["matmul_precision"] == "high"
    else:
        tf32 = torch.backends.cuda.matmul.allow_tf32
    return "tf32" if tf32 else "fp32"


def mfu_metrics(metrics: dict, case, device: torch.device) -> dict:
    """`train_mfu` and `infer_mfu` for each group whose throughput and FLOPs are both in `metrics`,
    against the ceiling of the device at the precision the case computes in (ceiling_precision), named in
    `mfu_ceiling_key` with its figure. A quantized model's inference gets no MFU, with the reason."""
    fields = case.as_dict()
    precision = ceiling_precision(case, device)
    ceiling = get_ceiling(device, precision)["flops_per_s"]
    out = {"mfu_ceiling_key": ceiling_name(device, precision), "mfu_ceiling_gflops": ceiling / 1e9}
    for prefix, flops_key in FLOPS_KEYS.items():
        if metrics.get(f"{prefix}_samples_per_s") is None or metrics.get(flops_key) is None:
            continue
        if prefix == "infer" and fields.get("quantization", "none") != "none":
            out["infer_mfu_reason"] = QUANTIZED_MFU_REASON
            continue
        out[f"{prefix}_mfu"] = mfu(metrics[flops_key], metrics[f"{prefix}_samples_per_s"], ceiling)
    return out
