"""`tradeoff-bench ab BASE HEAD`: two commits measured in the same job, in fresh processes, pair by pair.

Both commits are checked out side by side (suite/plumbing/worktrees.py); every case of the plan is measured timing-only
(`--timing-only`: build, warm up, time the step and the forwards) in fresh interpreters that alternate A B B A
..., each run with PYTHONPATH at its commit's tree and this interpreter, so one virtual environment serves both.
Pairs are added until the training step time and the batch-1 latency each have a verdict (suite/results/ab_stats.py) or
the cap is reached. Exit 1 when a case regressed or could not be measured, else 0.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

from suite.results import ab_stats

METRICS = {"train_step": ("train", "training step"), "latency": ("infer", "batch-1 latency")}  # -> samples group


def side_environment(tree: Path) -> dict:
    """The child's PYTHONPATH: the commit's tree first, then whatever PYTHONPATH this process had (plug-ins)."""
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH")) if p)}


def ab_case(case, trees: dict, message: dict, min_pairs: int, max_pairs: int, say=print) -> dict:
    """One case measured in pairs of fresh processes until each metric has a decision: the case's record
    {"case_id", "status" (ok | error), "reason", "pairs", "metrics": {metric: decision}, "times": per side}."""
    from suite.executors.isolated import run_child

    times = {side: {metric: [] for metric in METRICS} for side in trees}
    decisions: dict[str, ab_stats.Decision] = {}
    record = {"case_id": case.id, "status": "ok", "reason": "", "pairs": 0, "metrics": {}, "times": times}
    for index in range(max_pairs):
        for side in ab_stats.pair_order(index):
            result, _ = run_child(case, message, side_environment(trees[side]))
            if result.status != "ok":
                return record | {"status": "error", "reason": f"{side}: {result.status}: {result.reason}",
                                 "pairs": index}
            for metric, (group, _) in METRICS.items():
                times[side][metric].append(statistics.median(result.samples[group]))
        record["pairs"] = index + 1
        for metric in METRICS:
            if metric not in decisions:
                decision = ab_stats.decide(times["base"][metric], times["head"][metric], min_pairs, max_pairs)
                if decision is not None:
                    decisions[metric] = decision
        say(f"  pair {index + 1}: " + "  ".join(pair_text(metric, times, decisions.get(metric)) for metric in METRICS))
        if len(decisions) == len(METRICS):
            break
    record["metrics"] = {metric: decision_record(decisions[metric]) for metric in METRICS if metric in decisions}
    return record


def pair_text(metric: str, times: dict, decision) -> str:
    """The running estimate of one metric, and its verdict once reached."""
    estimate = decision.estimate if decision else ab_stats.ratio_interval(times["base"][metric], times["head"][metric])
    return f"{METRICS[metric][1]} r {estimate.ratio:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]" \
        + (f" {decision.verdict}" if decision else "")


def decision_record(decision: ab_stats.Decision) -> dict:
    """A decision as JSON."""
    e = decision.estimate
    return {"verdict": decision.verdict, "ratio": e.ratio, "low": e.low, "high": e.high, "pairs": e.pairs}


def table_rows(records: list[dict]) -> list[list[str]]:
    """Rows (case, metric, r, interval, pairs, verdict) of every case's metrics, an error as one row."""
    rows = []
    for record in records:
        if record["status"] != "ok":
            rows.append([record["case_id"], "-", "-", "-", str(record["pairs"]), f"error: {record['reason']}"])
            continue
        for metric, d in record["metrics"].items():
            rows.append([record["case_id"], METRICS[metric][1], f"{d['ratio']:.3f}",
                         f"[{d['low']:.3f}, {d['high']:.3f}]", str(d["pairs"]), d["verdict"]])
    return rows


HEADER = ["case", "metric", "r (HEAD/BASE)", "95% interval", "pairs", "verdict"]


def text_table(rows: list[list[str]]) -> str:
    """The rows as an aligned plain-text table."""
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [HEADER, *rows])


