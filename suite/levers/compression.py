"""The `quantization` and `pruning` axes: compress a trained model, then measure it like any other.

Quantization uses PyTorch's eager-mode int8 flow in `torch.ao.quantization` with the `x86` backend
(https://pytorch.org/docs/stable/quantization.html), which runs real int8 kernels (fbgemm/oneDNN) in
eager mode. `torchao` 0.18 installs beside torch 2.13 and is where new quantization work goes, but its
CPU int8 path (PT2E with X86InductorQuantizer) only reaches int8 kernels after torch.compile lowers the
model; eager it runs quantize/dequantize reference ops. So this suite measures torch.ao's eager kernels
(deprecated upstream, still shipped in torch 2.13) and keeps compile and quantization separate axes.

Pruning uses `torch.nn.utils.prune` (https://pytorch.org/docs/stable/nn.html#module-torch.nn.utils.prune):
the masked weights stay dense tensors, so unstructured sparsity does not make dense kernels faster; the
runner reports the latency before and after so that this shows in the results.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import warnings

import torch
from torch import nn
from torch.nn.utils import prune

from suite import budget
from suite.levers.lever import AfterTraining, Lever
from suite.measure.timing import time_rounds
from suite.plumbing.errors import ConfigError, choices_error
from suite.plumbing.fields import CaseField, check_optional_int
from suite.results.study import compressed_target_metrics
from suite.workloads.data import batches

QUANTIZATIONS = {
    "none": "the trained fp32 model",
    "dynamic-int8": "int8 weights and dynamically quantized activations for Linear layers (torch.ao, x86)",
    "static-int8": "int8 conv and Linear with activation ranges calibrated on training batches (torch.ao, x86)",
}
PRUNING_METHODS = {
    "none": "no pruning",
    "l1-unstructured": "l1-unstructured:S zeroes the fraction S of smallest-magnitude weights of every conv "
    "and Linear layer",
    "ln-structured": "ln-structured:S zeroes the fraction S of output channels (L2 norm) of every conv and "
    "Linear layer except the classifier",
}
CALIBRATION_BATCHES = 10  # training batches observed to set static-int8 activation ranges
# MLPerf Inference quality target: at least 99% of the FP32 reference accuracy
# (https://github.com/mlcommons/inference_policies/blob/master/inference_rules.adoc, "Benchmarks").
KEPT_TARGET = 0.99


def parse_pruning(spec: str) -> tuple[str, float]:
    """('none', 0.0) or (method, sparsity) from 'METHOD:S' with 0 < S < 1; ConfigError otherwise."""
    if spec == "none":
        return "none", 0.0
    method, sep, amount = str(spec).partition(":")
    if method not in PRUNING_METHODS or method == "none":
        raise choices_error("pruning method", method, [m for m in PRUNING_METHODS if m != "none"])
    try:
        sparsity = float(amount)
    except ValueError:
        sparsity = -1.0
    if not sep or not 0 < sparsity < 1:
        raise ConfigError(f"pruning {spec!r}: expected {method}:S with a sparsity 0 < S < 1, e.g. {method}:0.5")
    return method, sparsity


def availability(quantization: str, device: str) -> tuple[bool, str]:
    """(True, "") when the quantization can run here: the x86 int8 kernels are CPU-only."""
    if quantization == "none":
        return True, ""
    if device != "cpu":
        return False, f"{quantization} uses torch.ao's x86 CPU kernels (device {device})"
    if "x86" not in torch.backends.quantized.supported_engines:
        return False, "this torch build has no x86 quantized engine"
    return True, ""


def _layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def prune_model(model: nn.Module, method: str, sparsity: float) -> None:
    """Attach pruning masks in place (structured pruning spares the classifier: no class is deleted)."""
    layers = _layers(model)
    for layer in layers:
        if method == "l1-unstructured":
            prune.l1_unstructured(layer, "weight", amount=sparsity)
        elif layer is not layers[-1]:
            prune.ln_structured(layer, "weight", amount=sparsity, n=2, dim=0)


def make_pruning_permanent(model: nn.Module) -> None:
    """Fold the masks into the weights (plain dense tensors with zeros) and drop the hooks."""
    for layer in _layers(model):
        if prune.is_pruned(layer) and hasattr(layer, "weight_mask"):
            prune.remove(layer, "weight")


def sparsity_metrics(model: nn.Module) -> dict:
    """Achieved sparsity of conv and Linear weights, and the parameters left non-zero (all tensors)."""
    weights = [layer.weight for layer in _layers(model)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    total = sum(w.numel() for w in weights)
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    return {"params_sparsity": zeros / total if total else 0.0, "params_nonzero": nonzero}


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of the serialized state_dict: the model's size on disk (int8 packs show here)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def calibration_batches(data, batch_size: int, seed: int) -> list[torch.Tensor]:
    """The first CALIBRATION_BATCHES training batches of the case's seeded shuffle."""
    generator = torch.Generator().manual_seed(seed)
    return [data.x_train[i] for i in batches(data, batch_size, generator)[:CALIBRATION_BATCHES]]


