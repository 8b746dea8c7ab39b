"""The answer at the top of a report, on runs whose Pareto fronts are known by construction."""

from __future__ import annotations

from suite.report.answer import answer_lines, answers
from suite.report.build import write_report
from suite.report.grouping import layout
from suite.results.schema import CaseResult, Run

BASE = {"model": "conv", "depth": 2, "width": 32, "shared": False, "optimizer": "adam", "lr": 0.001,
        "schedule": "constant", "weight_decay": 0.0, "batch_size": 64, "epochs": 3, "dataset": "digits",
        "device": "cpu", "seed": 0}


def case(width: int, accuracy: float, train: float, latency_ms: float, params: int, samples=None,
         quality: str = "test_accuracy") -> CaseResult:
    """A configuration that differs from the base by its width only."""
    metrics = {quality: accuracy, "train_samples_per_s": train, "infer_latency_ms_p50": latency_ms, "params": params}
    return CaseResult(f"conv-d2-w{width}", {**BASE, "width": width}, "ok", "", metrics, samples or {})


def run_of(cases: list[CaseResult]) -> Run:
    return Run("results.json", "fixture", {"tradeoff_bench": {}}, {"id": "abc"}, "2026-01-01T00:00:00+00:00", cases)


# Accuracy, train samples/s, latency (ms), params. Best accuracy 95.2% (w48): within 0.5 pp are w32 (base), w40,
# w48, w24 and w28. w8 is faster, quicker and smaller than all of them but 5 pp less accurate; w64 is dominated.
KNOWN = [case(32, 0.950, 1000, 1.0, 1000), case(40, 0.948, 3000, 0.8, 800), case(8, 0.900, 9000, 0.2, 100),
         case(48, 0.952, 1500, 0.5, 1200), case(24, 0.949, 2000, 0.9, 500), case(64, 0.940, 500, 2.0, 4000),
         case(28, 0.947, 1200, 1.5, 600)]


def test_each_answer_is_the_best_front_member_within_half_a_point_of_the_best_accuracy():
    picks = {a.key: a.pick.label for a in answers(layout(run_of(KNOWN)))}
    assert picks == {"train_samples_per_s": "conv-d2-w40", "infer_latency_ms_p50": "conv-d2-w48",
                     "params": "conv-d2-w24"}
    lines = answer_lines(run_of(KNOWN))
    assert lines[0] == ("The configuration with the highest training throughput within 0.5 pp of the best accuracy "
                        "is `width 40`: 3.00 times the base's training throughput and 0.80 times the "
                        "base's batch-1 latency.")
    assert lines[1].startswith("The configuration with the lowest batch-1 latency within 0.5 pp of the best accuracy "
                               "is `width 48`: 1.50 times the base's training throughput and 0.50 times")
    assert lines[2] == ("The configuration with the smallest model within 0.5 pp of the best accuracy is "
                        "`width 24`: 0.50 times the base's parameter count, 2.00 times the base's "
                        "training throughput and 0.90 times the base's batch-1 latency.")


def test_a_pick_within_the_spread_of_another_names_it_and_a_ratio_inside_the_base_spread_says_so():
    overlapping = [0.00050, 0.00051, 0.00052, 0.00053, 0.00054]
    cases = [case(32, 0.950, 1000, 0.52, 1000, {"infer": [0.00049, 0.00052, 0.00055, 0.00053]}),
             case(48, 0.951, 1500, 0.50, 1200, {"infer": overlapping}),
             case(40, 0.949, 900, 0.51, 900, {"infer": [s + 0.000005 for s in overlapping]})]
    item = answers(layout(run_of(cases)))[1]
    assert item.pick.label == "conv-d2-w48" and [g.label for g in item.ties] == ["conv-d2-w32", "conv-d2-w40"]
    line = answer_lines(run_of(cases))[1]
    assert "within spread of the base's batch-1 latency" in line
    assert line.endswith("Within its spread on that figure: `base`, `width 40`.")


def test_language_models_answer_within_0_02_of_the_best_validation_loss(tmp_path):
    cases = [case(32, 2.10, 1000, 1.0, 1000, quality="val_loss"), case(40, 2.115, 4000, 0.7, 900, quality="val_loss"),
             case(8, 2.50, 9000, 0.1, 100, quality="val_loss")]
    lines = answer_lines(run_of(cases))
    assert lines[0].startswith("The configuration with the highest training throughput within 0.02 of the best "
                               "validation loss is `width 40`: 4.00 times")


def test_the_answer_is_the_first_section_of_both_reports(tmp_path):
    written = write_report([run_of(KNOWN)], tmp_path, ["md", "html"])
    markdown = written[0].read_text()
    assert markdown.split("## ")[1].startswith("Answer\n\nThe configuration with the highest training throughput")
    html = written[1].read_text()
    assert html.index("<h2>Answer</h2>") < html.index("<h2>Environment</h2>")
    assert '<code title="conv-d2-w40">width 40</code>: 3.00 times the base&#39;s training throughput' in html
    assert html.count('<td title="conv-d2-w64">width 64</td>') == 5  # 4 tables of figures and the case ids list
    assert "conv-d2-w40" not in markdown.split("## Case ids")[0]  # the full id: in the tooltip and the list only
    listed = [[c.strip() for c in line.split("|")[1:3]] for line in markdown.split("## Case ids")[1].splitlines()
              if line.startswith("| ")]
    widths = (40, 8, 48, 24, 64, 28)
    assert listed[1:] == [["base", "conv-d2-w32"], *([f"width {w}", f"conv-d2-w{w}"] for w in widths)]
