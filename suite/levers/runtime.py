"""The `runtime` lever: which inference runtime runs the trained model — PyTorch itself, ONNX Runtime or OpenVINO.

It acts after training and at inference. After training (and after pruning, which applies before export) the model
is exported once to ONNX, converted where the runtime needs it (OpenVINO IR), checked against PyTorch's outputs on
the test split, and quantized with the runtime's own int8 flow when the case's `quantization` asks. At inference
the runtime's model stands in for the torch module: `RuntimeModel` takes a tensor and gives logits, so the suite's
one latency procedure, batched throughput and evaluation time it exactly as they time PyTorch.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import tempfile
from pathlib import Path

import torch

from suite.levers import compression, runtime_onnx, runtime_openvino
from suite.levers.lever import AfterTraining, Lever
from suite.measure.timing import time_rounds
from suite.plumbing.errors import ConfigError
from suite.plumbing.fields import CaseField
from suite.results.study import compressed_target_metrics

RUNTIMES = {
    "torch": "PyTorch eager (or torch.compile per `compile`); int8 by torch.ao; the file is torch.save(state_dict)",
    "onnxruntime": "ONNX Runtime on its CPU execution provider (CUDA with onnxruntime-gpu); int8 by "
                   "onnxruntime.quantization; the file is the ONNX model",
    "openvino": "OpenVINO on the CPU; int8 by NNCF; the file is the OpenVINO IR (xml + bin)",
}
# The optional extras each runtime needs: (importable modules, the install command of the skip reason).
EXTRAS = {"onnxruntime": (("onnx", "onnxscript", "onnxruntime"), 'pip install -e ".[onnx]"'),
          "openvino": (("onnx", "onnxscript", "openvino", "nncf"), 'pip install -e ".[onnx,openvino]"')}
# A runtime other than torch runs the exported fp32 graph: these fields must keep their defaults.
REQUIRED = {"compile": "none", "memory_format": "contiguous", "precision": "fp32"}


class Unsupported(Exception):
    """The case cannot run in its runtime here (a failed export): recorded as skipped with this reason."""


def validate(case) -> None:
    """ConfigError, one line, for a combination a runtime other than torch does not take."""
    if case.runtime == "torch":
        return
    for name, required in REQUIRED.items():
        value = getattr(case, name)
        if value != required:
            raise ConfigError(f"runtime {case.runtime!r} needs {name} {required!r}, got {value!r} (lower precision "
                              f"there is the runtime's own int8: quantization = dynamic-int8 or static-int8)")


def id_parts(case) -> list[str]:
    """The runtime's id fragment: none for torch."""
    return [case.runtime] if case.runtime != "torch" else []


def availability(case) -> tuple[bool, str]:
    """(True, "") when the case's runtime (and its int8 flow) can run here, else the reason: the install command
    for a missing extra, the device for one the runtime cannot use."""
    if case.runtime == "torch":  # torch's own int8: the Compression lever's availability
        return True, ""
    modules, command = EXTRAS[case.runtime]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        return False, f"runtime {case.runtime} needs {', '.join(missing)}: {command}"
    if case.runtime == "openvino" and case.device != "cpu":
        return False, f"runtime openvino runs on the CPU here (device {case.device})"
    if case.runtime == "onnxruntime" and case.device == "cuda":
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            return False, ("ONNX Runtime's CUDA execution provider comes with onnxruntime-gpu, which replaces "
                           "onnxruntime: pip uninstall onnxruntime && pip install onnxruntime-gpu")
    elif case.runtime == "onnxruntime" and case.device != "cpu":
        return False, f"runtime onnxruntime runs on cpu or cuda (device {case.device})"
    return True, ""


def procedure_notes() -> dict:
    """What each runtime's figures include (exporter, opset, graph optimization, plug-in settings, int8 flows):
    settings, never measured values, for the run's procedure record."""
    return {"onnx_exporter": runtime_onnx.EXPORTER, "onnx_opset": runtime_onnx.OPSET,
            "onnxruntime": f"graph_optimization_level {runtime_onnx.GRAPH_OPTIMIZATION}, sequential execution, "
                           "intra_op_num_threads = the case's threads (else torch's count), inter_op 1",
            "onnxruntime_int8": runtime_onnx.IMPLEMENTATION,
            "openvino": f"IR converted from the ONNX file, fp32 weights; CPU plugin {runtime_openvino.CONFIG}, "
                        "INFERENCE_NUM_THREADS = the case's threads (else torch's count)",
            "openvino_int8": runtime_openvino.IMPLEMENTATION,
            "torch_int8": "torch.ao.quantization, x86 backend (suite/levers/compression.py)"}


class RuntimeModel:
    """A runtime's model behind the torch call convention: model(tensor) -> logits tensor on the input's device.
    eval() and train() return it unchanged, so the suite's latency, throughput and evaluation code takes it."""

    def __init__(self, run):
        self.run = run

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.run(x.cpu().numpy())).to(x.device)

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self


@dataclasses.dataclass
class Deployed:
    """A runtime's model and its file on disk."""

    model: RuntimeModel
    file_bytes: int
    native: object = None  # the runtime's own model object (OpenVINO), quantized from


