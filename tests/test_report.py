"""The report: golden Markdown, the Pareto front and the rows each plot is drawn from, the trade-off
summary's axes and spread rule, escaping, bad results files, and rendering without torch.

The fixture tests/golden/results.json is a real run of tests/golden/fixture.toml:
    tradeoff-bench run --plan tests/golden/fixture.toml --out DIR   (then copy DIR/results.json)
Regenerate the golden Markdown after an intended change with TRADEOFF_BENCH_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suite.report.build import build_sections, write_report
from suite.report.grouping import layout
from suite.report.markdown import render_markdown
from suite.report.pareto import pareto_front
from suite.report.plots import FRONT, PLOTS_DIR, front_figure, throughput_figure
from suite.report.tradeoffs import WITHIN, change_label, differ, effect
from suite.results.schema import CaseResult, Run, load_run
from tests.conftest import REPO, run_cli

GOLDEN = REPO / "tests" / "golden"
FIXTURE = GOLDEN / "results.json"
SEEDLESS = ["model", "depth", "width", "shared", "optimizer", "lr", "schedule", "weight_decay", "batch_size",
            "device"]


@pytest.fixture(scope="module")
def run() -> Run:
    return load_run(FIXTURE)


def test_markdown_matches_the_golden_file(run, tmp_path):
    header_and_core = build_sections([run], tmp_path, extra=[])
    text = render_markdown("tradeoff-bench report: plan fixture", header_and_core, tmp_path)
    golden = GOLDEN / "report.md"
    if os.environ.get("TRADEOFF_BENCH_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    for link in ("plots/pareto-accuracy-latency.png", "plots/convergence.svg", "plots/lr-schedules.png"):
        assert f"({link})" in text and (tmp_path / link).stat().st_size > 5000


def test_axes_come_from_the_case_fields_that_differ_from_the_first_case(run):
    lay = layout(run)
    assert lay.base.label == run.cases[0].case_id and len(lay.base.members) == 3  # seeds 0, 1, 2 pooled
    assert lay.axes == SEEDLESS
    sgd = next(g for g in lay.one_axis() if g.case["optimizer"] == "sgd")
    assert lay.changes(sgd) == ["optimizer"]  # lr follows the optimizer: not a second axis
    assert change_label(lay, sgd) == "optimizer: adam → sgd (lr 0.001 → 0.05)"
    assert not any(g.case["model"] == "dense" and g.case["shared"] for g in lay.one_axis())


def group_of(case_id: str, train_seconds: list[float], accuracy: float):
    case = CaseResult(case_id, {"model": "dense", "seed": 0}, "ok", "",
                      {"train_samples_per_s_max": 64 / min(train_seconds), "test_accuracy": accuracy},
                      {"train": train_seconds})
    return layout(Run("x", "p", {}, {}, "", [case])).base


def test_a_difference_inside_the_spread_is_not_printed():
    base = group_of("a", [0.010, 0.011, 0.012, 0.013, 0.014, 0.015], 0.9)
    noisy_twin = group_of("b", [0.0105, 0.0115, 0.0125, 0.0135, 0.0145, 0.0155], 0.9)
    twice_as_fast = group_of("c", [0.005, 0.0055, 0.006, 0.0065, 0.007, 0.0075], 0.88)
    assert not differ(base, noisy_twin, "train_samples_per_s")
    assert effect(base, noisy_twin, "train_samples_per_s") == WITHIN
    assert effect(base, twice_as_fast, "train_samples_per_s") == "x2.00"
    assert effect(base, twice_as_fast, "test_accuracy") == "-2.0 pp"


def non_dominated(points: list[tuple[float, float]]) -> set[tuple[float, float]]:
    """Brute force: the points that no other point matches on both and beats on one (cost low, gain high)."""
    return {p for p in points if not any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in points)}


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=30))
def test_pareto_front_is_exactly_the_non_dominated_points(points):
    front = pareto_front([p[0] for p in points], [p[1] for p in points])
    assert {points[i] for i in front} == non_dominated(points)
    assert all(points[i] in non_dominated(points) for i in front)


def test_accuracy_latency_plot_draws_the_front_of_the_ok_cases(run):
    frame = run.frame()
    ok = frame[frame["status"] == "ok"]
    fields = [f for f in SEEDLESS if f in ok]  # seeds of one configuration are one point: their mean
    means = ok.groupby(fields, dropna=False, sort=False)[["infer_latency_ms_p50", "test_accuracy"]].mean()
    points = [(round(x, 9), round(100 * y, 9)) for x, y in means.itertuples(index=False)]
    fig = front_figure(layout(run), "infer_latency_ms_p50", "latency")
    drawn = {c.get_label(): {(round(x, 9), round(y, 9)) for x, y in c.get_offsets()} for c in fig.axes[0].collections}
    assert drawn[FRONT] == non_dominated(points)
    assert drawn[FRONT] | drawn["dominated"] == set(points) and len(points) == 16  # 20 cases, 3 seeds, 2 not ok


def test_throughput_plot_has_a_bar_per_variant_and_optimizer(run):
    bars = [p for p in throughput_figure(layout(run)).axes[0].patches]
    assert len(bars) == 12  # 4 variants x 2 optimizers, plus depth 1, depth 3, seed-cnn and width 32 with adam


def fixture_doc() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def test_strings_from_the_results_file_are_escaped_in_html(tmp_path):
    doc, attack = fixture_doc(), "<script>alert(1)</script>"
    for bench in doc["benchmarks"][:3]:
        bench["extra_info"]["case_id"] = f"evil-{attack}"
    doc["tradeoff_bench"]["not_measured"][0]["reason"] = attack
    doc["tradeoff_bench"]["plan"] = attack
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    html = write_report([load_run(path)], tmp_path / "out", ["html"])[0].read_text(encoding="utf-8")
    assert attack not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # the table sorter, nothing else


@pytest.mark.parametrize("damage, problem", [
    (lambda text: text[: len(text) // 2], "not valid JSON (truncated?)"),
    (lambda text: json.dumps({"machine_info": {}}), "no 'benchmarks' list"),
])
def test_a_bad_results_file_is_one_line_and_exit_2(tmp_path, damage, problem):
    bad = tmp_path / "bad.json"
    bad.write_text(damage(FIXTURE.read_text(encoding="utf-8")), encoding="utf-8")
    proc = run_cli("report", FIXTURE, bad, "--out", tmp_path / "out")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert str(bad) in proc.stderr and problem in proc.stderr and not (tmp_path / "out").exists()


BLOCK_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
from suite.cli import main
code = main(sys.argv[1:])
assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules), "torch was imported"
sys.exit(code)
"""


