"""`tradeoff-bench history add | show | plot | check`: the run history in SQLite (no torch import)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_METRIC = "train_samples_per_s"
DEFAULT_LAST = 5


def cmd_add(args) -> int:
    from suite.history import add_run, open_history, run_digest
    from suite.results import load_run

    run = load_run(args.results)
    with open_history(args.db) as conn:
        run_id = add_run(conn, run, run_digest(run))
    print(f"added run {run_id} to {args.db}: {len(run.cases)} cases of plan {run.plan}, "
          f"commit {(run.commit_info.get('id') or 'unknown')[:12]}, "
          f"fingerprint {run.machine_info['tradeoff_bench']['fingerprint']}")
    return 0


def cmd_show(args) -> int:
    from tabulate import tabulate

    from suite.history import change_points, open_history, recent_runs, series

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
            middle = float(sorted(previous)[len(previous) // 2]) if previous else 0.0
            change = (values[-1] / middle - 1) * 100 if middle else None  # no ratio to a zero
            starts = [points[i][0] for i in change_points(values)]
            trends.append([case_id, len(values), f"{values[-1]:,.4g}", "-" if change is None else f"{change:+.1f}%",
                           ", ".join(map(str, starts)) or "-"])
    print(f"\n{args.metric} on fingerprint {fingerprint} (newest run vs the median of the {args.last} before it):")
    print(tabulate(trends, headers=["case", "runs", "latest", "vs previous", "change points at run"],
                   tablefmt="github", disable_numparse=True))
    return 0


def cmd_plot(args) -> int:
    from suite.errors import ConfigError
    from suite.history import change_points, open_history, recent_runs, series
    from suite.report.plots import check_image_path, new_figure, plain_text, save_figure

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
        figure, axes = new_figure(10, 5)
        for case_id, points in lines.items():
            run_ids, values = [p[0] for p in points], [p[2] for p in points]
            (line,) = axes.plot(run_ids, values, marker="o", label=case_id)
            for index in change_points(values):
                axes.axvline(run_ids[index] - 0.5, color=line.get_color(), linestyle="--", alpha=0.7)
        axes.set_xlabel("run (dashed: detected change point)")
        axes.set_ylabel(args.metric)
        axes.set_title(f"{args.metric} over time, fingerprint {fingerprint}")
        axes.legend(fontsize="x-small")
        save_figure(figure, out, dpi=100, bbox_inches="tight")
    print(f"wrote {out}: {len(lines)} cases")
    return 0


def cmd_check(args) -> int:
    from suite.commands.compare import report
    from suite.compare import compare_entries, entries_from_run, environment_difference, parse_thresholds
    from suite.errors import ConfigError
    from suite.history import machine_info_of, open_history, recent_runs, rolling_baseline, run_digest, run_fingerprint
    from suite.results import load_run

    if args.last < 1:
        raise ConfigError(f"--last {args.last}: must be at least 1")
    thresholds = parse_thresholds(args.threshold)
    run = load_run(args.results)
    fingerprint = run_fingerprint(run)
    with open_history(args.db) as conn:
        digest = run_digest(run)
        runs = recent_runs(conn, args.last, fingerprint, digest)
        if not runs:
            others = recent_runs(conn, args.last, None, digest)
            if not others:
                print(f"{args.db}: no earlier runs: nothing to check {args.results} against")
                return 0
            if not args.force:
                newest = machine_info_of(conn, others[0]["id"])
                raise ConfigError(f"no run in {args.db} has fingerprint {fingerprint}: newest run {others[0]['id']}: "
                                  f"{environment_difference(newest, run.machine_info)} "
                                  "(use --force to check against the latest runs anyway)")
            runs = others
        baseline = rolling_baseline(conn, [r["id"] for r in runs])
    comparison = compare_entries(baseline, entries_from_run(run), thresholds, args.alpha)
    title = f"{args.results} vs the median of runs {', '.join(str(r['id']) for r in runs)}"
    return report(comparison, title, args.markdown)


def register(sub) -> None:
    """Add the `history` subcommand and its actions."""
    from suite.commands.compare import add_verdict_options
    from suite.history import DEFAULT_DB

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
    check = actions.add_parser("check", help="verdicts against the median of the last N runs on this fingerprint")
    check.add_argument("results", metavar="RESULTS.json")
    check.add_argument("--last", type=int, default=DEFAULT_LAST, help=f"baseline runs (default {DEFAULT_LAST})")
    add_verdict_options(check)
    check.add_argument("--force", action="store_true", help="use other fingerprints' runs when this one has none")
    check.set_defaults(func=cmd_check)
    for action in (add, show, plot, check):
        action.add_argument("--db", default=DEFAULT_DB, help=f"history database (default {DEFAULT_DB})")
