"""The acceleration levers as case fields: ids, validation, availability, and what each one measures."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from suite import levers
from suite.cases import Case
from suite.levers import availability, compilation, compression
from suite.plumbing.errors import ConfigError
from suite.plumbing.fileio import write_json_atomic
from suite.report.levers import lever_sections
from suite.results.schema import load_run, run_document
from suite.runner import MeasureConfig, prepare, run_case

FAST = MeasureConfig(train_rounds=3, train_steps_per_round=2, train_warmup_rounds=1, latency_calls=10,
                     latency_warmup=2, infer_rounds=2)


def test_levers_at_their_defaults_leave_the_id_alone_and_each_other_value_adds_a_fragment():
    base = Case(model="seed-cnn")
    assert base.id == "seed-cnn-adam-lr0.001-constant-digits-cpu-b64-e10-s0"
    lever = Case(model="seed-cnn", precision="bf16", compile="max-autotune", memory_format="channels_last",
                 pruning="l1-unstructured:0.8", threads=2)
    assert lever.id == base.id + "-bf16-compile-max-autotune-cl-prune-l1-unstructured0.8-ft1-t2"
    assert Case(model="dense", world_size=2).id.endswith("-s0-ws2")
    assert Case(finetune_epochs=3).finetune_epochs is None  # nothing to fine-tune without pruning


@pytest.mark.parametrize("fields, message", [
    ({"precision": "fp8"}, "unknown precision 'fp8'; valid choices: fp32, bf16, fp16"),
    ({"compile": "fast"}, "unknown compile 'fast'"),
    ({"quantization": "int4"}, "unknown quantization 'int4'"),
    ({"pruning": "l1-unstructured:1.5"}, "0 < S < 1"),
    ({"pruning": "random:0.5"}, "unknown pruning method 'random'"),
    ({"model": "dense", "memory_format": "channels_last"}, "channels_last needs a conv model"),
    ({"quantization": "static-int8", "precision": "bf16"}, "quantization needs precision fp32"),
    ({"world_size": 0}, "'world_size' must be an integer >= 1"),
    ({"threads": 0}, "'threads' must be an integer >= 1"),
    ({"optimizer": "gd", "world_size": 2}, "full batch"),
])
def test_bad_lever_values_name_the_field(fields, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Case(**fields)


def test_levers_this_machine_cannot_run_are_skipped_with_the_reason(monkeypatch):
    result = run_case(Case(model="dense", precision="fp16"))
    assert result.status == "skipped" and "CUDA-only" in result.reason
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(compilation.shutil, "which", lambda name: None)
    assert availability(Case(compile="default")) == (False, "torch.compile on CPU needs a C++ compiler (none on PATH)")
    assert availability(Case(quantization="static-int8", device="cuda"))[0] is False


def test_compile_on_cuda_needs_triton_and_a_c_compiler(monkeypatch):
    import torch.utils._triton

    monkeypatch.setattr(torch.utils._triton, "has_triton", lambda: True)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(compilation.shutil, "which", lambda name: None)
    assert compilation.availability("default", "cuda") == (
        False, "torch.compile on CUDA needs a C compiler for Triton (none on PATH)")
    monkeypatch.setattr(compilation.shutil, "which", lambda name: f"/usr/bin/{name}" if name == "gcc" else None)
    assert compilation.availability("max-autotune", "cuda") == (True, "")
    monkeypatch.setattr(torch.utils._triton, "has_triton", lambda: False)
    assert compilation.availability("default", "cuda") == (False, "torch.compile on CUDA needs Triton (not installed)")


def test_bf16_runs_the_layers_in_bf16_and_returns_fp32_logits():
    p = prepare(Case(model="dense", depth=1, width=8, precision="bf16"))
    seen = []
    inner = p.model.model
    inner[1].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    assert p.model(p.data.x_test[:4]).dtype == torch.float32
    assert seen == [torch.bfloat16]


def test_channels_last_puts_conv_weights_and_images_in_nhwc():
    p = prepare(Case(model="seed-cnn", memory_format="channels_last"))
    conv = next(m for m in p.model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert p.data.x_train.is_contiguous(memory_format=torch.channels_last)


def test_threads_are_set_around_the_case_and_restored():
    before = torch.get_num_threads()

    def probe(case):
        with levers.scope(case):
            return torch.get_num_threads()

    assert probe(Case(threads=1)) == 1 and probe(Case(threads=3)) == 3
    assert torch.get_num_threads() == before


def test_pruning_reaches_the_asked_sparsity_and_structured_spares_the_classifier():
    model = prepare(Case(model="conv", depth=1, width=8)).model
    compression.prune_model(model, "l1-unstructured", 0.8)
    compression.make_pruning_permanent(model)
    figures = compression.sparsity_metrics(model)
    assert figures["params_sparsity"] == pytest.approx(0.8, abs=0.01)
    assert figures["params_nonzero"] < sum(p.numel() for p in model.parameters())
    structured = prepare(Case(model="conv", depth=1, width=8)).model
    compression.prune_model(structured, "ln-structured", 0.5)
    compression.make_pruning_permanent(structured)
    conv = structured[0][0]
    assert int((conv.weight.flatten(1).abs().sum(1) == 0).sum()) == 4  # 4 of 8 output channels zeroed
    assert bool((structured[-1].weight != 0).all())  # the classifier keeps every class


def test_static_int8_quantizes_conv_and_linear_and_keeps_the_accuracy(tmp_path):
    result = run_case(Case(model="conv", depth=1, width=32, epochs=2, quantization="static-int8",
                           target_accuracy=0.01), FAST)
    m = result.metrics
    assert result.status == "ok", result.reason
    assert "time_to_target_s" not in m and "no training curve" in m["time_to_target_s_reason"]
    assert m["accuracy_kept"] == pytest.approx(m["test_accuracy"] / m["test_accuracy_uncompressed"])
    assert m["accuracy_kept_ge_99pct"] == (m["accuracy_kept"] >= 0.99)
    assert m["accuracy_kept"] > 0.9
    assert m["params_state_dict_bytes"] < m["params_state_dict_bytes_uncompressed"] / 2  # int8 weights
    write_json_atomic(tmp_path / "r.json", run_document([result], "t", {}, {}))  # the figures survive the file
    run = load_run(tmp_path / "r.json")
    for key in ("accuracy_kept", "accuracy_kept_ge_99pct", "infer_latency_ms_p50_uncompressed",
                "params_state_dict_bytes"):
        assert run.cases[0].metrics[key] == m[key]
    table = lever_sections(run, tmp_path)[0].tables[0]  # the report shows what quantization kept
    assert table["accuracy kept (%)"].tolist() == [f"{100 * m['accuracy_kept']:.2f}"]


def test_quantize_swaps_in_int8_modules():
    model = prepare(Case(model="conv", depth=1, width=8)).model
    x = torch.randn(16, 1, 8, 8)
    dynamic = compression.quantize(model, "dynamic-int8", [])
    assert isinstance(dynamic[-1], torch.ao.nn.quantized.dynamic.Linear)
    static = compression.quantize(model, "static-int8", [x])
    kinds = {type(m).__name__ for m in static.modules()}
    assert {"ConvReLU2d", "Linear", "Quantize", "DeQuantize"} <= kinds
    assert static(x).dtype == torch.float32


def test_unstructured_pruning_reports_latency_before_and_after(tmp_path):
    result = run_case(Case(model="dense", depth=1, width=16, epochs=2, pruning="l1-unstructured:0.9",
                           finetune_epochs=1, target_accuracy=0.01), FAST)
    m = result.metrics
    assert result.status == "ok", result.reason
    assert m["params_sparsity"] == pytest.approx(0.9, abs=0.01)
    # time-to-target: the whole training before pruning plus the fine-tune curve, not the unpruned model's epoch 1
    assert len(m["finetune_history"]) == 1 and m["epochs_to_target"] == 3
    assert m["time_to_target_s"] == m["train_seconds"] + m["finetune_history"][0]["wall_time_s"]
    write_json_atomic(tmp_path / "r.json", run_document([result], "t", {}, {}))  # the curve survives the file
    assert load_run(tmp_path / "r.json").cases[0].metrics["finetune_history"] == m["finetune_history"]
    assert m["infer_latency_ms_p50_uncompressed"] > 0 and m["infer_latency_ms_p50"] > 0
    json.dumps(m, allow_nan=False)  # plain, finite JSON values (raises on NaN or inf)
    assert all(math.isfinite(v) for v in m.values() if isinstance(v, float))


def test_compile_reports_cold_and_warm_compile_seconds_apart_from_steady_state():
    result = run_case(Case(model="dense", depth=1, width=8, epochs=1, compile="default"), FAST)
    m = result.metrics
    assert result.status == "ok", result.reason
    for stage in ("compile_seconds", "infer_compile_seconds"):
        assert 0 < m[f"{stage}_warm"] < m[f"{stage}_cold"]  # the warm compile hits the on-disk cache
    # steady-state rounds exclude compilation: the slowest timed step is far below the cold compile
    assert max(result.samples["train"]) < m["compile_seconds_cold"] / 10


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (fp16 with a GradScaler)")
def test_fp16_with_grad_scaler_trains_on_cuda():
    result = run_case(Case(model="conv", depth=1, width=8, epochs=2, precision="fp16", device="cuda"), FAST)
    assert result.status == "ok", result.reason
    assert result.metrics["test_accuracy"] > 0.5


def test_allocator_is_recorded_when_mapped_or_preloaded(tmp_path, monkeypatch):
    from suite.measure.devices import allocator_info

    maps = tmp_path / "maps"
    maps.write_text("7f00-7f10 r-xp 00000000 08:01 42 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n")
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.setenv("MALLOC_CONF", "background_thread:true")
    info = allocator_info(str(maps))
    assert info["name"] == "jemalloc" and info["settings"]["MALLOC_CONF"] == "background_thread:true"
    maps.write_text("")
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/libtcmalloc_minimal.so.4")
    assert allocator_info(str(maps))["name"] == "tcmalloc"
    monkeypatch.delenv("LD_PRELOAD")
    assert allocator_info(str(maps))["name"] == "glibc"
