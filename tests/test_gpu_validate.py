"""benchmarks/gpu/validate.py: the command on a machine without CUDA (every CUDA check skipped, exit 3),
and its pure parts with fakes: power integration and sampling, datasheet peaks, the rules, the table,
the plan verdicts and the lever ratios."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pynvml
import pytest

from benchmarks.gpu import cuda_checks, gpu_plan, plan_checks
from benchmarks.gpu.datasheet import datasheet_peak
from benchmarks.gpu.power import PowerSampler, integrate_power
from benchmarks.gpu.validate import CHECKS, parse_args
from benchmarks.gpu.verdicts import NO_CUDA, Check, counts, document, exit_code, ratio_rule, render_table
from suite.plans import load_plan
from suite.results.schema import CaseResult
from tests.conftest import REPO

CUDA_CHECKS = {name for name, _, needs_cuda, _ in CHECKS if needs_cuda}
CPU_CHECKS = {name for name, _, needs_cuda, _ in CHECKS if not needs_cuda}


def test_without_cuda_every_cuda_check_is_skipped_and_the_command_exits_3(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # a GPU machine running the tests behaves as a CPU one
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu" / "validate.py"), "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 3, done.stderr  # a skipped check is never a pass
    doc = json.loads((tmp_path / "validation.json").read_text())
    assert {"command", "quick", "cuda", "device", "started_at", "seconds", "budget_s", "finished", "counts", "checks",
            "lever_ratios", "environment"} <= set(doc)
    assert doc["cuda"] is False and doc["device"] is None and doc["quick"] is True and doc["finished"] is True
    checks = {c["name"]: c for c in doc["checks"]}
    assert set(checks) == CUDA_CHECKS | CPU_CHECKS and len(CUDA_CHECKS) == 16
    for name in CUDA_CHECKS:
        assert (checks[name]["status"], checks[name]["reason"]) == ("skipped", NO_CUDA), name
    expand = checks["plans_expand"]
    assert expand["status"] == "pass" and expand["values"]["quick_cases"] == 8
    assert expand["values"]["levers_cases"] == 21 and expand["values"]["levers_runnable_here"] == 0
    assert (expand["values"]["gpu_cases"], expand["values"]["gpu-quick_cases"]) == (19, 6)
    assert any("CUDA is not available" in reason for reason in expand["details"]["not runnable here"])
    assert doc["counts"] == {"pass": 1, "fail": 0, "skipped": 16} and doc["lever_ratios"] == []
    assert doc["environment"]["fingerprint"] and doc["environment"]["tf32"].keys() == {"matmul", "cudnn_conv"}
    assert f"skipped: {NO_CUDA}" in done.stdout and "1 passed, 0 failed, 16 skipped" in done.stdout
    assert "| ceiling_bf16" in (tmp_path / "validation.md").read_text()


def test_bad_budget_exits_2_and_the_budget_follows_the_mode(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--budget-s", "0"])
    assert exit_info.value.code == 2 and "--budget-s must be positive, got 0" in capsys.readouterr().err
    assert parse_args([]).budget_s > parse_args(["--quick"]).budget_s == parse_args(["--budget-s", "150"]).budget_s


def test_power_integral_is_the_trapezoid_over_the_region():
    assert integrate_power([(0.0, 100.0), (2.0, 100.0)], 0.0, 2.0) == pytest.approx(200.0)
    ramp = [(float(t), 100.0 * t) for t in range(5)]  # 0..400 W over 4 s
    assert integrate_power(ramp, 0.0, 4.0) == pytest.approx(800.0)
    assert integrate_power(ramp, 1.5, 2.5) == pytest.approx(200.0)  # edges interpolated: 150..250 W
    assert integrate_power([(1.0, 50.0), (2.0, 50.0)], 0.0, 3.0) == pytest.approx(150.0)  # held beyond readings
    assert integrate_power([(2.0, 10.0), (0.0, 10.0)], 0.0, 2.0) == pytest.approx(20.0)  # any order
    with pytest.raises(ValueError, match="no power samples"):
        integrate_power([], 0.0, 1.0)
    with pytest.raises(ValueError, match="empty region"):
        integrate_power([(0.0, 1.0)], 1.0, 1.0)


def test_power_sampler_reads_nvml_in_watts_until_stopped(monkeypatch):
    state = {"inits": 0, "shutdowns": 0}
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: state.__setitem__("inits", state["inits"] + 1))
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: state.__setitem__("shutdowns", state["shutdowns"] + 1))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda index: f"gpu{index}")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetPowerUsage", lambda handle: 250_000 if handle == "gpu2" else 0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")  # CUDA device 0 is NVML's GPU 2
    with PowerSampler(0, period=0.001) as sampler:
        while len(sampler.samples) < 3:
            pass
    count = len(sampler.samples)
    assert {w for _, w in sampler.samples} == {250.0} and state == {"inits": 1, "shutdowns": 1}
    times = [t for t, _ in sampler.samples]
    assert times == sorted(times) and len(sampler.samples) == count  # the thread has stopped
    assert integrate_power(sampler.samples, times[0], times[-1]) == pytest.approx(250.0 * (times[-1] - times[0]))


def test_power_sampler_without_power_readings_releases_nvml(monkeypatch):
    shutdowns = []
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: shutdowns.append(1))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda index: "gpu")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def unsupported(handle):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetPowerUsage", unsupported)
    with pytest.raises(pynvml.NVMLError):
        with PowerSampler(0):
            pass
    assert shutdowns == [1]


@pytest.mark.parametrize(("name", "precision", "board", "dense"), [
    ("NVIDIA H100 80GB HBM3", "bf16", "H100 SXM", 989.5),
    ("NVIDIA H100 80GB HBM3", "fp32", "H100 SXM", 67.0),
    ("NVIDIA H100 PCIe", "tf32", "H100 PCIe", 378.0),
    ("NVIDIA H100 NVL", "fp16", "H100 NVL", 835.5),
    ("NVIDIA H200", "tf32", "H200 SXM", 494.5),
    ("NVIDIA H200 NVL", "bf16", "H200 NVL", 835.5),
    ("NVIDIA A100-SXM4-80GB", "fp16", "A100", 312.0),
])
def test_datasheet_peak_is_dense_with_its_source(name, precision, board, dense):
    peak = datasheet_peak(name, precision)
    assert (peak["board"], peak["dense_tflops"]) == (board, dense) and "https://" in peak["source"]


def test_datasheet_names_what_it_does_not_know():
    assert "no datasheet entry for 'NVIDIA GH200 480GB'" in datasheet_peak("NVIDIA GH200 480GB", "bf16")["reason"]
    assert "no fp64 figure" in datasheet_peak("NVIDIA H100 80GB HBM3", "fp64")["reason"]


def test_ratio_rule_and_check_verdicts():
    assert ratio_rule("a/b", 1.049, 0.05) == [] and ratio_rule("a/b", 0.951, 0.05) == []
    assert ratio_rule("a/b", 1.06, 0.05) == ["a/b ratio 1.060 is outside 1 +- 0.05"]
    assert ratio_rule("a/b", float("nan"), 0.05) != []
    passed = Check("x", "compares x").conclude([])
    failed = Check("y", "compares y").conclude(["one", "two"])
    skipped = Check("z", "compares z").skip(NO_CUDA)
    assert (passed.status, failed.status, failed.reason, skipped.status) == ("pass", "fail", "one; two", "skipped")
    assert counts([passed, failed, skipped]) == {"pass": 1, "fail": 1, "skipped": 1}
    assert exit_code([passed]) == 0 and exit_code([passed, skipped]) == 3 and exit_code([skipped, failed]) == 1


def test_table_shows_values_and_results():
    checks = [Check("event_timing", "events vs host", values={"ratio": 1.00213, "rounds": 30}).conclude([]),
              Check("energy", "counter vs power", values={"counter_j": None, "ok": True}).conclude(["too few"]),
              Check("oom", "oom").skip(NO_CUDA)]
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in render_table(checks).splitlines()]
    assert rows[0] == ["check", "compares", "measured", "result"]
    assert rows[2] == ["event_timing", "events vs host", "ratio=1.002, rounds=30", "pass"]
    assert rows[3] == ["energy", "counter vs power", "counter_j=-, ok=yes", "FAIL: too few"]
    assert rows[4] == ["oom", "oom", "-", f"skipped: {NO_CUDA}"]
    doc = document(checks, {"quick": True}, {"fingerprint": "f"}, [])
    assert doc["quick"] and doc["counts"]["fail"] == 1 and doc["checks"][1]["reason"] == "too few"
    json.dumps(doc, allow_nan=False)


def result(case_id, status="ok", reason="", **fields):
    case = {"model": "seed-cnn", "precision": "fp32", "compile": "none", "memory_format": "contiguous",
            "quantization": "none", "pruning": "none", "finetune_epochs": None, "device": "cuda", **fields}
    return CaseResult(case_id, case, status, reason)


def test_plan_failures_name_each_bad_case_and_the_budget_makes_the_check_unrun():
    results = [result("a"), result("b", "skipped", "quantization is CPU-only"), result("c", "error", "boom"),
               result("d", "skipped"), result("e", "oom", "out of memory")]
    assert plan_checks.plan_failures(results) == [
        "c: error (boom)", "e: oom (out of memory)", "d: skipped without a reason"]
    assert plan_checks.conclude_plan(Check("p", ""), results, ["f"]).status == "fail"
    assert plan_checks.conclude_plan(Check("p", ""), results[:2], []).status == "pass"
    unrun = plan_checks.conclude_plan(Check("p", ""), results[:2], ["f", "g"])
    assert (unrun.status, unrun.reason) == ("skipped", "2 of 4 cases not run: the time budget ran out (--budget-s)")


def test_compile_cases_run_last_in_plan_order():
    class Case:
        def __init__(self, name, compile):
            self.name, self.compile = name, compile

    order = plan_checks.eager_first([Case("a", "default"), Case("b", "none"), Case("c", "max-autotune"),
                                     Case("d", "none")])
    assert [c.name for c in order] == ["b", "d", "a", "c"]


def test_lever_ratios_are_against_the_base_of_the_same_model():
    base, conv = result("base"), result("conv", model="conv")
    bf16, conv_cl = result("bf16", precision="bf16"), result("conv-cl", model="conv", memory_format="channels_last")
    pruned = result("pruned", pruning="l1-unstructured:0.5", finetune_epochs=1)
    for r, rate, acc in ((base, 1000.0, 0.95), (conv, 400.0, 0.9), (bf16, 1500.0, 0.94), (conv_cl, 500.0, 0.91),
                         (pruned, 990.0, 0.93)):
        r.metrics = {"train_samples_per_s": rate, "infer_latency_ms_p50": 1000.0 / rate, "test_accuracy": acc}
    failed = result("fp16", "error", "boom", precision="fp16")
    rows = {r["case"]: r for r in plan_checks.lever_ratios([base, conv, bf16, conv_cl, pruned, failed])}
    assert set(rows) == {"bf16", "conv-cl", "pruned"}  # bases and failed cases give no row
    assert rows["bf16"]["train_samples_per_s"] == pytest.approx(1.5)
    assert rows["bf16"]["infer_latency_ms_p50"] == pytest.approx(1 / 1.5)
    assert rows["bf16"]["test_accuracy_pp"] == pytest.approx(-1.0) and rows["bf16"]["infer_samples_per_s"] is None
    assert rows["conv-cl"]["train_samples_per_s"] == pytest.approx(1.25) and rows["conv-cl"]["model"] == "conv"
    assert rows["pruned"]["levers"] == "pruning l1-unstructured:0.5"
    table = plan_checks.render_ratios(list(rows.values()))
    assert "x1.50" in table and "-1.0 pp" in table and "memory_format channels_last" in table


def test_document_is_strict_json_whatever_a_check_measured():
    import numpy as np

    check = Check("x", "x", values={"ratio": float("nan"), "n": np.int64(3), "rate": np.float32(1.5),
                                    "pair": (1, float("inf")), "device": object.__new__(object)})
    values = document([check], {}, {}, [])["checks"][0]["values"]
    assert values["ratio"] is None and values["n"] == 3 and values["rate"] == 1.5 and values["pair"] == [1, None]
    assert values["device"].startswith("<object object")
    json.dumps(values, allow_nan=False)


# Each check's rules fed a wrong value: the check must fail (and pass on the right one).

def test_environment_rules():
    good = {"gpu": "NVIDIA H200", "driver": "580", "cuda": "13.0", "memory_mb": 143771, "sm_clock_max_mhz": 1980,
            "memory_clock_max_mhz": 3201, "fingerprint": "gpu-fp", "cpu_fingerprint": "cpu-fp"}
    assert cuda_checks.environment_failures(good, "no-gpu-fp") == []
    assert cuda_checks.environment_failures({**good, "driver": None}, "x") == ["the environment block lacks driver"]
    assert cuda_checks.environment_failures({**good, "fingerprint": "cpu-fp"}, "x") == [
        "the fingerprint equals the CPU machine's"]
    assert cuda_checks.environment_failures(good, "gpu-fp") == ["the GPUs do not enter the fingerprint"]


def test_energy_rules():
    good = {"counter_j": 900.0, "ratio": 1.02, "samples": 60}
    assert cuda_checks.energy_failures(good) == []
    assert cuda_checks.energy_failures({**good, "ratio": 1.2}) == ["counter/integrated ratio 1.200 is outside 1 +- 0.1"]
    assert cuda_checks.energy_failures({**good, "samples": 5}) == ["only 5 power readings in the region"]
    assert cuda_checks.energy_failures({**good, "counter_j": None}, "no NVML") == ["no NVML"]


def test_peak_memory_rules_compare_with_known_sizes_and_nvml():
    good = {"probe_suite_mb": 768.0, "probe_known_mb": 768.0, "suite_mb": 900.0, "reserved_mb": 1000.0,
            "nvml_used_growth_mb": 1030.0, "nvml_allowance_mb": 64.0}
    assert cuda_checks.peak_memory_failures(good) == []
    assert cuda_checks.peak_memory_failures({**good, "probe_suite_mb": 512.0}) == [
        "suite peak 512.0 MiB, the tensors total 768 MiB"]  # e.g. a peak that missed a tensor held in the region
    assert cuda_checks.peak_memory_failures({**good, "suite_mb": 1001.0})[0].startswith("allocated peak 1001.0")
    assert cuda_checks.peak_memory_failures({**good, "nvml_used_growth_mb": 1200.0})[0].startswith("NVML used")
    assert cuda_checks.peak_memory_failures({**good, "suite_mb": None})[0].startswith("no suite figure")


def test_tf32_rules():
    values = {"conv_ceiling_if_cudnn_flipped": "fp32", "lm_ceiling_highest": "fp32", "lm_ceiling_high": "tf32"}
    settings = {"matmul": False, "cudnn_conv": True}
    assert cuda_checks.tf32_failures(values, settings, settings, ["tf32"], "tf32") == []
    assert cuda_checks.tf32_failures(values, settings, settings, ["fp32"], "tf32") == [
        "conv MFU matches the ['fp32'] ceiling, expected tf32"]
    assert "differs from the settings in force" in cuda_checks.tf32_failures(
        values, {"matmul": True, "cudnn_conv": True}, settings, ["tf32"], "tf32")[0]
    swapped = {**values, "lm_ceiling_high": "fp32"}
    assert "expected fp32 and tf32" in cuda_checks.tf32_failures(swapped, settings, settings, ["tf32"], "tf32")[0]
    assert "stays tf32" in cuda_checks.tf32_failures({**values, "conv_ceiling_if_cudnn_flipped": "tf32"}, settings,
                                                     settings, ["tf32"], "tf32")[0]


def test_oom_and_ddp_rules():
    good = {"status": "oom", "free_memory_mb": 1000.0, "next_status": "ok"}
    assert cuda_checks.oom_failures(good) == []
    assert cuda_checks.oom_failures({**good, "status": "error"}) == ["the too-wide case is error, expected oom"]
    assert cuda_checks.oom_failures({**good, "free_memory_mb": None}) == ["free memory None is not a positive figure"]
    assert cuda_checks.oom_failures({**good, "next_status": "error"}) == ["the next case is error"]
    assert cuda_checks.ddp_failures("ok", 0.95) == []
    assert cuda_checks.ddp_failures("diverged", 0.95) == ["the data-parallel rank trained to status 'diverged'"]
    assert cuda_checks.ddp_failures("ok", 2.0) == ["efficiency 2.000 is not in (0, 1.5]"]


def test_gpu_plan_rules_catch_a_plan_that_drifts_from_the_recipe():
    plans = {"gpu": load_plan("gpu"), "gpu-quick": load_plan("gpu-quick")}
    assert plan_checks.gpu_plan_failures(plans) == []
    gpu = plans["gpu"]
    drifted = [c.replace(batch_size=32) if c.id in dict(gpu.parts)["nanogpt-shakespeare-char"] else c
               for c in gpu.cases]
    parts = ((gpu.parts[0][0], (drifted[0].id,)), *gpu.parts[1:])
    wrong = dataclasses.replace(gpu, cases=tuple(drifted), parts=parts)
    assert plan_checks.gpu_plan_failures({**plans, "gpu": wrong}) == [
        "the nanogpt-shakespeare-char part is not nanoGPT's recipe: {'batch_size': 32}"]
    quick = plans["gpu-quick"]
    no_compile = dataclasses.replace(quick, cases=tuple(c for c in quick.cases if c.compile == "none"))
    assert "gpu-quick: the GPT-2-small part lacks bf16+compile" in plan_checks.gpu_plan_failures(
        {**plans, "gpu-quick": no_compile})
    on_cpu = dataclasses.replace(quick, cases=tuple(c.replace(device="cpu") for c in quick.cases))
    assert any("runs on cpu" in f for f in plan_checks.gpu_plan_failures({**plans, "gpu-quick": on_cpu}))


def test_gpt2_targets():
    row = {"tokens_per_s": 100_000.0, "mfu": 0.2, "ceiling": "cuda-fp32", "nanogpt_mfu": 0.2}
    rows = {"fp32": row, "bf16": {**row, "tokens_per_s": 200_000.0, "ceiling": "cuda-bf16"},
            "bf16+compile": {**row, "mfu": 0.45, "ceiling": "cuda-bf16"}}
    assert plan_checks.gpt2_target_failures(rows) == []
    assert plan_checks.gpt2_target_failures({**rows, "bf16+compile": {**rows["bf16+compile"], "mfu": 0.3}}) == [
        "bf16+compile MFU 30.0% of cuda-bf16 is under 40% of cuda-bf16"]
    assert plan_checks.gpt2_target_failures({**rows, "bf16": {**rows["bf16"], "tokens_per_s": 120_000.0}}) == [
        "bf16 is x1.20 fp32's tokens/s, under x1.5"]
    assert "is under 40%" in plan_checks.gpt2_target_failures(
        {**rows, "bf16+compile": {**rows["bf16+compile"], "ceiling": "cuda-tf32"}})[0]
    assert plan_checks.gpt2_target_failures({"fp32": row}) == ["no ok bf16 row", "no ok bf16+compile row"]


def test_gpu_plan_summary_rows_and_exit_status():
    m = {"train_tokens_per_s": 400_000.0, "train_samples_per_s": 390.6, "train_mfu": 0.42,
         "mfu_ceiling_key": "cuda-bf16", "mfu_ceiling_gflops": 790_000.0, "nanogpt_train_flops_per_token": 800e6,
         "val_loss": 1.4712, "time_to_target_s": 95.2, "steps_to_target": 3750}
    case = {"model": "transformer", "precision": "bf16", "compile": "default", "matmul_precision": "high",
            "batch_size": 8}
    ok = CaseResult("lm", case, "ok", "", m)
    assert gpu_plan.summary_row("a", ok, 120.4) == [
        "a", "transformer bf16+tf32+compile-default b8", "ok", "400,000 tok/s", "42.0% of cuda-bf16", "40.5%",
        "1.471", "95 s (3750 steps)", "120"]
    missed = CaseResult("lm", {}, "ok", "", {**m, "time_to_target_s": None})
    assert gpu_plan.summary_row("a", missed, 1.0)[7] == "not reached"
    skipped = CaseResult("x", {}, "skipped", "optional dataset not available")
    assert gpu_plan.summary_row("b", skipped, None)[2:5] == ["skipped: optional dataset not available", "-", "-"]
    assert gpu_plan.exit_status([ok]) == 0 and gpu_plan.exit_status([ok, skipped]) == 3
    assert gpu_plan.exit_status([ok, skipped, CaseResult("e", {}, "error", "boom")]) == 1
