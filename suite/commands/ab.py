"""`tradeoff-bench ab BASE HEAD`: two commits measured in the same job, in fresh processes, pair by pair.

Both commits are checked out side by side (suite/plumbing/worktrees.py); every case of the plan is measured timing-only
(`--timing-only`: build, warm up, time the step and the forwards) in fresh interpreters that alternate A B B A
..., each run with PYTHONPATH at its commit's tree and this interpreter, so one virtual environment serves both.
Pairs are added until the training step time and the batch-1 latency each have a verdict (suite/results/ab_stats.py) or
the cap is reached. With `--measure instructions` each commit counts each case once under callgrind instead
(suite/executors/instructions.py; the two counts at once): deterministic, so the registry's threshold alone decides.
Exit 1 when a case regressed or could not be measured, else 0.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

from suite.metrics import INFER_INSTRUCTIONS_PER_CALL, TRAIN_INSTRUCTIONS_PER_SAMPLE
from suite.metrics import METRICS as REGISTRY
from suite.results import ab_stats

METRICS = {"train_step": ("train", "training step"), "latency": ("infer", "batch-1 latency")}  # -> samples group
COUNTED = (TRAIN_INSTRUCTIONS_PER_SAMPLE, INFER_INSTRUCTIONS_PER_CALL)
ENTRY_POINTS = {"time": "suite.executors.child", "instructions": "suite.executors.instructions"}  # each commit's own


def side_environment(tree: Path) -> dict:
    """The child's PYTHONPATH: the commit's tree first, then whatever PYTHONPATH this process had (plug-ins)."""
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH")) if p)}


def ab_case(case, trees: dict, message: dict, min_pairs: int, max_pairs: int, say=print) -> dict:
    """One case measured in pairs of fresh processes until each metric has a decision: the case's record
    {"case_id", "status" (ok | error), "reason", "pairs", "metrics": {metric: decision}, "times": per side}."""
    from suite.executors.isolated import run_child

    def measure(side: str) -> dict | str:
        result, _ = run_child(case, message, side_environment(trees[side]))
        if result.status != "ok":
            return f"{side}: {result.status}: {result.reason}"
        return process_figures(result.samples)

    return {"case_id": case.id, **pairs_until_decided(measure, min_pairs, max_pairs, say)}


def process_figures(samples: dict) -> dict:
    """What one process contributes to a pair: the median seconds per call of each A/B metric's timed rounds."""
    return {metric: statistics.median(samples[group]) for metric, (group, _) in METRICS.items()}


def pairs_until_decided(measure, min_pairs: int, max_pairs: int, say=print) -> dict:
    """Pairs of `measure(side)` (each {metric: median seconds}, or the reason it failed), alternating A B B A, until
    each metric has a decision or the cap is reached: {"status", "reason", "pairs", "metrics", "times"}.
    benchmarks/regression_rates.py drives the same loop from a pool of measured processes."""
    times = {side: {metric: [] for metric in METRICS} for side in ("base", "head")}
    decisions: dict[str, ab_stats.Decision] = {}
    record = {"status": "ok", "reason": "", "pairs": 0, "metrics": {}, "times": times}
    for index in range(max_pairs):
        for side in ab_stats.pair_order(index):
            measured = measure(side)
            if isinstance(measured, str):
                return record | {"status": "error", "reason": measured, "pairs": index}
            for metric in METRICS:
                times[side][metric].append(measured[metric])
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


def ab_counted(case, trees: dict, data_dir) -> dict:
    """One case counted once per commit (both at once), each count's change judged against the metric's threshold:
    the same record as ab_case, one "pair", the interval the ratio itself."""
    from concurrent.futures import ThreadPoolExecutor

    from suite.executors.instructions import CountConfig, count_case

    with ThreadPoolExecutor(len(trees)) as pool:
        results = dict(zip(trees, pool.map(lambda side: count_case(case, CountConfig(), data_dir, root=trees[side]),
                                           trees)))
    counts = {side: {metric: r.metrics.get(metric) for metric in COUNTED} for side, r in results.items()}
    record = {"case_id": case.id, "status": "ok", "reason": "", "pairs": 1, "metrics": {}, "counts": counts}
    for side, result in results.items():
        if result.status != "ok":
            return record | {"status": result.status, "reason": f"{side}: {result.reason}", "pairs": 0}
    for metric in COUNTED:
        ratio = counts["head"][metric] / counts["base"][metric]
        record["metrics"][metric] = {"verdict": count_verdict(ratio, metric), "ratio": ratio,
                                     "low": ratio, "high": ratio, "pairs": 1}
    return record


