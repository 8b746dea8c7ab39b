"""`tradeoff-bench report`: render reports from results files (no torch import)."""

from __future__ import annotations

from suite.commands.run import DEFAULT_OUT


def cmd_report(args) -> int:
    """Load every results file (a bad one is a one-line error), then write one report of them all."""
    from suite.report.build import parse_formats, write_report
    from suite.results import load_run

    formats = parse_formats(args.format)
    runs = [load_run(path) for path in args.results]
    for path in write_report(runs, args.out, formats):
        print(f"wrote {path}")
    return 0


def register(sub) -> None:
    """Add the `report` subcommand."""
    report = sub.add_parser("report", help="render a report (Markdown, HTML, plots) from results files",
                            description="Several results files make one report; the first file's first case "
                                        "is the base every trade-off is measured from.")
    report.add_argument("results", nargs="+", help="pytest-benchmark JSON written by the suite")
    report.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    report.add_argument("--format", default="md,html", help="comma-separated: md, html (default both)")
    report.set_defaults(func=cmd_report)
