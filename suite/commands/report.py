"""`tradeoff-bench report`: render reports from results files (no torch import)."""

from __future__ import annotations

from pathlib import Path

from suite.commands.run import DEFAULT_OUT


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


def register(sub) -> None:
    """Add the `report` subcommand."""
    report = sub.add_parser("report", help="render reports from results files")
    report.add_argument("results", nargs="+")
    report.add_argument("--out", default=DEFAULT_OUT)
    report.set_defaults(func=cmd_report)
