"""The `runtime` lever: ONNX Runtime and OpenVINO export, int8, model files, validation and skip reasons."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest
import torch

from suite.cases import Case
from suite.levers import AfterTraining, runtime
from suite.levers.threads import intra_op_threads
from suite.measure.timing import latency_metrics, time_latency
from suite.plumbing.errors import ConfigError
from suite.plumbing.fileio import write_json_atomic
from suite.procedure import procedure_difference
from suite.report.deployment import deployment_sections
from suite.results.schema import load_run, run_document
from suite.runner import MeasureConfig, latency_call, prepare, run_case, train_for_accuracy
from suite.train import evaluate
from tests.conftest import in_ci

FAST = MeasureConfig(train_rounds=1, train_steps_per_round=1, train_warmup_rounds=0, train_spread_rounds=1,
                     latency_calls=10, latency_warmup=2, infer_rounds=2)


def require_extra(name: str) -> None:
    """Skip with the install command where the runtime's extra is missing; fail under CI, which installs both."""
    ok, reason = runtime.availability(Case(model="seed-cnn", runtime=name))
    if ok:
        return
    if in_ci():
        pytest.fail(f"{reason}; CI installs the extras, so this fails instead of skipping", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def trained(mnist_dir):
    """The seed CNN trained 2 epochs on MNIST-10k (8,000 training images, 2,000 test), shared by the tests."""
    p = prepare(Case(model="seed-cnn", epochs=2, dataset="mnist", threads=1), mnist_dir)
    with intra_op_threads(1):  # the case's count, as run_case sets it: 7 s, where two contending threads took 81 s
        model, outcome = train_for_accuracy(p)
    assert outcome.status == "ok"
    return p, model, outcome


def deploy(trained, **fields):
    """runtime.after_training on the shared trained model with the case's fields changed."""
    p, model, outcome = trained
    p = dataclasses.replace(p, case=p.case.replace(**fields))
    p50 = lambda m: latency_metrics(*time_latency(latency_call(p, m), p.device, 20, 2, 1.0))["infer_latency_ms_p50"]  # noqa: E731
    with intra_op_threads(p.case.threads):
        return runtime.after_training(p.case, model, outcome, AfterTraining(p.data, p.device, evaluate, p50, None))


def test_onnxruntime_fp32_agrees_with_pytorch_and_static_int8_keeps_accuracy_in_a_third_of_the_file(trained):
    require_extra("onnxruntime")
    model, int8, q = deploy(trained, runtime="onnxruntime", quantization="static-int8")
    assert isinstance(model, runtime.RuntimeModel) and q["runtime_threads"] == 1
    # the fp32 ONNX model against PyTorch on the 2,000 test images, then the int8 one against the fp32 one
    assert q["export_top1_agreement"] >= 0.995 and q["export_max_abs_diff"] < 1e-3, q
    assert abs(q["test_accuracy_uncompressed"] - trained[2].test_accuracy) <= 0.005
    assert q["accuracy_change_pp"] == pytest.approx(100 * (int8.test_accuracy - q["test_accuracy_uncompressed"]))
    assert q["accuracy_change_pp"] >= -1.0, q
    assert 0 < q["model_file_bytes"] * 3 <= q["model_file_bytes_uncompressed"], q
    assert q["infer_latency_ms_p50_uncompressed"] > 0


def test_openvino_static_int8_agrees_with_pytorch_in_a_smaller_ir(trained):
    require_extra("openvino")
    _, int8, q = deploy(trained, runtime="openvino", quantization="static-int8")
    assert q["export_top1_agreement"] >= 0.995  # the fp32 IR against PyTorch
    assert 0 < q["model_file_bytes"] < q["model_file_bytes_uncompressed"] / 2
    assert q["accuracy_change_pp"] >= -1.0, q


@pytest.mark.parametrize("fields, message", [
    ({"runtime": "tvm"}, "unknown runtime 'tvm'; valid choices: torch, onnxruntime, openvino"),
    ({"runtime": "onnxruntime", "compile": "default"}, "runtime 'onnxruntime' needs compile 'none', got 'default'"),
    ({"runtime": "openvino", "precision": "bf16"}, "runtime 'openvino' needs precision 'fp32', got 'bf16'"),
    ({"runtime": "openvino", "memory_format": "channels_last"}, "needs memory_format 'contiguous'"),
])
def test_combinations_a_runtime_does_not_take_are_rejected_in_one_line(fields, message):
    with pytest.raises(ConfigError, match=message) as error:
        Case(model="seed-cnn", **fields)
    assert "\n" not in str(error.value)


def test_the_runtime_adds_to_the_id_and_torch_adds_nothing():
    base = Case(model="seed-cnn")
    assert Case(model="seed-cnn", runtime="torch").id == base.id
    openvino = Case(model="seed-cnn", runtime="openvino", quantization="static-int8")
    assert openvino.id == base.id + "-static-int8-openvino"


def test_a_missing_extra_skips_with_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    hidden = ("onnx", "onnxscript", "onnxruntime")  # all of the extra, whatever this environment installed
    monkeypatch.setattr(runtime.importlib.util, "find_spec", lambda name: None if name in hidden else real(name))
    result = run_case(Case(model="seed-cnn", epochs=1, runtime="onnxruntime"), FAST)
    assert result.status == "skipped"
    assert result.reason == 'runtime onnxruntime needs onnx, onnxscript, onnxruntime: pip install -e ".[onnx]"'
    monkeypatch.undo()
    require_extra("openvino")
    assert runtime.availability(Case(runtime="openvino", device="cuda")) == (
        False, "runtime openvino runs on the CPU here (device cuda)")
    if "CUDAExecutionProvider" not in __import__("onnxruntime").get_available_providers():
        ok, reason = runtime.availability(Case(runtime="onnxruntime", device="cuda"))
        assert not ok and reason.startswith("ONNX Runtime's CUDA execution provider comes with onnxruntime-gpu")


def test_the_procedure_records_exporter_opset_and_each_runtimes_settings():
    notes = MeasureConfig().procedure("cli")["runtimes"]
    assert notes["onnx_opset"] == 18 and "dynamo=True" in notes["onnx_exporter"]
    assert "ORT_ENABLE_ALL" in notes["onnxruntime"] and "'INFERENCE_PRECISION_HINT': 'f32'" in notes["openvino"]
    assert set(notes["onnxruntime_int8"]) == set(notes["openvino_int8"]) == {"dynamic-int8", "static-int8"}
    now = MeasureConfig().procedure("cli")
    before = {k: v for k, v in now.items() if k != "runtimes"}  # a run recorded before runtimes existed
    assert procedure_difference(before, now) is None
    changed = now | {"runtimes": notes | {"onnx_opset": 17}}
    assert "runtimes" in procedure_difference(now, changed)


class Cummax(torch.nn.Module):
    """A model with an op the ONNX exporter has no function for (aten.cummax)."""

    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.fc = torch.nn.Linear(int(torch.tensor(input_shape).prod()), num_classes)

    def forward(self, x):
        return torch.cummax(self.fc(x.flatten(1)), 1).values


def cummax_model(case, input_shape, num_classes):
    """Plug-in factory of Cummax."""
    return Cummax(input_shape, num_classes)


def test_an_export_failure_is_skipped_and_the_deployment_section_shows_each_runtimes_row(tmp_path):
    require_extra("onnxruntime")
    failed = run_case(Case(model="tests.test_runtime:cummax_model", epochs=1, threads=1, runtime="onnxruntime"), FAST)
    assert failed.status == "skipped"
    assert failed.reason.startswith("ONNX export failed: DispatchError: No ONNX function found for "
                                    "<OpOverload(op='aten.cummax'"), failed.reason
    torch_row = run_case(Case(model="tests.test_runtime:cummax_model", epochs=1, threads=1), FAST)
    assert torch_row.status == "ok" and torch_row.metrics["model_file_bytes"] > 0  # the state_dict file
    onnx_row = run_case(Case(model="dense", depth=1, width=16, epochs=1, threads=1, runtime="onnxruntime",
                             quantization="dynamic-int8"), FAST)
    assert onnx_row.status == "ok", onnx_row.reason
    assert 0 < onnx_row.metrics["model_file_bytes"] < onnx_row.metrics["model_file_bytes_uncompressed"]
    write_json_atomic(tmp_path / "r.json", run_document([torch_row, failed, onnx_row], "t", {}, {}))
    run = load_run(tmp_path / "r.json")
    loaded = {case.case_id: case for case in run.cases}
    for row in (torch_row, onnx_row):  # the figures survive the file
        for key in ("model_file_bytes", "runtime_threads", "infer_latency_ms_p50"):
            assert loaded[row.case_id].metrics[key] == row.metrics[key]
    assert loaded[failed.case_id].reason == failed.reason
    [section] = deployment_sections(run, tmp_path)
    table = section.tables[0]
    assert table["runtime"].tolist() == ["torch", "onnxruntime"]  # the skipped case has no figures to show
    assert table["model file (KiB)"].tolist() == [f"{r.metrics['model_file_bytes'] / 1024:,.1f}"
                                                  for r in (torch_row, onnx_row)]
    assert section.figures[0].stat().st_size > 1000