def count_verdict(ratio: float, metric: str) -> str:
    """HEAD/BASE instructions judged as `compare` judges a count: its registry threshold alone decides."""
    from suite.results.compare import timing_verdict

    metric = REGISTRY[metric]
    return timing_verdict(100 * (ratio - 1), metric, metric.threshold, True)


def metric_label(metric: str) -> str:
    """A verdict row's metric: the timed step and latency, or a counted metric's label in the registry."""
    return METRICS[metric][1] if metric in METRICS else REGISTRY[metric].label


def pair_text(metric: str, times: dict, decision) -> str:
    """The running estimate of one metric, and its verdict once reached."""
    estimate = decision.estimate if decision else ab_stats.ratio_interval(times["base"][metric], times["head"][metric])
    return f"{METRICS[metric][1]} r {estimate.ratio:.3f} [{estimate.low:.3f}, {estimate.high:.3f}] " \
        f"{estimate.confidence:.0%}" + (f" {decision.verdict}" if decision else "")


def decision_record(decision: ab_stats.Decision) -> dict:
    """A decision as JSON."""
    e = decision.estimate
    return {"verdict": decision.verdict, "ratio": e.ratio, "low": e.low, "high": e.high, "pairs": e.pairs,
            "confidence": e.confidence}


def table_rows(records: list[dict]) -> list[list[str]]:
    """Rows (case, metric, r, interval, pairs, verdict) of every case's metrics, an error as one row."""
    rows = []
    for record in records:
        if record["status"] != "ok":
            outcome = f"{record['status']}: {record['reason']}"
            rows.append([record["case_id"], "-", "-", "-", str(record["pairs"]), outcome])
            continue
        for metric, d in record["metrics"].items():
            counted = metric in COUNTED  # one count per side: exact, no interval
            rows.append([record["case_id"], metric_label(metric), f"{d['ratio']:.{5 if counted else 3}f}",
                         "exact" if counted else interval_text(d), str(d["pairs"]), d["verdict"]])
    return rows


def interval_text(d: dict) -> str:
    """A decision record's interval and its confidence (95% in records written before the call interval)."""
    return f"[{d['low']:.3f}, {d['high']:.3f}] {d.get('confidence', ab_stats.CONFIDENCE):.0%}"


HEADER = ["case", "metric", "r (HEAD/BASE)", "interval", "pairs", "verdict"]


def text_table(rows: list[list[str]]) -> str:
    """The rows as an aligned plain-text table."""
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [HEADER, *rows])


