"""Results as github-action-benchmark's custom JSON. Imports no torch.

github-action-benchmark (https://github.com/benchmark-action/github-action-benchmark, "Examples" for
custom benchmarks) takes a JSON list of `{"name", "unit", "value", "range"?, "extra"?}` and one
direction per file: `tool: customBiggerIsBetter` or `tool: customSmallerIsBetter`. So there is one
list per direction:

    bigger   training (the step alone, and end to end) and batched inference throughput (samples/s), test
             accuracy (%); a language model's training tokens/s
    smaller  batch-1 inference latency p50 / p90 / p99 (ms); a language model's validation loss (nats/token)

Each entry's name is "<case id> <metric>" so the action draws one chart per case and metric; `range`
is half the interquartile range of the rounds ("± x"), where the results keep one; `extra` names
the rounds, the plan and the commit.
"""

from __future__ import annotations

TOOLS = {"bigger": "customBiggerIsBetter", "smaller": "customSmallerIsBetter"}
# metric -> (unit, scale applied to the stored value)
EXPORTED = {
    "bigger": {"train_samples_per_s": ("samples/s", 1.0), "train_e2e_samples_per_s": ("samples/s", 1.0),
               "infer_samples_per_s": ("samples/s", 1.0), "test_accuracy": ("%", 100.0),
               "train_tokens_per_s": ("tokens/s", 1.0)},
    "smaller": {"infer_latency_ms_p50": ("ms", 1.0), "infer_latency_ms_p90": ("ms", 1.0),
                "infer_latency_ms_p99": ("ms", 1.0), "val_loss": ("nats/token", 1.0)},
}
ONE_FIGURE = ("test_accuracy", "val_loss", "train_e2e_samples_per_s")  # one value per case: no rounds to name


def github_action_benchmark(run, direction: str) -> list[dict]:
    """The entries of one direction ('bigger' or 'smaller') for every measured case of a Run."""
    from suite.errors import choices_error

    if direction not in EXPORTED:
        raise choices_error("direction", direction, EXPORTED)
    commit = (run.commit_info.get("id") or "unknown")[:12]
    entries = []
    for case in run.cases:
        for metric, (unit, scale) in EXPORTED[direction].items():
            value = case.metrics.get(metric)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            entry = {"name": f"{case.case_id} {metric}", "unit": unit, "value": value * scale}
            iqr = case.metrics.get(f"{metric}_iqr")
            if isinstance(iqr, (int, float)):
                entry["range"] = f"± {iqr * scale / 2:.4g}"
            rounds = (case.metrics.get(f"{metric.replace('_tokens_', '_samples_')}_rounds")  # tokens/s: samples' rounds
                      or case.metrics.get("infer_latency_samples"))
            entry["extra"] = "; ".join(
                part for part in (f"{rounds} rounds" if rounds and metric not in ONE_FIGURE else "",
                                  f"plan {run.plan}", f"commit {commit}", f"status {case.status}") if part)
            entries.append(entry)
    return entries
