"""The report's cost section: ceilings with their method, the MFU plot from the right rows, the memory/energy table."""

from __future__ import annotations

from suite.report import cost
from suite.report.sections import BUILDERS
from suite.results.schema import CaseResult, Run

CEILING = {"flops_per_s": 112.4e9, "flops_per_s_iqr": 0.2e9, "torch_threads": 1, "measured_at": "2026-01-01",
           "method": "median over 5 rounds of 1 torch.matmul of two 2048x2048 fp32 matrices, 2*n^3 FLOPs each"}
NO_RAPL = "no energy counter: no RAPL package zones under /sys/class/powercap"


def run_of(*cases: CaseResult, ceilings=None) -> Run:
    """A loaded run holding these cases."""
    machine = {"tradeoff_bench": {"compute_ceilings": ceilings if ceilings is not None else {"cpu-fp32-t1": CEILING}}}
    return Run("results.json", "test", machine, {}, "2026-01-01", list(cases))


def case(case_id: str, **metrics) -> CaseResult:
    """An ok case with these metrics."""
    return CaseResult(case_id, {"model": case_id}, metrics=metrics)


def test_section_reports_ceiling_mfu_memory_and_energy(tmp_path):
    run = run_of(
        case("seed-cnn", train_mfu=0.615, infer_mfu=0.475, train_peak_mem_mb=15.5, infer_peak_mem_mb=1.6,
             train_joules_per_sample_reason=NO_RAPL, infer_joules_per_sample_reason=NO_RAPL),
        case("dense", train_mfu=0.02, infer_mfu=0.01, train_peak_mem_mb=3.0, infer_peak_mem_mb=0.5,
             train_joules_per_sample=0.004, infer_joules_per_sample=0.001),
        CaseResult("cuda-case", {"model": "conv"}, "skipped", "CUDA is not available on this machine"))
    [section] = cost.cost_sections(run, tmp_path / "out")
    assert section.paragraphs[0].startswith("Ceiling cpu-fp32-t1: 112.4 GFLOP/s")
    assert "2048x2048 fp32" in section.paragraphs[0]
    assert f"train_joules_per_sample absent in 1 rows: {NO_RAPL}" in section.paragraphs
    table = section.tables[0].set_index("case")  # cases by their short labels: the first is the base
    assert list(table.index) == ["base", "dense", "conv"]
    assert table.loc["base", "train MFU (%)"] == "61.50"
    assert table.loc["base", "train J/sample"] == "-"
    assert table.loc["dense", "train J/sample"] == "0.004"
    assert table.loc["conv", "train peak mem (MiB)"] == "-"
    assert (table.loc["base", "train peak mem (MiB)"], table.loc["dense", "infer peak mem (MiB)"]) == (
        "15.5", "< resolution")  # as the other tables print memory
    [figure] = section.figures
    assert figure == tmp_path / "out" / "plots" / f"{cost.FIGURE}.png" and figure.stat().st_size > 5000
    assert list(cost.mfu_frame(run).index) == ["dense", "base"]  # the plotted rows: lowest MFU first
    from PIL import Image

    from suite.report.plots import DPI

    width = Image.open(figure).size[0]  # index.html shows images at most 1000 px wide
    assert cost.MFU_LABEL_PT / 72 * DPI * min(1.0, 1000 / width) >= 10  # case labels of at least 10 px on the page


def test_run_without_cost_metrics_has_no_section(tmp_path):
    assert cost.cost_sections(run_of(case("old", train_samples_per_s=10.0)), tmp_path) == []
    assert cost.cost_sections(run_of(), tmp_path) == []


def test_noisy_ceiling_is_flagged():
    noisy = cost.ceiling_sentence("cpu-fp32-t1", {**CEILING, "noisy": True})
    assert noisy.endswith("NOISY: its IQR is over 10% of its median")
    assert "NOISY" not in cost.ceiling_sentence("cpu-fp32-t1", CEILING)


def test_missing_ceiling_is_said(tmp_path):
    [section] = cost.cost_sections(run_of(case("a", train_peak_mem_mb=1.0), ceilings={}), tmp_path)
    assert "No compute ceiling" in section.paragraphs[0] and section.figures == []


def test_builder_is_registered():
    assert cost.cost_sections in BUILDERS
