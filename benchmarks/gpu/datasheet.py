"""Datasheet peak FLOP/s of NVIDIA data-centre GPUs, with their sources, to show a measured ceiling against.

Figures are copied as the datasheets print them, in TFLOP/s. Their tensor-core figures (TF32, BF16, FP16)
are with 2:4 structured sparsity ("* With sparsity"; the H100 datasheet adds "Specifications are
one-half lower without sparsity"), so the dense peak that a dense matmul can approach is half of it;
FP32 (CUDA cores) is dense as printed. The match is on the NVML device name (e.g. "NVIDIA H100 80GB HBM3"
is the SXM5 board, "NVIDIA H100 NVL", "NVIDIA H100 PCIe"), most specific pattern first.
"""

from __future__ import annotations

import re

H100 = ("NVIDIA H100 Tensor Core GPU datasheet, https://resources.nvidia.com/en-us-tensor-core/"
        "nvidia-tensor-core-gpu-datasheet (H100 PCIe: the datasheet's 2022 revision)")
H200 = "NVIDIA H200 Tensor Core GPU, specifications, https://www.nvidia.com/en-us/data-center/h200/"
A100 = ("NVIDIA A100 Tensor Core GPU datasheet, https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/"
        "a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf")
SPARSE = ("tf32", "bf16", "fp16")  # printed with sparsity: dense = half

# (pattern on the lower-case NVML name, board, TFLOP/s as printed, source); first match wins
DATASHEETS = [
    (r"\bh100\b.*\bnvl\b", "H100 NVL", {"fp32": 60, "tf32": 835, "bf16": 1671, "fp16": 1671}, H100),
    (r"\bh100\b.*\bpcie\b", "H100 PCIe", {"fp32": 51, "tf32": 756, "bf16": 1513, "fp16": 1513}, H100),
    (r"\bh100\b", "H100 SXM", {"fp32": 67, "tf32": 989, "bf16": 1979, "fp16": 1979}, H100),
    (r"\bh200\b.*\bnvl\b", "H200 NVL", {"fp32": 60, "tf32": 835, "bf16": 1671, "fp16": 1671}, H200),
    (r"\bh200\b", "H200 SXM", {"fp32": 67, "tf32": 989, "bf16": 1979, "fp16": 1979}, H200),
    (r"\ba100\b", "A100", {"fp32": 19.5, "tf32": 312, "bf16": 624, "fp16": 624}, A100),
]


def datasheet_peak(gpu_name: str, precision: str) -> dict:
    """{"board", "dense_tflops", "printed_tflops", "source"} for a GPU and precision, or {"reason"} when
    no datasheet entry matches."""
    for pattern, board, printed, source in DATASHEETS:
        if re.search(pattern, gpu_name.lower()):
            if precision not in printed:
                return {"reason": f"no {precision} figure on the {board} datasheet"}
            dense = printed[precision] / 2 if precision in SPARSE else printed[precision]
            note = " (printed with sparsity; dense is half)" if precision in SPARSE else ""
            return {"board": board, "dense_tflops": float(dense), "printed_tflops": printed[precision],
                    "source": source + note}
    boards = ", ".join(board for _, board, _, _ in DATASHEETS)
    return {"reason": f"no datasheet entry for {gpu_name!r} (known: {boards})"}
