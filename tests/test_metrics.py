"""The metric registry (suite/metrics.py) is the one place a metric is declared: a metric added there alone is
written to its results group, judged by compare, shown by the report and emitted by export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from suite.cli import main
from suite.metrics import METRICS, Metric, base_key, exported, process_spreads, watched
from suite.results.schema import group_metrics, load_run
from tests.test_compare import synthetic_case, write_run

DEMO = Metric("demo_widgets_per_call", "demo widgets/call", "widgets", "lower", "infer", "{:,.0f}", spread="exact",
              watch="count", threshold=1.5, export="smaller", summary=True)


def with_demo(result, widgets: float):
    """A synthetic case that also measured the throwaway metric."""
    result.metrics[DEMO.key] = widgets
    return result


def test_a_metric_declared_only_in_the_registry_reaches_compare_report_and_export(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(METRICS, DEMO.key, DEMO)
    rng = np.random.default_rng(7)
    base = write_run(tmp_path / "base.json", [with_demo(synthetic_case("a", rng), 1000.0),
                                              with_demo(synthetic_case("b", rng, width=3), 2000.0)])
    cand = write_run(tmp_path / "cand.json", [with_demo(synthetic_case("a", rng), 1100.0),
                                              with_demo(synthetic_case("b", rng, width=3), 2010.0)])
    loaded = load_run(cand)
    assert [c.metrics[DEMO.key] for c in loaded.cases] == [1100.0, 2010.0]  # kept in its group's extra_info
    document = json.loads(cand.read_text())
    assert {b["group"] for b in document["benchmarks"] if DEMO.key in b["extra_info"]} == {"infer"}

    capsys.readouterr()
    assert main(["compare", str(base), str(cand)]) == 1  # +10% > 1.5%: regressed; +0.5% unchanged
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if DEMO.key in line]
    assert any("regressed" in line and "+10.0%" in line for line in rows), out
    assert any("unchanged" in line and "+0.5%" in line for line in rows), out

    assert main(["report", str(cand), "--out", str(tmp_path / "report"), "--format", "md"]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "demo widgets/call" in report and "x1.83" in report  # the trade-off summary: 2010 vs the base 1100

    assert main(["export", str(cand), "--out", str(tmp_path / "export")]) == 0
    smaller = json.loads((tmp_path / "export" / "github-action-benchmark-smaller.json").read_text())
    assert {"name": f"a {DEMO.key}", "unit": "widgets", "value": 1100.0} in [
        {k: e[k] for k in ("name", "unit", "value")} for e in smaller]


def test_the_registry_declares_each_consumer_view():
    assert list(process_spreads()) == ["train_samples_per_s", "infer_latency_ms_p50", "infer_samples_per_s"]
    assert set(watched()) >= {"params", "test_accuracy", "val_loss", "train_instructions_per_sample"}
    assert "test_accuracy" in exported("bigger") and "val_loss" in exported("smaller")
    assert base_key("train_samples_per_s_iqr") == "train_samples_per_s"
    assert base_key("train_peak_mem_mb_reason") == "train_peak_mem_mb"
    groups = group_metrics({"train_samples_per_s_world_size_1": 1.0, "train_flops_per_sample": 2.0,
                            "train_seconds": 3.0, "train_instructions": 4.0, "params_sparsity": 0.5}, "infer")
    assert groups == {"train_flops_per_sample": 2.0, "params_sparsity": 0.5}


@pytest.mark.parametrize("metric", list(METRICS.values()), ids=list(METRICS))
def test_every_registered_metric_is_consistent(metric):
    assert metric.group in ("train", "infer", "accuracy")
    assert metric.better in ("higher", "lower", "")
    assert metric.effect in ("ratio", "pp", "diff")
    assert metric.spread in ("rounds", "seeds", "exact") or metric.spread in METRICS
    assert (metric.spread == "rounds") <= (metric.rounds is not None)
    assert (metric.watch in ("timing", "accuracy", "loss", "count")) == (metric.threshold is not None)
    assert (metric.watch == "timing") == (metric.process_spread is not None)
    assert metric.export in ("", "bigger", "smaller")
    assert not metric.export or metric.export == {"higher": "bigger", "lower": "smaller"}[metric.better]
    metric.digits.format(1.5)


def test_each_report_table_takes_its_columns_from_the_registry():
    from suite.metrics import table_keys
    from suite.report import tables

    assert tables.INFERENCE == table_keys("inference") and tables.INFERENCE[0] == "infer_latency_ms_p50"
    assert tables.MODEL[:2] == ["params", "flops_per_sample"] and "train_e2e_samples_per_s" in tables.OPTIONAL_TRAINING
    assert {m.table for m in METRICS.values()} <= {"", "training", "inference", "model", "accuracy", "language model",
                                                   "instruction counts"}
