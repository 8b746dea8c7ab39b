"""A character transformer end to end on the real tinyshakespeare corpus: it learns, and every front end and
results tool handles it (tradeoff-bench run and resume, pytest benchmarks, the report, compare)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from suite.cases import Case
from suite.cli import main
from suite.results.compare import compare_runs
from suite.results.schema import load_run
from suite.runner import prepare, train_for_accuracy
from suite.workloads.data import load_dataset
from tests.conftest import finished, start_bench

TINY_LM_PLAN = """
description = "a tiny character transformer for tests"
[base]
model = "transformer"
dataset = "tinyshakespeare"
depth = 2
width = 32
heads = 2
context = 16
batch_size = 8
shared = true
optimizer = "adamw"
schedule = "warmup-cosine"
warmup_steps = 5
steps = 20
eval_interval = 10
eval_batches = 4
target_val_loss = 4.0
"""
LM_METRICS = {
    "train": ["train_samples_per_s", "train_tokens_per_s", "train_mfu"],
    "infer": ["infer_latency_ms_p50", "params", "flops_per_sample", "flops_per_token", "train_flops_per_token",
              "attention_flops_per_token"],
    "accuracy": ["test_accuracy", "test_loss", "val_loss", "bits_per_char", "history", "time_to_target_s",
                 "steps_to_target"],
}
FLOOR_MARGIN = 0.6  # nats below the unigram loss: the model uses the context


def unigram_loss(corpus) -> float:
    """Held-out cross-entropy (nats per character) of the training text's character frequencies: what a model
    that ignores the context at best achieves."""
    frequency = torch.bincount(corpus.train_tokens, minlength=corpus.num_classes).double()
    return float(-(frequency / frequency.sum())[corpus.test_tokens].log().mean())


def test_tiny_transformer_learns_the_real_corpus(text_data_dir):
    case = Case(model="transformer", dataset="tinyshakespeare", depth=1, width=64, heads=4, context=32,
                batch_size=32, optimizer="adamw", lr=1e-2, schedule="warmup-cosine", warmup_steps=10, steps=200,
                eval_interval=50, eval_batches=10, grad_clip=1.0)
    _, outcome = train_for_accuracy(prepare(case, text_data_dir))
    losses = [h["test_loss"] for h in outcome.history]  # measured: 2.81, 2.64, 2.53, 2.49
    floor = unigram_loss(load_dataset("tinyshakespeare", text_data_dir))
    assert floor == pytest.approx(3.3, abs=0.1) and losses[0] < math.log(65)  # below uniform guessing at step 50
    assert losses == sorted(losses, reverse=True) and outcome.test_loss < floor - FLOOR_MARGIN, losses


def check_lm_results(path, cases: int) -> None:
    """Every benchmark of the results file carries its group's language-model metrics, consistently."""
    doc = json.loads(path.read_text())
    assert len(doc["benchmarks"]) == 3 * cases
    for bench in doc["benchmarks"]:
        assert set(LM_METRICS[bench["group"]]) <= set(bench["extra_info"]), bench["group"]
    run = load_run(path)
    for result in run.cases:
        m = result.metrics
        assert m["train_tokens_per_s"] == pytest.approx(m["train_samples_per_s"] * 16)
        assert m["val_loss"] == m["test_loss"] < math.log(65) and m["bits_per_char"] == pytest.approx(m["val_loss"]
                                                                                                       / math.log(2))
        assert m["flops_per_sample"] == 16 * m["flops_per_token"]
        assert m["steps_to_target"] == next(h["step"] for h in m["history"] if h["test_loss"] <= 4.0)  # the target
        assert [h["step"] for h in m["history"]] == [10, 20] and result.case["epochs"] is None


def test_both_front_ends_resume_report_and_compare(text_data_dir, tmp_path, capsys):
    plan = tmp_path / "tiny_lm.toml"
    plan.write_text(TINY_LM_PLAN)
    out, bench_json = tmp_path / "run", tmp_path / "bench.json"
    bench = start_bench("--plan", plan, "--data-dir", text_data_dir, "--benchmark-json", bench_json)  # meanwhile
    code = main(["run", "--plan", str(plan), "--data-dir", str(text_data_dir), "--out", str(out)])  # in process
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "val loss " in printed.out and "-shared-h2-c16-" in printed.out
    check_lm_results(out / "results.json", cases=1)
    report = (out / "report.md").read_text()
    for text in ("Validation loss vs latency", "val loss (nats/token)", "train tokens/s", "FLOPs/token"):
        assert text in report
    for plot in ("pareto-accuracy-latency.png", "accuracy-params.png", "convergence.png", "lr-schedules.png"):
        assert (out / "plots" / plot).stat().st_size > 5000
    assert main(["run", "--resume", "--out", str(out), "--data-dir", str(text_data_dir)]) == 0
    assert "(resuming: 1 already recorded)" in capsys.readouterr().out

    proc = finished(bench)
    assert proc.returncode == 0, proc.stdout[-2000:]
    check_lm_results(bench_json, cases=1)
    comparison = compare_runs(load_run(out / "results.json"), load_run(bench_json))
    loss_rows = [row for row in comparison.rows if row.metric == "val_loss"]
    assert len(loss_rows) == 1 and all(row.verdict == "unchanged" for row in loss_rows)  # same seed, same loss
