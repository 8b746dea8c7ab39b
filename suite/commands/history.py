"""`tradeoff-bench history add | show | plot | check | accept | last-good`: the run history in SQLite (no torch
import)."""

from __future__ import annotations

from pathlib import Path

from suite.metrics import TRAIN_RATE

DEFAULT_METRIC = TRAIN_RATE
DEFAULT_LAST = 5


def cmd_add(args) -> int:
    """Store a run with the verdicts of checking it against the history at this moment."""
    from suite.results.compare import parse_thresholds
    from suite.results.gate import check_run
    from suite.results.history import add_run, known_run, open_history, run_digest
    from suite.results.schema import load_run

    run = load_run(args.results)
    digest = run_digest(run)
    with open_history(args.db) as conn:
        if known_run(conn, digest):
            add_run(conn, run, digest)  # raises the "already in the history" error
        result = check_run(conn, run, digest, args.last, parse_thresholds(args.threshold), args.alpha)
        run_id = add_run(conn, run, digest, result.verdicts())
    counts = result.comparison.counts()
    print(f"added run {run_id} to {args.db}: {len(run.cases)} cases of plan {run.plan}, "
          f"commit {(run.commit_info.get('id') or 'unknown')[:12]}, "
          f"fingerprint {run.machine_info['tradeoff_bench']['fingerprint']}; verdicts: "
          f"{counts['regressed']} regressed, {counts['suspect']} suspect"
          + (" (left out of later baselines until `tradeoff-bench history accept "
             f"{run_id}`)" if counts["regressed"] or counts["suspect"] else ""))
    return 0


def cmd_accept(args) -> int:
    """Accept a flagged run: its level becomes the baseline of the cases it flagged."""
    from suite.results.history import accept_run, open_history

    with open_history(args.db) as conn:
        flagged = accept_run(conn, args.run)
    print(f"accepted run {args.run}: {flagged} flagged case metrics now start a new baseline level")
    return 0


def cmd_last_good(args) -> int:
    """Print the commit of the newest run the gate flagged nothing in (or that was accepted); 1 when none."""
    import sys

    from suite.results.history import last_good_run, open_history

    with open_history(args.db) as conn:
        good = last_good_run(conn, args.plan)
    if good is None or not good["commit"]:
        print(f"tradeoff-bench: {args.db}: no run{' of plan ' + args.plan if args.plan else ''} without a flagged "
              "verdict (or accepted) and with a commit", file=sys.stderr)
        return 1
    print(good["commit"])
    return 0


def cmd_show(args) -> int:
    from tabulate import tabulate

    from suite.results.history import baseline_median, change_points, open_history, recent_runs, series

    with open_history(args.db) as conn:
        runs = recent_runs(conn, args.limit)
        if not runs:
            print(f"{args.db}: no runs yet (add one with `tradeoff-bench history add RESULTS.json`)")
            return 0
        print(tabulate([[r["id"], r["time"], r["commit"][:12], r["fingerprint"], r["plan"], r["cases"]] for r in runs],
                       headers=["run", "time", "commit", "fingerprint", "plan", "cases"], tablefmt="github"))
        fingerprint = runs[0]["fingerprint"]
        trends = []
        for case_id, points in series(conn, args.metric, fingerprint).items():
            values = [value for _, _, value in points]
            previous = values[-1 - args.last:-1]
            middle = baseline_median(previous) if previous else 0.0
            change = (values[-1] / middle - 1) * 100 if middle else None  # no ratio to a zero
            starts = [points[i][0] for i in change_points(values)]
            trends.append([case_id, len(values), f"{values[-1]:,.4g}", "-" if change is None else f"{change:+.1f}%",
                           ", ".join(map(str, starts)) or "-"])
    print(f"\n{args.metric} on fingerprint {fingerprint} (newest run vs the median of the {args.last} before it):")
    print(tabulate(trends, headers=["case", "runs", "latest", f"vs median of {args.last} before",
                                    "change points at run"],
                   tablefmt="github", disable_numparse=True))
    return 0


def cmd_plot(args) -> int:
    from suite.plumbing.errors import ConfigError
    from suite.report.plots import check_image_path, plain_text, save_figure
    from suite.results.history import open_history, recent_runs, series

    out = Path(args.out or f"reports/history-{args.metric}.png")
    check_image_path(out)

    with open_history(args.db) as conn:
        runs = recent_runs(conn, 1)
        if not runs:
            raise ConfigError(f"{args.db}: no runs to plot")
        fingerprint = args.fingerprint or runs[0]["fingerprint"]
        lines = series(conn, args.metric, fingerprint, args.case)
    if not lines:
        raise ConfigError(f"{args.db}: no values of metric {args.metric!r}"
                          + (f" for case {args.case!r}" if args.case else "") + f" on fingerprint {fingerprint}")
    with plain_text():  # case ids and metric names are data: a "$" in one is not mathtext
        figure = history_figure(lines, args.metric, fingerprint)
        save_figure(figure, out, dpi=100, bbox_inches="tight")
    print(f"wrote {out}: {len(lines)} cases")
    return 0


