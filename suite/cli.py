"""tradeoff-bench: run | list | report | env."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from suite.errors import ConfigError

DEFAULT_OUT = "reports/latest"


def _parse_sets(pairs: list[str]) -> dict:
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

    plan = load_plan(args.plan, _parse_sets(args.set))
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


def cmd_list(args) -> int:
    from suite.data import DATASETS
    from suite.devices import DEVICES, availability
    from suite.models import MODELS
    from suite.optim import OPTIMIZERS, SCHEDULES
    from suite.plans import load_plan, plan_names

    sections = {
        "models": MODELS,
        "optimizers": {k: f"{v.description} (default lr {v.default_lr:g})" for k, v in OPTIMIZERS.items()},
        "schedules": {k: v[0] for k, v in SCHEDULES.items()},
        "datasets": DATASETS,
        "devices": {k: v + ("" if availability(k)[0] else f" [absent: {availability(k)[1]}]")
                    for k, v in DEVICES.items()},
        "plans": {name: f"{len(load_plan(name).cases)} cases: {load_plan(name).description}"
                  for name in plan_names()},
    }
    for title, entries in sections.items():
        print(f"{title}:")
        for name, text in entries.items():
            print(f"  {name:<14} {text}")
    return 0


def cmd_report(args) -> int:
    from suite.report.markdown import render
    from suite.results import load_run

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [load_run(path) for path in args.results]
    for run in runs:
        target = out / ("report.md" if len(runs) == 1 else f"{Path(run.path).stem}.md")
        target.write_text(render(run), encoding="utf-8")
        print(f"wrote {target}")
    return 0


def cmd_env(args) -> int:
    import json

    from suite.environment import machine_info

    info = machine_info()
    print(json.dumps({"tradeoff_bench": info["tradeoff_bench"], "cpu": info["cpu"].get("brand_raw"),
                      "python": info["python_version"]}, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="tradeoff-bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a plan's cases and write results.json and report.md")
    run.add_argument("--plan", default="quick", help="plan name in benchmarks/plans/ or a .toml path")
    run.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a base field")
    run.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    run.add_argument("--data-dir", default=None, help="directory of IDX files (or $TRADEOFF_BENCH_DATA)")
    run.add_argument("--download", action="store_true", help="allow downloading datasets (needs torchvision)")
    run.set_defaults(func=cmd_run)
    sub.add_parser("list", help="list models, optimizers, schedules, datasets, devices, plans").set_defaults(
        func=cmd_list)
    report = sub.add_parser("report", help="render reports from results files")
    report.add_argument("results", nargs="+")
    report.add_argument("--out", default=DEFAULT_OUT)
    report.set_defaults(func=cmd_report)
    sub.add_parser("env", help="print the environment and its fingerprint").set_defaults(func=cmd_env)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: bad input is one line on stderr and exit code 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"tradeoff-bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
