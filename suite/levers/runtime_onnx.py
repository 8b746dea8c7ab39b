"""ONNX export (torch.onnx's dynamo exporter) and ONNX Runtime: sessions, int8 quantization, the timed callable.

https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html describes the two int8 flows used
here: `quantize_dynamic` (int8 weights, activations quantized per call) and `quantize_static` (activation ranges
calibrated on sample inputs, QDQ format). Everything imports lazily: the `onnx` extra is optional.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings

import numpy as np
import torch

OPSET = 18  # the dynamo exporter's default opset in torch 2.13; fixed so every run exports the same graph
EXPORTER = f"torch.onnx.export(dynamo=True, opset_version={OPSET}, dynamic batch dimension)"
GRAPH_OPTIMIZATION = "ORT_ENABLE_ALL"
DYNAMIC_OPS = ["MatMul", "Gemm"]  # Linear layers only, as torch.ao's dynamic-int8 (suite/levers/compression.py)
IMPLEMENTATION = {
    "dynamic-int8": "onnxruntime.quantization.quantize_dynamic (int8 weights of MatMul/Gemm, uint8 activations "
                    "quantized per call)",
    "static-int8": "onnxruntime.quantization.quantize_static (QDQ, int8 per-channel weights, uint8 activations, "
                   "MinMax ranges calibrated on training batches)",
}


class ExportError(Exception):
    """The exporter could not convert the model (an unsupported op, typically): the case is skipped."""


def export(model: torch.nn.Module, example: torch.Tensor, path) -> None:
    """Write `model` (eval mode, CPU) to the ONNX file `path` with a dynamic batch dimension; ExportError with
    the exporter's first line of message when it fails."""
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notices
    quiet = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (example,), str(path), dynamo=True, opset_version=OPSET,
                              dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False,
                              verbose=False)
    except Exception as exc:  # the exporter raises many types (torch._dynamo, onnxscript, ONNX checker)
        raise ExportError(f"ONNX export failed: {export_message(exc)}"[:300]) from None


def export_message(exc: Exception) -> str:
    """The line of an exporter error that names the cause: the first of its "Exception summary" (the op without an
    ONNX function, for an unsupported op), else its first line; ANSI colours removed."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
    if "## Exception summary" in lines[:-1]:
        line = lines[lines.index("## Exception summary") + 1]
        return re.sub(r"^<class '(?:[\w.]+\.)?(\w+)'>:", r"\1:", line)
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def session(path, threads: int, device: str = "cpu"):
    """An ONNX Runtime session on the CPU (or CUDA) execution provider with `threads` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, GRAPH_OPTIMIZATION)
    options.log_severity_level = 3
    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    return ort.InferenceSession(str(path), options, providers=[provider])


def runner(sess):
    """fn(numpy array) -> numpy logits for the session's single input and first output."""
    name = sess.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return sess.run(None, {name: x})[0]

    return run


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of input batches."""

    def __init__(self, name: str, batches: list[np.ndarray]):
        self.items = iter([{name: b} for b in batches])

    def get_next(self):
        return next(self.items, None)


@contextlib.contextmanager
def _restored(logger, level):
    try:
        yield
    finally:
        logger.setLevel(level)


def quantize(fp32_path, int8_path, method: str, calibration: list[np.ndarray]) -> None:
    """Write the int8 model of `fp32_path` to `int8_path` (calibration batches for static-int8 only)."""
    import onnx
    from onnxruntime import quantization as q

    root, level = logging.getLogger(), logging.getLogger().level
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _restored(root, level):
        warnings.simplefilter("ignore")
        root.setLevel(logging.ERROR)  # the quantizers log advice and every pre-processing step on the root logger
        if method == "dynamic-int8":
            q.quantize_dynamic(str(fp32_path), str(int8_path), weight_type=q.QuantType.QInt8,
                               op_types_to_quantize=DYNAMIC_OPS)
            return
        # Shape inference and graph cleanup first, as onnxruntime recommends before static quantization.
        prepared = str(int8_path) + ".pre.onnx"
        q.quant_pre_process(str(fp32_path), prepared, skip_symbolic_shape=True)
        name = onnx.load(prepared, load_external_data=False).graph.input[0].name
        q.quantize_static(prepared, str(int8_path), _Reader(name, calibration), quant_format=q.QuantFormat.QDQ,
                          per_channel=True, activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                          calibrate_method=q.CalibrationMethod.MinMax)