def markdown(rows: list[list[str]], base: dict, head: dict) -> str:
    """The rows as a Markdown table under a line naming both commits."""
    from suite.plumbing.mdtext import md_text

    lines = [f"A/B of {md_text(head['ref'])} ({head['commit'][:12]}) against {md_text(base['ref'])} "
             f"({base['commit'][:12]}): r is HEAD/BASE time, fresh processes alternating A B B A", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(md_text(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def check_trees(trees: dict, sides: dict) -> None:
    """ConfigError when a commit has no child entry point (it predates `--isolation process`): nothing to run."""
    from suite.executors.isolated import CHILD_MODULE
    from suite.plumbing.errors import ConfigError

    child = Path(*CHILD_MODULE.split(".")).with_suffix(".py")
    for side, tree in trees.items():
        if not (tree / child).is_file():
            raise ConfigError(f"{side} {sides[side]['ref']} ({sides[side]['commit'][:12]}) has no {child.as_posix()}: "
                              "ab needs both commits to have `--isolation process`")


def cmd_ab(args) -> int:
    """Measure BASE and HEAD pair by pair, print the table, write --markdown/--json; 1 on a regression or error."""
    from suite.commands.run import parse_sets
    from suite.executors.isolated import child_request
    from suite.plans import load_plan
    from suite.plumbing.fileio import write_text_atomic
    from suite.plumbing.worktrees import repository_root, resolve, side_by_side
    from suite.results.study import available_cases

    ab_stats.check_pairs(args.min_pairs, args.max_pairs)
    repo = repository_root(Path.cwd())
    sides = {"base": {"ref": args.base, "commit": resolve(repo, args.base)},
             "head": {"ref": args.head, "commit": resolve(repo, args.head)}}
    plan = load_plan(args.plan, parse_sets(args.set), args.data_dir)
    cases, unavailable = available_cases(plan, args.data_dir, False)
    for result in unavailable:
        print(f"{result.case_id}: {result.status}: {result.reason}", flush=True)
    print(f"ab {args.base} ({sides['base']['commit'][:12]}) -> {args.head} ({sides['head']['commit'][:12]}): plan "
          f"{plan.name}, {len(cases)} cases, {args.min_pairs} to {args.max_pairs} pairs each", flush=True)
    records = []
    with side_by_side(repo, {side: sides[side]["commit"] for side in sides}) as trees:
        check_trees(trees, sides)
        for number, case in enumerate(cases, 1):
            print(f"[{number}/{len(cases)}] {case.id}", flush=True)
            message = child_request(case, {"timing_only": True}, args.data_dir)
            records.append(ab_case(case, trees, message, args.min_pairs, args.max_pairs))
    rows = table_rows(records)
    print(text_table(rows), flush=True)
    if args.markdown:
        write_text_atomic(args.markdown, markdown(rows, sides["base"], sides["head"]))
    if args.json:
        write_text_atomic(args.json, json.dumps({"base": sides["base"], "head": sides["head"], "plan": plan.name,
                                                  "min_pairs": args.min_pairs, "max_pairs": args.max_pairs,
                                                  "cases": records}, indent=1))
    bad = [r for r in records if r["status"] != "ok" or any(d["verdict"] == "regressed" for d in r["metrics"].values())]
    if bad:
        print(f"tradeoff-bench: {len(bad)} of {len(records)} cases regressed or could not be measured",
              file=sys.stderr, flush=True)
    return 1 if bad else 0


def register(sub) -> None:
    """Add the `ab` subcommand."""
    ab = sub.add_parser("ab", help="A/B two commits in fresh processes, pair by pair, until a verdict",
                        description=__doc__ + "\nBoth commits run under this interpreter (its virtual environment): "
                        "the commits' own dependencies are not installed.")
    ab.add_argument("base", metavar="BASE", help="git ref of the baseline commit (in the current directory's repo)")
    ab.add_argument("head", metavar="HEAD", help="git ref of the commit to judge")
    ab.add_argument("--plan", default="quick", help="plan name in benchmarks/plans/ or a .toml path (default quick)")
    ab.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a base field")
    ab.add_argument("--data-dir", default=None, help="data directory (or $TRADEOFF_BENCH_DATA)")
    ab.add_argument("--min-pairs", type=int, default=ab_stats.DEFAULT_MIN_PAIRS, metavar="N",
                    help=f"pairs before any verdict (default {ab_stats.DEFAULT_MIN_PAIRS}, at least 2)")
    ab.add_argument("--max-pairs", type=int, default=ab_stats.DEFAULT_MAX_PAIRS, metavar="N",
                    help=f"the cap: a metric without a verdict after N pairs is `noise` (default "
                    f"{ab_stats.DEFAULT_MAX_PAIRS})")
    ab.add_argument("--markdown", default=None, metavar="FILE", help="also write the table as Markdown")
    ab.add_argument("--json", default=None, metavar="FILE", help="also write every case's pairs and verdicts")
    ab.set_defaults(func=cmd_ab)
