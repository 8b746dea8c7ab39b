"""OpenVINO on the CPU: the exported ONNX file converted to OpenVINO IR, int8 by NNCF, the timed callable.

The IR is saved uncompressed (`ov.save_model(..., compress_to_fp16=False)`; its default stores fp16 weights), and
the CPU plugin is told `INFERENCE_PRECISION_HINT=f32`: on CPUs with bf16 units it otherwise computes in bf16, which
would make the fp32 row a bf16 one. int8 follows NNCF (https://docs.openvino.ai/nncf): `nncf.quantize` for
static-int8 (calibrated on training batches), `nncf.compress_weights` (int8 weights) for dynamic-int8.
Everything imports lazily: the `openvino` extra is optional.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np

CONFIG = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
IMPLEMENTATION = {
    "dynamic-int8": "nncf.compress_weights (INT8_ASYM weights; activations stay f32 or are quantized per call as "
                    "the CPU plugin decides)",
    "static-int8": "nncf.quantize (int8 weights and activations, ranges calibrated on training batches)",
}


def convert(onnx_path, xml_path):
    """The OpenVINO model of an ONNX file, saved as IR (xml + bin) at `xml_path`."""
    import openvino as ov

    model = ov.convert_model(str(onnx_path))
    ov.save_model(model, str(xml_path), compress_to_fp16=False)
    return model


def ir_bytes(xml_path) -> int:
    """Bytes of the IR on disk: the .xml graph plus the .bin weights."""
    xml = Path(xml_path)
    return xml.stat().st_size + xml.with_suffix(".bin").stat().st_size


def quantize(model, xml_path, method: str, calibration: list[np.ndarray]):
    """The int8 model of an OpenVINO model (calibration batches for static-int8 only), saved as IR."""
    import nncf
    import openvino as ov

    logging.getLogger("nncf").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if method == "dynamic-int8":
            model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        else:
            model = nncf.quantize(model, nncf.Dataset(calibration), subset_size=sum(len(b) for b in calibration))
    ov.save_model(model, str(xml_path), compress_to_fp16=False)
    return model


def runner(model, threads: int):
    """fn(numpy array) -> numpy logits: the model compiled for the CPU with `threads` inference threads."""
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {**CONFIG, "INFERENCE_NUM_THREADS": threads})
    request, output = compiled.create_infer_request(), compiled.output(0)

    def run(x: np.ndarray) -> np.ndarray:
        return request.infer([x])[output]

    return run