def test_report_command_renders_without_torch(tmp_path):
    proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "report", str(FIXTURE), str(FIXTURE),
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"wrote {tmp_path / 'report.md'}", f"wrote {tmp_path / 'index.html'}"]
    assert "40 cases in 18 configurations" in (tmp_path / "report.md").read_text(encoding="utf-8")
    assert (tmp_path / PLOTS_DIR / "accuracy-params.svg").stat().st_size > 5000


def test_no_module_of_the_report_or_results_imports_torch():
    """Reports render on a machine without PyTorch: report/, results/ and plumbing/ never import it."""
    files = [path for folder in ("report", "results", "plumbing")
             for path in sorted((REPO / "suite" / folder).rglob("*.py"))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.split(".")[0] == "torch"], f"{path.name} imports torch"


def test_unknown_format_is_a_config_error(tmp_path):
    proc = run_cli("report", FIXTURE, "--format", "md,pdf", "--out", tmp_path)
    assert proc.returncode == 2 and "unknown report format 'pdf'; valid choices: md, html" in proc.stderr


def test_report_defaults_to_the_results_folder_and_keeps_a_report_made_from_another_file(tmp_path, capsys):
    from suite.cli import main

    run_dir, other = tmp_path / "run", tmp_path / "other"
    run_dir.mkdir(), other.mkdir()
    shutil.copy(FIXTURE, run_dir / "results.json")
    shutil.copy(FIXTURE, other / "out.json")
    assert main(["report", str(run_dir / "results.json"), "--format", "md"]) == 0  # beside the results file
    made = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "| results.json" in made
    capsys.readouterr()
    assert main(["report", str(other / "out.json"), "--out", str(run_dir), "--format", "md"]) == 2
    assert capsys.readouterr().err == (f"tradeoff-bench: error: {run_dir} holds a report made from results.json, not "
                                       f"from {other / 'out.json'}: pick another --out, or pass --force to replace "
                                       "it\n")
    assert (run_dir / "report.md").read_text(encoding="utf-8") == made  # untouched
    assert main(["report", str(run_dir / "results.json"), "--out", str(run_dir), "--format", "md"]) == 0  # same file
    assert main(["report", str(other / "out.json"), "--out", str(run_dir), "--format", "md", "--force"]) == 0
    assert "| out.json" in (run_dir / "report.md").read_text(encoding="utf-8")


