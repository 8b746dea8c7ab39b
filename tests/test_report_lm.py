"""Reports of language models (no torch): validation loss is the quality axis of the Pareto and convergence
plots, also where a model has no accuracy, with optimizer steps on the x axis under a steps budget; the
trade-off summary and tables show val loss and tokens/s."""

from __future__ import annotations

from suite.report.build import build_sections
from suite.report.grouping import layout
from suite.report.plots import FRONT, VAL_LOSS_LABEL, convergence_figure, front_figure, plain_text, schedule_figure
from suite.report.tradeoffs import build_tradeoffs
from suite.results.schema import CaseResult, Run

BASE = {"model": "transformer", "depth": 4, "width": 128, "shared": False, "optimizer": "adamw", "lr": 0.001,
        "schedule": "warmup-cosine", "weight_decay": 0.1, "batch_size": 12, "epochs": None, "steps": 2000,
        "dataset": "tinyshakespeare", "device": "cpu", "seed": 0, "context": 64}


def lm_result(name: str, latency_ms: float, val_loss: float, params: int, **fields) -> CaseResult:
    """A language model's result without any accuracy (as a plug-in model may report it)."""
    history = [{"epoch": i, "step": 500 * i, "wall_time_s": 10.0 * i, "train_loss": val_loss + 1 / i,
                "test_loss": val_loss + 0.5 / i, "lr": 0.001} for i in (1, 2, 3, 4)]
    metrics = {"infer_latency_ms_p50": latency_ms, "val_loss": val_loss, "test_loss": val_loss, "params": params,
               "train_samples_per_s": 30.0, "train_samples_per_s_max": 32.0, "train_tokens_per_s": 30.0 * 64,
               "history": history}
    return CaseResult(name, {**BASE, **fields}, "ok", "", metrics, {"train": [0.4, 0.39, 0.41], "infer": [0.001]})


def lm_run() -> Run:
    cases = [lm_result("base", 2.0, 1.90, 804_096),
             lm_result("d2", 1.2, 2.05, 410_000, depth=2),
             lm_result("d8", 4.0, 1.86, 1_591_552, depth=8),
             lm_result("shared", 2.0, 1.99, 213_504, shared=True),  # as fast as the base, worse: dominated
             lm_result("momentum", 2.0, 2.40, 804_096, optimizer="momentum", lr=0.01)]
    return Run("lm.json", "shakespeare", {}, {}, "", cases)


def test_pareto_plot_shows_validation_loss_lower_is_better():
    fig = front_figure(layout(lm_run()), "infer_latency_ms_p50", "latency")
    ax = fig.axes[0]
    assert ax.get_ylabel() == VAL_LOSS_LABEL
    drawn = {c.get_label(): {(x, round(y, 6)) for x, y in c.get_offsets()} for c in ax.collections}
    assert drawn[FRONT] == {(1.2, 2.05), (2.0, 1.90), (4.0, 1.86)}  # faster, or lower in loss: nothing beats them
    assert drawn["dominated"] == {(2.0, 1.99), (2.0, 2.40)}


def test_convergence_plots_validation_loss_against_steps():
    fig = convergence_figure(layout(lm_run()))
    top_left = fig.axes[0]
    assert top_left.get_ylabel() == VAL_LOSS_LABEL and top_left.get_xlabel() == "optimizer step"
    lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in top_left.get_lines()}
    assert lines["base"] == ([500, 1000, 1500, 2000], [1.90 + 0.5 / i for i in (1, 2, 3, 4)])
    assert set(lines) == {"base", "momentum"}  # recipes on the base model only (lr follows the optimizer)


def test_lr_plot_draws_each_rate_at_its_intervals_first_step_with_plain_log_labels(tmp_path):
    with plain_text():
        fig = schedule_figure(layout(lm_run()))
        fig.savefig(tmp_path / "lr.png")  # tick labels are made on drawing
    ax = fig.axes[0]
    assert {tuple(line.get_xdata()) for line in ax.get_lines()} == {(0, 500, 1000, 1500)}
    labels = [t.get_text() for t in ax.yaxis.get_ticklabels(minor=True) + ax.yaxis.get_ticklabels()]
    assert any(labels) and not any("$" in text for text in labels), labels


def test_summary_and_sections_name_the_language_model_metrics(tmp_path):
    run = lm_run()
    table = build_tradeoffs(run, tmp_path)[0].tables[0]
    assert "val loss (nats/token)" in table.columns and "train tokens/s" in table.columns
    assert "test loss" not in table.columns  # the same figure as val loss: shown once
    shared = table[table["change"] == "shared: no → yes"].iloc[0]
    assert shared["params"] == "x0.27" and shared["val loss (nats/token)"] == "+0.09"
    titles = [s.title for s in build_sections([run], tmp_path, extra=[])]
    assert "Validation loss vs latency" in titles and "Validation loss vs parameters" in titles
