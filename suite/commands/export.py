"""`tradeoff-bench export`: results in another tool's format (no torch import)."""

from __future__ import annotations

from pathlib import Path

FORMATS = ("github-action-benchmark",)


def cmd_export(args) -> int:
    from suite.plumbing.errors import choices_error
    from suite.plumbing.fileio import write_json_atomic
    from suite.results.export import TOOLS, github_action_benchmark
    from suite.results.schema import load_run

    if args.format not in FORMATS:
        raise choices_error("format", args.format, FORMATS)
    run = load_run(args.results)
    out = Path(args.out) if args.out is not None else Path(args.results).parent
    for direction in [args.direction] if args.direction else list(TOOLS):
        target = out / f"{args.format}-{direction}.json"
        entries = github_action_benchmark(run, direction)
        write_json_atomic(target, entries)
        print(f"wrote {target}: {len(entries)} entries for `tool: {TOOLS[direction]}`")
    return 0


def register(sub) -> None:
    """Add the `export` subcommand."""
    export = sub.add_parser("export", help="write results in github-action-benchmark's custom JSON")
    export.add_argument("results", metavar="RESULTS.json")
    export.add_argument("--format", default=FORMATS[0], help=f"output format (one of: {', '.join(FORMATS)})")
    export.add_argument("--direction", default=None,
                        help="bigger or smaller: write only that file (default both: "
                        "FORMAT-bigger.json for customBiggerIsBetter, FORMAT-smaller.json for customSmallerIsBetter)")
    export.add_argument("--out", default=None,
                        help="directory of the written files (default: the results file's folder, as for report)")
    export.set_defaults(func=cmd_export)