# Runs of layers inside a Sequential that fuse into one int8 kernel, longest first. A BatchNorm is folded into
# a copy of the convolution before it (so convolutions shared across blocks get one fused copy per block).
FUSIONS = ((nn.Conv2d, nn.BatchNorm2d, nn.ReLU), (nn.Conv2d, nn.BatchNorm2d), (nn.Conv2d, nn.ReLU),
           (nn.Linear, nn.ReLU))


def _fusable_runs(seq: nn.Sequential) -> list[list[str]]:
    """Names of the non-overlapping runs of `seq`'s children that match FUSIONS, in order."""
    children, runs, i = list(seq.named_children()), [], 0
    while i < len(children):
        for kinds in FUSIONS:
            window = children[i:i + len(kinds)]
            if len(window) == len(kinds) and all(type(m) is k for (_, m), k in zip(window, kinds)):
                runs.append([name for name, _ in window])
                i += len(kinds) - 1
                break
        i += 1
    return runs


def _fuse(model: nn.Module) -> None:
    """Fuse every Conv2d-BatchNorm2d(-ReLU), Conv2d-ReLU and Linear-ReLU run inside a Sequential (one int8
    kernel each)."""
    import torch.ao.quantization as tq

    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        runs = _fusable_runs(seq)
        if runs:
            tq.fuse_modules(seq, runs, inplace=True)


def quantize(model: nn.Module, method: str, calibration: list[torch.Tensor]) -> nn.Module:
    """An int8 copy of a trained fp32 CPU model (x86 backend); `calibration` batches set static ranges."""
    torch.backends.quantized.engine = "x86"
    model = copy.deepcopy(model).eval()
    if method == "static-int8":
        # The int8 conv kernels resize their outputs through an op with no deterministic flag
        # (quantized_resize_cpu_ raises under use_deterministic_algorithms(True)), so even a case with
        # deterministic=true quantizes with the mode off. The next case's seeding
        # (runner.seed_everything) sets the mode as that case asks.
        torch.use_deterministic_algorithms(False)
    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notices (quint8/qint8 dtypes too)
        for category in (DeprecationWarning, FutureWarning, UserWarning):
            warnings.simplefilter("ignore", category=category)
        import torch.ao.quantization as tq  # its import warns that torch.jit.script_method is deprecated

        if method == "dynamic-int8":
            return tq.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
        _fuse(model)
        wrapped = tq.QuantWrapper(model)
        wrapped.qconfig = tq.get_default_qconfig("x86")
        tq.prepare(wrapped, inplace=True)
        with torch.inference_mode():
            for x in calibration:
                wrapped(x)
        return tq.convert(wrapped, inplace=True)


