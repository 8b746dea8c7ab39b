"""`tradeoff-bench report`: render reports from results files (no torch import)."""

from __future__ import annotations

from pathlib import Path


def cmd_report(args) -> int:
    """Load every results file (a bad one is a one-line error), then write one report of them all, by default
    beside the first file; a report made there from other results files is kept unless --force."""
    from suite.report.build import parse_formats, write_report
    from suite.report.provenance import check_overwrite
    from suite.results.schema import load_run

    formats = parse_formats(args.format)
    runs = [load_run(path) for path in args.results]
    out = Path(args.out) if args.out is not None else Path(args.results[0]).parent
    check_overwrite(out, args.results, args.force)
    for path in write_report(runs, out, formats):
        print(f"wrote {path}")
    return 0


def register(sub) -> None:
    """Add the `report` subcommand."""
    report = sub.add_parser("report", help="render a report (Markdown, HTML, plots) from results files",
                            description="Several results files make one report; the first file's first case "
                                        "is the base every trade-off is measured from.")
    report.add_argument("results", nargs="+", help="pytest-benchmark JSON written by the suite")
    report.add_argument("--out", default=None, help="output directory (default: the first results file's folder)")
    report.add_argument("--force", action="store_true",
                        help="replace a report in OUT that was made from other results files")
    report.add_argument("--format", default="md,html", help="comma-separated: md, html (default both)")
    report.set_defaults(func=cmd_report)
