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

from suite.metrics import INFER_LATENCY_SAMPLES, exported
from suite.plumbing.errors import choices_error

TOOLS = {"bigger": "customBiggerIsBetter", "smaller": "customSmallerIsBetter"}


def github_action_benchmark(run, direction: str) -> list[dict]:
    """The entries of one direction ('bigger' or 'smaller') for every measured case of a Run."""
    if direction not in TOOLS:
        raise choices_error("direction", direction, TOOLS)
    commit = (run.commit_info.get("id") or "unknown")[:12]
    entries = []
    for case in run.cases:
        for metric, shown in exported(direction).items():
            unit, scale = shown.unit, shown.scale
            value = case.metrics.get(metric)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            entry = {"name": f"{case.case_id} {metric}", "unit": unit, "value": value * scale}
            iqr = case.metrics.get(f"{metric}_iqr")
            if isinstance(iqr, (int, float)):
                entry["range"] = f"± {iqr * scale / 2:.4g}"
            rounds = (case.metrics.get(f"{metric.replace('_tokens_', '_samples_')}_rounds")  # tokens/s: samples' rounds
                      or case.metrics.get(INFER_LATENCY_SAMPLES))
            entry["extra"] = "; ".join(
                part for part in (f"{rounds} rounds" if rounds and shown.rounds else "",
                                  f"plan {run.plan}", f"commit {commit}", f"status {case.status}") if part)
            entries.append(entry)
    return entries
