"""The Markdown report: one table row per case."""

from __future__ import annotations

from suite.results import Run

COLUMNS = {
    "case_id": "case",
    "status": "status",
    "train_samples_per_s": "train samples/s",
    "infer_latency_ms_p50": "latency p50 (ms)",
    "infer_samples_per_s": "infer samples/s",
    "params": "params",
    "flops_per_sample": "FLOPs/sample",
    "test_accuracy": "test acc (%)",
    "train_seconds": "train s",
}


def case_table(run: Run) -> str:
    """A GitHub-flavoured table, one row per case, units in the headers."""
    import pandas as pd

    frame = pd.DataFrame(run.rows()).reindex(columns=list(COLUMNS))
    frame["test_accuracy"] = frame["test_accuracy"] * 100
    return frame.rename(columns=COLUMNS).to_markdown(index=False, floatfmt=",.4g", missingval="-")


def render(run: Run) -> str:
    """The whole Markdown report."""
    env = run.machine_info.get("tradeoff_bench", {})
    header = [f"# tradeoff-bench report: plan `{run.plan}`", "",
              f"{run.datetime} · commit `{run.commit_info.get('id', 'unknown')[:12]}` · "
              f"{env.get('cpu_brand', '?')} ({env.get('cpu_cores', '?')} cores) · torch {env.get('torch', '?')} "
              f"· {env.get('torch_threads', '?')} threads · fingerprint `{env.get('fingerprint', '?')}`", ""]
    notes = [f"- `{c.case_id}`: **{c.status}**: {c.reason}" for c in run.cases if c.status != "ok"]
    return "\n".join(header + [case_table(run), ""] + (["## Not ok", *notes, ""] if notes else []))
