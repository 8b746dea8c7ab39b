"""`tradeoff-bench run`: run a plan's cases, print a line per case, write results.json and report.md."""

from __future__ import annotations

import time
from pathlib import Path

from suite.errors import ConfigError

DEFAULT_OUT = "reports/latest"


def parse_sets(pairs: list[str]) -> dict:
    """`--set field=value` pairs as typed Case fields."""
    from suite.cases import parse_value

    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set {pair!r}: expected field=value")
        overrides[name.strip()] = parse_value(name.strip(), value.strip())
    return overrides


def progress_line(index: int, total: int, result, seconds: float) -> str:
    """One line per finished case: id, status and its key figures."""
    m = result.metrics
    figures = []
    if "train_samples_per_s" in m:
        figures.append(f"train {m['train_samples_per_s']:,.0f} samples/s")
    if "infer_latency_ms_p50" in m:
        figures.append(f"p50 {m['infer_latency_ms_p50']:.3f} ms")
    if m.get("test_accuracy") is not None:
        figures.append(f"acc {100 * m['test_accuracy']:.1f}%")
    detail = "  ".join(figures) or result.reason
    return f"[{index}/{total}] {result.case_id}  {result.status}  {detail}  ({seconds:.1f} s)"


def cmd_run(args) -> int:
    from suite.data import load_dataset
    from suite.environment import commit_info, machine_info
    from suite.plans import load_plan
    from suite.report.markdown import render
    from suite.results import load_run, run_document, write_json_atomic
    from suite.runner import run_case

    plan = load_plan(args.plan, parse_sets(args.set))
    for dataset in sorted({c.dataset for c in plan.cases}):  # fail on bad data before any training
        load_dataset(dataset, args.data_dir, args.download)
    out = Path(args.out)
    print(f"plan {plan.name}: {len(plan.cases)} cases -> {out}", flush=True)
    results = []
    for index, case in enumerate(plan.cases, 1):
        start = time.perf_counter()
        result = run_case(case, data_dir=args.data_dir, download=args.download)
        results.append(result)
        print(progress_line(index, len(plan.cases), result, time.perf_counter() - start), flush=True)
    document = run_document(results, plan.name, machine_info(), commit_info())
    write_json_atomic(out / "results.json", document)
    (out / "report.md").write_text(render(load_run(out / "results.json")), encoding="utf-8")
    print(f"wrote {out / 'results.json'} and {out / 'report.md'}")
    return 0


def register(sub) -> None:
    """Add the `run` subcommand."""
    run = sub.add_parser("run", help="run a plan's cases and write results.json and report.md")
    run.add_argument("--plan", default="quick", help="plan name in benchmarks/plans/ or a .toml path")
    run.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a base field")
    run.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    run.add_argument("--data-dir", default=None, help="directory of IDX files (or $TRADEOFF_BENCH_DATA)")
    run.add_argument("--download", action="store_true", help="allow downloading datasets (needs torchvision)")
    run.set_defaults(func=cmd_run)