def kept_metrics(accuracy: float, reference: float) -> dict:
    """accuracy_kept = compressed / uncompressed accuracy, whether it meets the 99% target, and the change in
    percentage points."""
    kept = accuracy / reference if reference else 0.0
    return {"accuracy_kept": kept, "accuracy_kept_ge_99pct": kept >= KEPT_TARGET,
            "accuracy_change_pp": 100 * (accuracy - reference)}


class Compression(Lever):
    """Pruning (then fine-tuning) and torch.ao int8 of the trained model, after training; under another runtime the
    int8 is that runtime's own (suite/levers/runtime.py) and pruning still happens here, before export."""

    fields = (CaseField("quantization", "str", "none", "int8 of the trained model", QUANTIZATIONS),
              CaseField("pruning", "str", "none", "METHOD:SPARSITY of the trained model, e.g. l1-unstructured:0.5"),
              CaseField("finetune_epochs", "int | None", None, "epochs of fine-tuning after pruning (1 when unset)"))

    def validate(self, case) -> None:
        """Also sets finetune_epochs: None without pruning, 1 by default with it."""
        parse_pruning(case.pruning)
        if case.pruning == "none":
            object.__setattr__(case, "finetune_epochs", None)
        elif case.finetune_epochs is None:
            object.__setattr__(case, "finetune_epochs", 1)
        check_optional_int(case, "finetune_epochs", 0)
        if case.quantization != "none" and (case.precision != "fp32" or case.compile != "none"):
            raise ConfigError("quantization needs precision fp32 and compile none (it measures eager int8 kernels)")

    def id_parts(self, case) -> list[str]:
        parts = [case.quantization] if case.quantization != "none" else []
        if case.pruning != "none":
            method, sparsity = parse_pruning(case.pruning)
            parts += [f"prune-{method}{sparsity:g}", f"ft{case.finetune_epochs}"]
        return parts

    def availability(self, case) -> tuple[bool, str]:
        return availability(case.quantization, case.device) if case.runtime == "torch" else (True, "")

    def after_training(self, case, model, outcome, tools: AfterTraining):
        """Prune (then fine-tune) and/or quantize the trained model. The compressed model is what the case's
        inference and accuracy figures then measure, its time-to-target included (the fine-tune's history kept as
        `finetune_history`); the metrics compare it with the model before."""
        quantization = case.quantization if case.runtime == "torch" else "none"  # else the runtime's int8
        if (case.pruning, quantization) == ("none", "none") or outcome.status != "ok":
            return model, outcome, {}
        data = tools.data
        metrics = {"test_accuracy_uncompressed": outcome.test_accuracy,
                   "infer_latency_ms_p50_uncompressed": tools.latency_p50(model),
                   "params_state_dict_bytes_uncompressed": state_dict_bytes(model),
                   "test_loss_uncompressed": outcome.test_loss}
        model, finetune = copy.deepcopy(model), None
        if case.pruning != "none":
            prune_model(model, *parse_pruning(case.pruning))
            if case.finetune_epochs:
                finetune = tools.finetune(budget.finetune_case(case), model)
                metrics["finetune_history"] = finetune.history  # the pruned model's own curve
            make_pruning_permanent(model)
            metrics |= sparsity_metrics(model)
        if quantization != "none":
            model = quantize(model, case.quantization, calibration_batches(data, case.batch_size, case.seed))
        evaluation = lambda: tools.evaluate(model, data.x_test, data.y_test)  # noqa: E731
        accuracy, loss = evaluation()
        metrics |= kept_metrics(accuracy, outcome.test_accuracy)
        metrics["params_state_dict_bytes"] = state_dict_bytes(model)
        curve = finetune.history if finetune is not None and quantization == "none" else None
        targets = compressed_target_metrics(case, outcome.history, outcome.train_seconds, curve)
        outcome = dataclasses.replace(outcome, test_accuracy=accuracy, test_loss=loss, target_metrics=targets,
                                      eval_seconds=time_rounds(evaluation, tools.device, 3, 1, 0))
        return model, outcome, metrics