def history_figure(lines: dict, metric: str, fingerprint: str):
    """A metric per case against the run number (whole runs only on the axis), change points dashed."""
    from matplotlib.ticker import MaxNLocator

    from suite.report.plots import new_figure
    from suite.results.history import change_points

    figure, axes = new_figure(10, 5)
    for case_id, points in lines.items():
        run_ids, values = [p[0] for p in points], [p[2] for p in points]
        (line,) = axes.plot(run_ids, values, marker="o", label=case_id)
        for index in change_points(values):
            axes.axvline(run_ids[index] - 0.5, color=line.get_color(), linestyle="--", alpha=0.7)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # run numbers: 1, 2, 3, never 1.25
    axes.set_xlabel("run (dashed: detected change point)")
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} over time, fingerprint {fingerprint}")
    axes.legend(fontsize="x-small")
    return figure


def cmd_check(args) -> int:
    """Verdicts of a run against the history (suite/results/gate.py); stores nothing."""
    from suite.commands.compare import report
    from suite.plumbing.errors import ConfigError
    from suite.results.compare import parse_thresholds, run_difference
    from suite.results.gate import check_run
    from suite.results.history import machine_info_of, open_history, recent_runs, run_digest
    from suite.results.schema import load_run

    thresholds = parse_thresholds(args.threshold)
    run = load_run(args.results)
    with open_history(args.db) as conn:
        digest = run_digest(run)
        result = check_run(conn, run, digest, args.last, thresholds, args.alpha)
        others = recent_runs(conn, 1, None, digest)
        if not result.baseline_runs and others and not args.force:
            difference = run_difference(machine_info_of(conn, others[0]["id"]), run.machine_info)
            if difference:
                raise ConfigError(f"no run in {args.db} shares this run's environment and procedure: newest run "
                                  f"{others[0]['id']}: {difference} (use --force to pass with nothing to check "
                                  "against: the next runs start a new baseline)")
    if not result.baseline_runs:
        print(f"{args.db}: no earlier comparable runs: nothing to check {args.results} against")
        return 0
    title = (f"baseline (per case, the median of up to {args.last} unflagged runs among "
             f"{', '.join(map(str, result.baseline_runs))}) vs candidate {args.results}")
    return report(result.comparison, title, args.markdown, args.allow_missing)


def register(sub) -> None:
    """Add the `history` subcommand and its actions."""
    from suite.commands.compare import add_verdict_options
    from suite.results.gate import DEFAULT_LAST as GATE_LAST
    from suite.results.history import DEFAULT_DB

    history = sub.add_parser("history", help="the run history in SQLite: add, show, plot, check")
    actions = history.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="store a results file (commit, time, fingerprint, metrics, samples)")
    add.add_argument("results", metavar="RESULTS.json")
    add.set_defaults(func=cmd_add)
    show = actions.add_parser("show", help="recent runs and the trend of a metric per case")
    show.add_argument("--limit", type=int, default=10, help="runs to list (default 10)")
    show.add_argument("--metric", default=DEFAULT_METRIC, help=f"metric of the trend table (default {DEFAULT_METRIC})")
    show.add_argument("--last", type=int, default=DEFAULT_LAST, help="runs the newest is compared with")
    show.set_defaults(func=cmd_show)
    plot = actions.add_parser("plot", help="a metric over runs per case, detected change points marked")
    plot.add_argument("--metric", default=DEFAULT_METRIC)
    plot.add_argument("--case", default=None, help="one case id (default every case)")
    plot.add_argument("--fingerprint", default=None, help="environment to plot (default the newest run's)")
    plot.add_argument("--out", default=None, help="PNG file (default reports/history-METRIC.png)")
    plot.set_defaults(func=cmd_plot)
    check = actions.add_parser("check", help="verdicts against the runs before it on this fingerprint and procedure")
    check.add_argument("results", metavar="RESULTS.json")
    add_verdict_options(check)
    check.add_argument("--force", action="store_true",
                       help="pass when no earlier run shares this run's environment and procedure")
    check.set_defaults(func=cmd_check)
    for action in (add, check):
        action.add_argument("--last", type=int, default=GATE_LAST,
                            help=f"baseline runs per case (default {GATE_LAST})")
    add_verdict_options(add, markdown=False)
    accept = actions.add_parser("accept", help="accept a flagged run: its level becomes the new baseline")
    accept.add_argument("run", type=int, metavar="RUN", help="run id (see `history show`)")
    accept.set_defaults(func=cmd_accept)
    last_good = actions.add_parser("last-good", help="the commit of the newest run with no flagged verdict, or "
                                   "accepted (what a night's A/B compares against)")
    last_good.add_argument("--plan", default=None, help="only runs of this plan")
    last_good.set_defaults(func=cmd_last_good)
    for action in (add, show, plot, check, accept, last_good):
        action.add_argument("--db", default=DEFAULT_DB, help=f"history database (default {DEFAULT_DB})")