def markdown(rows: list[list[str]], base: dict, head: dict, measure: str = "time") -> str:
    """The rows as a Markdown table under a line naming both commits."""
    from suite.plumbing.mdtext import md_text

    how = ("r is HEAD/BASE time, fresh processes alternating A B B A" if measure == "time" else
           "r is HEAD/BASE instructions, each commit counted once under callgrind")
    lines = [f"A/B of {md_text(head['ref'])} ({head['commit'][:12]}) against {md_text(base['ref'])} "
             f"({base['commit'][:12]}): {how}", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(md_text(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def check_trees(trees: dict, sides: dict, measure: str = "time") -> None:
    """ConfigError when a commit has no entry point for the measure (it predates `--isolation process`, or
    instruction counts): nothing to run."""
    from suite.plumbing.errors import ConfigError

    child = Path(*ENTRY_POINTS[measure].split(".")).with_suffix(".py")
    needs = "`--isolation process`" if measure == "time" else "`--measure instructions`"
    for side, tree in trees.items():
        if not (tree / child).is_file():
            raise ConfigError(f"{side} {sides[side]['ref']} ({sides[side]['commit'][:12]}) has no {child.as_posix()}: "
                              f"ab needs both commits to have {needs}")


def noisy_cases(cases: list, history, max_spread: float) -> dict[str, float]:
    """case id -> between-night spread (%) of the cases whose training throughput moves by more than `max_spread`
    percent between the runs of the history: their wall-clock verdict would be the machine's, so they are left out."""
    from suite.results.history import between_night_spreads, open_history

    timing = next(key for key, m in REGISTRY.items() if m.watch == "timing" and m.rounds == "train")
    with open_history(history) as conn:
        spreads = between_night_spreads(conn, timing)
    return {case.id: 100 * spreads[case.id] for case in cases if 100 * spreads.get(case.id, 0.0) > max_spread}


def previous_night(path) -> list[dict]:
    """The case records of the previous night's A/B (its --json); none when there is no such file (a first night)."""
    return json.loads(Path(path).read_text()).get("cases", []) if path and Path(path).is_file() else []


def two_night_rule(records: list[dict], previous: list[dict]) -> None:
    """A wall-clock `regressed` that the previous night's A/B (its case records) did not also flag for the same case
    and metric becomes `suspect`: regressed only on the second night running, as the history gate does."""
    flagged = {(c["case_id"], metric) for c in previous
               for metric, d in c.get("metrics", {}).items() if d["verdict"] in ("regressed", "suspect")}
    for record in records:
        for metric, decision in record["metrics"].items():
            if metric in METRICS and decision["verdict"] == "regressed" and (record["case_id"], metric) not in flagged:
                decision["verdict"] = "suspect"


def cmd_ab(args) -> int:
    """Measure BASE and HEAD pair by pair, print the table, write --markdown/--json; 1 on a regression or error."""
    from suite.commands.run import parse_sets
    from suite.executors.isolated import child_request
    from suite.plans import available_cases, load_plan
    from suite.plumbing.fileio import write_text_atomic
    from suite.plumbing.worktrees import repository_root, resolve, side_by_side

    ab_stats.check_pairs(args.min_pairs, args.max_pairs)
    repo = repository_root(Path.cwd())
    sides = {"base": {"ref": args.base, "commit": resolve(repo, args.base)},
             "head": {"ref": args.head, "commit": resolve(repo, args.head)}}
    plan = load_plan(args.plan, parse_sets(args.set), args.data_dir)
    cases, unavailable = available_cases(plan, args.data_dir, False)
    for result in unavailable:
        print(f"{result.case_id}: {result.status}: {result.reason}", flush=True)
    each = f"{args.min_pairs} to {args.max_pairs} pairs each" if args.measure == "time" else "each counted once"
    print(f"ab {args.base} ({sides['base']['commit'][:12]}) -> {args.head} ({sides['head']['commit'][:12]}): plan "
          f"{plan.name}, {len(cases)} cases, {each}", flush=True)
    excluded = noisy_cases(cases, args.history, args.max_spread) if args.history and args.measure == "time" else {}
    records = [{"case_id": case_id, "status": "excluded", "pairs": 0, "metrics": {},
                "reason": f"between-night spread {spread:.0f}% > {args.max_spread:g}% in {args.history}"}
               for case_id, spread in excluded.items()]
    cases = [case for case in cases if case.id not in excluded]
    with side_by_side(repo, {side: sides[side]["commit"] for side in sides}) as trees:
        check_trees(trees, sides, args.measure)
        for number, case in enumerate(cases, 1):
            print(f"[{number}/{len(cases)}] {case.id}", flush=True)
            if args.measure == "instructions":
                records.append(ab_counted(case, trees, args.data_dir))
                continue
            message = child_request(case, {"timing_only": True}, args.data_dir)
            records.append(ab_case(case, trees, message, args.min_pairs, args.max_pairs))
    if args.measure == "time" and args.previous is not None:
        two_night_rule(records, previous_night(args.previous))
    rows = table_rows(records)
    print(text_table(rows), flush=True)
    if args.markdown:
        write_text_atomic(args.markdown, markdown(rows, sides["base"], sides["head"], args.measure))
    if args.json:
        write_text_atomic(args.json, json.dumps({"base": sides["base"], "head": sides["head"], "plan": plan.name,
                                                  "measure": args.measure,
                                                  "min_pairs": args.min_pairs, "max_pairs": args.max_pairs,
                                                  "confidence": ab_stats.CONFIDENCE,
                                                  "call_confidence": ab_stats.CALL_CONFIDENCE,
                                                  "cases": records}, indent=1))
    bad = [r for r in records if r["status"] not in ("ok", "skipped", "excluded")
           or any(d["verdict"] == "regressed" for d in r["metrics"].values())]
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
    ab.add_argument("--measure", choices=tuple(ENTRY_POINTS), default="time",
                    help="time (interleaved pairs of fresh processes, the default) or instructions (each commit "
                    "counts each case once under valgrind; a change beyond the metric's threshold decides)")
    ab.add_argument("--history", default=None, metavar="DB", help="a history database: cases whose training "
                    "throughput spreads by more than --max-spread between its runs are left out of the wall-clock "
                    "verdict and listed")
    ab.add_argument("--max-spread", type=float, default=15.0, metavar="PCT",
                    help="with --history: the between-night spread (%%) above which a case is left out (default 15)")
    ab.add_argument("--previous", default=None, metavar="FILE", help="the previous night's --json: a wall-clock "
                    "regression it did not also flag is `suspect` (exit 0), regressed on the second night running; "
                    "a missing file counts as a night that flagged nothing")
    ab.add_argument("--markdown", default=None, metavar="FILE", help="also write the table as Markdown")
    ab.add_argument("--json", default=None, metavar="FILE", help="also write every case's pairs and verdicts")
    ab.set_defaults(func=cmd_ab)
