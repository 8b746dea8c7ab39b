"""`tradeoff-bench compare`: verdicts per case and metric between two results files (no torch import)."""

from __future__ import annotations


def add_verdict_options(parser) -> None:
    """--threshold, --alpha and --markdown: shared by `compare` and `history check`."""
    from suite.compare import ALPHA

    parser.add_argument("--threshold", action="append", default=[], metavar="METRIC=VALUE",
                        help="override a threshold: %% for timing metrics, percentage points for test_accuracy")
    parser.add_argument("--alpha", type=float, default=ALPHA, help=f"significance level (default {ALPHA})")
    parser.add_argument("--markdown", default=None, metavar="FILE", help="also write the table as Markdown here")


def report(comparison, title: str, markdown: str | None) -> int:
    """Print the comparison, write it as Markdown if asked, and return the exit code."""
    from suite.compare import to_markdown
    from suite.fileio import write_text_atomic

    text = to_markdown(comparison, title)
    print(text, end="")
    if markdown:
        write_text_atomic(markdown, text)
    return comparison.exit_code()


def cmd_compare(args) -> int:
    from suite.compare import compare_runs, parse_thresholds
    from suite.results import load_run

    thresholds = parse_thresholds(args.threshold)
    baseline, candidate = load_run(args.baseline), load_run(args.candidate)
    comparison = compare_runs(baseline, candidate, thresholds, args.alpha, args.force)
    return report(comparison, f"{args.candidate} vs {args.baseline}", args.markdown)


def register(sub) -> None:
    """Add the `compare` subcommand."""
    compare = sub.add_parser("compare", help="verdicts per case and metric: exit 1 when something regressed")
    compare.add_argument("baseline")
    compare.add_argument("candidate")
    add_verdict_options(compare)
    compare.add_argument("--force", action="store_true", help="compare runs whose environment fingerprints differ")
    compare.set_defaults(func=cmd_compare)