def test_pareto_labels_do_not_overlap_each_other_or_the_legend_when_points_crowd():
    base = {"model": "conv", "depth": 2, "width": 32, "shared": False, "optimizer": "adam", "lr": 0.001,
            "schedule": "constant", "weight_decay": 0.0, "batch_size": 64, "epochs": 3, "dataset": "digits",
            "device": "cpu", "seed": 0}
    cases = [CaseResult(f"w{w}", {**base, "width": w}, "ok", "",  # 10 front points within 5% of each other
                        {"test_accuracy": 0.90 + 0.005 * k, "infer_latency_ms_p50": 0.050 + 0.00025 * k})
             for k, w in enumerate(range(8, 88, 8))]
    lay = layout(Run("r.json", "p", {"tradeoff_bench": {}}, {"id": "x"}, "", cases))
    fig = front_figure(lay, "infer_latency_ms_p50", "latency")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert sorted(t.get_text() for t in ax.texts) == sorted(["base"] + [f"width {w}" for w in range(16, 88, 8)])
    assert not [(i, j) for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j])]
    legend = ax.get_legend().get_window_extent(renderer)
    assert not any(box.overlaps(legend) for box in boxes)


def test_ratios_print_without_scientific_notation():
    from suite.report.tradeoffs import ratio_number

    assert [ratio_number(r) for r in (2210.4, 100.0, 21.05, 0.41, 0.0031)] == ["2,210", "100", "21.05", "0.41",
                                                                               "0.0031"]


def test_short_labels_stay_unique_where_the_base_lacks_a_field():
    seed_cnn = {"model": "seed-cnn", "depth": None, "width": None, "optimizer": "adam", "seed": 0}
    cases = [CaseResult("seed-cnn", seed_cnn), CaseResult("conv-d2", {**seed_cnn, "model": "conv", "depth": 2}),
             CaseResult("conv-d3", {**seed_cnn, "model": "conv", "depth": 3}),
             CaseResult("conv-d3-s1", {**seed_cnn, "model": "conv", "depth": 3, "seed": 1})]
    lay = layout(Run("r.json", "p", {}, {}, "", cases))
    assert [lay.short_label(g) for g in lay.groups] == ["base", "conv, depth 2", "conv, depth 3"]
    assert lay.case_ids() == {"base": "seed-cnn", "conv, depth 2": "conv-d2", "conv, depth 3 (seed 0)": "conv-d3",
                              "conv, depth 3 (seed 1)": "conv-d3-s1"}


def test_html_tooltips_name_the_case_of_a_rows_first_cell_only():
    import pandas as pd

    from suite.report.html import table_view

    frame = pd.DataFrame({"case": ["sgd (noisy) (no bf16 hardware)", "base"], "optimizer": ["sgd", "adam"]})
    view = table_view(frame, {"sgd": "conv-sgd-s0", "base": "conv-adam-s0"})
    assert [[tip for _, _, tip in row] for row in view["rows"]] == [["conv-sgd-s0", ""], ["conv-adam-s0", ""]]
