"""Run parts of a plan made of parts (the gpu plan) on CUDA within a time budget, keeping what finished.

    python benchmarks/gpu/gpu_plan.py [--plan gpu] [--part NAME ...] [--data-dir DIR] [--out DIR] [--budget-s S]

Cases run through the suite's runner (suite.runner.run_case) one after another, in the parts' order. After each
case the results JSON (OUT/NAME.json, readable by `tradeoff-bench report`) and the summary table (OUT/NAME.md:
tokens/s or samples/s, MFU with its ceiling, nanoGPT's estimate_mfu beside it for a transformer, held-out loss
and time-to-target) are rewritten, so a killed run keeps every finished case. No case starts after --budget-s.
Exit status: 0 when every case ran ok, 1 when one ended otherwise (error, oom, diverged), 3 when one could not
run (skipped: no CUDA, missing data, the budget spent), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script: the suite from this checkout
    sys.path.insert(0, str(REPO))

from benchmarks.gpu.verdicts import EXIT_FAILED, EXIT_NOT_RUN, EXIT_PASSED  # noqa: E402
from suite.metrics import TRAIN_RATE  # noqa: E402

BUDGET_NOT_RUN = "not run: the time budget (--budget-s) was spent before it started"
HEADERS = ["part", "case", "status", "throughput", "train MFU", "nanoGPT MFU", "val loss", "to target",
           "case s"]


def parse_args(argv):
    """The command line."""
    parser = argparse.ArgumentParser(description="Run parts of a plan on CUDA within a budget; write results "
                                     "and a summary table after each case.")
    parser.add_argument("--plan", default="gpu", help="a plan name or .toml path (default gpu)")
    parser.add_argument("--part", action="append", default=[], help="a part to run (repeatable; default all)")
    parser.add_argument("--data-dir", default=None, help="data directory (or $TRADEOFF_BENCH_DATA)")
    parser.add_argument("--out", default="reports/gpu-plan", help="output directory (default reports/gpu-plan)")
    parser.add_argument("--budget-s", type=float, default=600.0, help="no case starts after this (default 600)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a field of every selected case (repeatable)")
    args = parser.parse_args(argv)
    if args.budget_s <= 0:
        parser.error(f"--budget-s must be positive, got {args.budget_s:g}")
    return args


def _override(text: str) -> tuple:
    """A --set FIELD=VALUE as (field, typed value)."""
    from suite.cases import parse_value
    from suite.plumbing.errors import ConfigError

    field, sep, value = text.partition("=")
    if not sep:
        raise ConfigError(f"--set {text!r}: expected FIELD=VALUE")
    return field, parse_value(field, value)


def label(case: dict) -> str:
    """A short name for a case in the table (the full id is in the results JSON): its precision, TF32, compile,
    channels_last and batch size."""
    if not case:
        return "-"
    text = case.get("precision", "fp32") + ("+tf32" if case.get("matmul_precision") == "high" else "")
    text += f"+compile-{case['compile']}" if case.get("compile", "none") != "none" else ""
    text += "+channels_last" if case.get("memory_format") == "channels_last" else ""
    return f"{case.get('model')} {text} b{case.get('batch_size')}"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def summary_row(part: str, result, seconds: float | None) -> list[str]:
    """One table row: throughput in tokens/s for a language model (else samples/s), train MFU with its ceiling,
    nanoGPT's count of the same MFU (6 N + 12 L H Q T per token over the same ceiling), val loss and
    time-to-target (training clock; 'not reached' when the budget ended above the target)."""
    m = result.metrics or {}
    tokens = m.get("train_tokens_per_s")
    throughput = f"{tokens:,.0f} tok/s" if tokens else (
        f"{m[TRAIN_RATE]:,.0f} samples/s" if m.get(TRAIN_RATE) else "-")
    mfu = f"{_pct(m.get('train_mfu'))} of {m['mfu_ceiling_key']}" if m.get("train_mfu") else "-"
    nanogpt = None
    if tokens and m.get("nanogpt_train_flops_per_token") and m.get("mfu_ceiling_gflops"):
        nanogpt = m["nanogpt_train_flops_per_token"] * tokens / (m["mfu_ceiling_gflops"] * 1e9)
    loss = m.get("val_loss")
    if "time_to_target_s" in m:
        target = "not reached" if m["time_to_target_s"] is None else \
            f"{m['time_to_target_s']:.0f} s ({m.get('steps_to_target')} steps)"
    else:
        target = "-"
    return [part, label(result.case), result.status if result.status == "ok" else f"{result.status}: {result.reason}",
            throughput, mfu, _pct(nanogpt), "-" if loss is None else f"{loss:.3f}", target,
            "-" if seconds is None else f"{seconds:.0f}"]


def render(rows: list[list[str]]) -> str:
    """The summary table in GitHub markdown."""
    from tabulate import tabulate

    return tabulate(rows, headers=HEADERS, tablefmt="github")


def exit_status(results) -> int:
    """0 when every case is ok, 1 when one ended otherwise, 3 when none did but one was skipped."""
    if any(r.status not in ("ok", "skipped") for r in results):
        return EXIT_FAILED
    return EXIT_NOT_RUN if any(r.status == "skipped" for r in results) else EXIT_PASSED


def main(argv=None) -> int:
    """Run the selected parts' cases in order until the budget is spent; write after each case."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    begin = time.perf_counter()
    from suite.commands.run import progress_line
    from suite.measure.environment import commit_info, machine_info
    from suite.plans import available_cases, load_plan
    from suite.plumbing.errors import ConfigError
    from suite.plumbing.fileio import write_json_atomic, write_text_atomic
    from suite.results.schema import CaseResult, run_document
    from suite.runner import MeasureConfig, run_case
    from suite.workloads.data import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    try:
        overrides = dict(_override(text) for text in args.set)
        plan = load_plan(args.plan, data_dir=data_dir)
        parts = args.part or [name for name, _ in plan.parts]
        selected = [(part, case.replace(**overrides)) for part in parts for case in plan.part_cases(part)]
    except ConfigError as exc:
        print(f"gpu_plan: {exc}", file=sys.stderr)
        return 2
    _, skipped = available_cases(plan, data_dir, False)
    missing = {r.case["dataset"]: r.reason for r in skipped}
    info, out = machine_info(), Path(args.out)
    results, rows = [], []
    for index, (part, case) in enumerate(selected, 1):
        started = time.perf_counter()
        if case.dataset in missing:
            result = CaseResult(case.id, case.as_dict(), "skipped", missing[case.dataset])
        elif started - begin > args.budget_s:
            result = CaseResult(case.id, case.as_dict(), "skipped", BUDGET_NOT_RUN)
        else:
            result = run_case(case, MeasureConfig(), data_dir=data_dir)
        seconds = time.perf_counter() - started if result.status != "skipped" else None
        results.append(result)
        rows.append(summary_row(part, result, seconds))
        print(progress_line(index, len(selected), result, time.perf_counter() - started), flush=True)
        write_json_atomic(out / f"{plan.name}.json", run_document(results, plan.name, info, commit_info()))
        write_text_atomic(out / f"{plan.name}.md", render(rows) + "\n")
    print("\n" + render(rows), flush=True)
    return exit_status(results)


if __name__ == "__main__":
    sys.exit(main())