def _load(case, folder: Path, torch_model, example, threads: int) -> Deployed:
    """Export the fp32 model to ONNX (and IR for OpenVINO) in `folder` and load it into the case's runtime."""
    onnx_path = folder / "model.onnx"
    try:
        runtime_onnx.export(torch_model, example, onnx_path)
    except runtime_onnx.ExportError as exc:
        raise Unsupported(str(exc)) from None
    if case.runtime == "onnxruntime":
        sess = runtime_onnx.session(onnx_path, threads, case.device)
        return Deployed(RuntimeModel(runtime_onnx.runner(sess)), onnx_path.stat().st_size)
    native = runtime_openvino.convert(onnx_path, folder / "model.xml")
    model = RuntimeModel(runtime_openvino.runner(native, threads))
    return Deployed(model, runtime_openvino.ir_bytes(folder / "model.xml"), native)


def _quantize(case, folder: Path, fp32: Deployed, calibration: list, threads: int) -> Deployed:
    """The runtime's int8 model of the fp32 one in `folder`."""
    batches = [x.cpu().numpy() for x in calibration]
    if case.runtime == "onnxruntime":
        path = folder / "model-int8.onnx"
        runtime_onnx.quantize(folder / "model.onnx", path, case.quantization, batches)
        sess = runtime_onnx.session(path, threads, case.device)
        return Deployed(RuntimeModel(runtime_onnx.runner(sess)), path.stat().st_size)
    xml = folder / "model-int8.xml"
    native = runtime_openvino.quantize(fp32.native, xml, case.quantization, batches)
    return Deployed(RuntimeModel(runtime_openvino.runner(native, threads)), runtime_openvino.ir_bytes(xml))


def agreement_metrics(reference: torch.nn.Module, candidate, x: torch.Tensor, batch_size: int = 1024) -> dict:
    """How closely `candidate` reproduces `reference` on inputs x: the largest absolute logit difference and the
    fraction of samples (tokens, for a language model) whose top-1 class agrees."""
    worst, agree, total = 0.0, 0, 0
    with torch.inference_mode():
        for xb in x.split(batch_size):
            a, b = reference(xb).float(), candidate(xb).float()
            worst = max(worst, float((a - b).abs().max()))
            agree += int((a.argmax(-1) == b.argmax(-1)).sum())
            total += a.argmax(-1).numel()
    return {"export_max_abs_diff": worst, "export_top1_agreement": agree / total}


def after_training(case, model: torch.nn.Module, outcome, tools: AfterTraining) -> tuple[object, object, dict]:
    """(inference model, outcome, metrics) for the trained (and pruned) `model`. torch: the model itself, with the
    size of its state_dict file. Another runtime: the exported model, checked against `model` on the test split,
    then quantized by the runtime when the case asks, its accuracy, latency (`tools.latency_p50`) and file size
    compared with the same runtime's fp32 model; `outcome` then carries the int8 model's accuracy."""
    data, evaluate = tools.data, tools.evaluate
    threads = case.threads or torch.get_num_threads()  # one count for every runtime of a comparison
    if case.runtime == "torch":  # the Threads lever's scope already set its count
        return model, outcome, {"model_file_bytes": compression.state_dict_bytes(model), "runtime_threads": threads}
    cpu_model = copy.deepcopy(model).to("cpu").eval()  # exported from the CPU; `model` stays on its device
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fp32 = _load(case, folder, cpu_model, data.x_test[:2].cpu(), threads)
        metrics = {"runtime_threads": threads, **agreement_metrics(model.eval(), fp32.model, data.x_test)}
        deployed = fp32
        if case.quantization != "none" and outcome.status == "ok":
            accuracy, loss = evaluate(fp32.model, data.x_test, data.y_test)
            metrics |= {"test_accuracy_uncompressed": accuracy, "test_loss_uncompressed": loss,
                        "infer_latency_ms_p50_uncompressed": tools.latency_p50(fp32.model),
                        "model_file_bytes_uncompressed": fp32.file_bytes}
            calibration = compression.calibration_batches(data, case.batch_size, case.seed)  # training split
            deployed = _quantize(case, folder, fp32, calibration, threads)
    accuracy, loss = evaluate(deployed.model, data.x_test, data.y_test)
    if case.quantization != "none" and outcome.status == "ok":
        metrics |= compression.kept_metrics(accuracy, metrics["test_accuracy_uncompressed"])
    metrics["model_file_bytes"] = deployed.file_bytes
    changes = {"test_accuracy": accuracy, "test_loss": loss, "eval_seconds": time_rounds(
        lambda: evaluate(deployed.model, data.x_test, data.y_test), tools.device, 3, 1, 0)}
    if case.quantization != "none":  # an int8 model has no training curve of its own
        changes["target_metrics"] = compressed_target_metrics(case, outcome.history, outcome.train_seconds, None)
    outcome = dataclasses.replace(outcome, **changes)
    return deployed.model, outcome, metrics


class Runtime(Lever):
    """The runtime that runs the trained model: after training, the exported (and runtime-quantized) model."""

    fields = (CaseField("runtime", "str", "torch", "the inference runtime of the trained model", RUNTIMES),)

    def validate(self, case) -> None:
        validate(case)

    def id_parts(self, case) -> list[str]:
        return id_parts(case)

    def availability(self, case) -> tuple[bool, str]:
        return availability(case)

    def after_training(self, case, model, outcome, tools: AfterTraining):
        return after_training(case, model, outcome, tools)
