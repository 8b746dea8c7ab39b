"""The report says which bf16 and int8 rows ran without hardware support, from the results file's CPU flags."""

from __future__ import annotations

import pytest

from suite.report.header import environment_section
from suite.report.levers import lever_sections
from suite.report.markdown import render_markdown
from suite.report.tables import build_tables
from suite.results.schema import CaseResult, Run

BASE = {"model": "conv", "depth": 1, "width": 16, "shared": False, "optimizer": "adam", "lr": 0.001,
        "schedule": "constant", "weight_decay": 0.0, "batch_size": 64, "epochs": 1, "dataset": "digits",
        "device": "cpu", "seed": 0, "precision": "fp32", "quantization": "none"}
AVX2_ONLY = ["avx", "avx2", "fma", "sse4_2"]
SAPPHIRE_RAPIDS = AVX2_ONLY + ["avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8"]


def row(case_id: str, host: str = "h", **fields) -> CaseResult:
    metrics = {"test_accuracy": 0.9, "train_samples_per_s": 1000.0, "infer_latency_ms_p50": 0.1, "params": 100}
    if fields.get("quantization", "none") != "none":
        metrics.update(accuracy_kept=0.99, test_accuracy_uncompressed=0.91)
    node = {"fingerprint": f"fp-{case_id}", "host": host}  # a node fingerprint of its own, as a threads=1 case has
    return CaseResult(case_id, {**BASE, **fields}, "ok", "", metrics, {}, node=node)


def report(tmp_path, flags: list[str]) -> str:
    cases = [row("fp32"), row("bf16", precision="bf16"), row("int8", quantization="static-int8"),
             row("bf16-gpu", precision="bf16", device="cuda"),  # a GPU runs bf16 in hardware (labelled "cuda")
             row("bf16-elsewhere", host="other", precision="bf16", width=32)]  # another host: flags unknown
    machine = {"node": "h", "cpu": {"arch": "X86_64", "flags": flags}, "tradeoff_bench": {"fingerprint": "fp-run"}}
    run = Run("results.json", "p", machine, {"id": "abc"}, "2026-01-01T00:00:00+00:00", cases)
    sections = [environment_section([run], run), *build_tables(run, tmp_path), *lever_sections(run, tmp_path)]
    return render_markdown("report", sections, tmp_path)


def cells(markdown: str, section: str) -> list[str]:
    """The first column of the first table of a section."""
    body = markdown.split(f"## {section}\n")[1].split("\n## ")[0]
    return [line.split("|")[1].strip() for line in body.splitlines() if line.startswith("| ")][1:]


def test_rows_without_bf16_or_vnni_instructions_say_so(tmp_path):
    text = report(tmp_path, AVX2_ONLY)
    assert ("Rows marked \"(no bf16 hardware)\" ran on a CPU of class AVX2 whose flags have none of amx_bf16, "
            "avx512_bf16: bf16 ran emulated, so their speed says little about a CPU that has them.") in text
    assert ("Rows marked \"(no int8 hardware)\" ran on a CPU of class AVX2 whose flags have none of amx_int8, "
            "avx512_vnni, avx512vnni, avx_vnni: int8 ran without VNNI dot-product instructions") in text
    assert cells(text, "Training throughput") == [  # the row that another node measured is not judged
        "base", "bf16 (no bf16 hardware)", "static-int8 (no int8 hardware)", "cuda", "width 32"]
    assert cells(text, "Acceleration levers: compression, compile time, data-parallel scaling") == [
        "static-int8 (no int8 hardware)"]


@pytest.mark.parametrize("flags", [SAPPHIRE_RAPIDS, []])  # has the instructions; flags not recorded
def test_rows_with_the_instructions_or_unknown_flags_carry_no_note(tmp_path, flags):
    text = report(tmp_path, flags)
    assert "hardware" not in text
    assert cells(text, "Training throughput") == ["base", "bf16", "static-int8", "cuda", "width 32"]
