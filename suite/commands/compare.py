"""`tradeoff-bench compare`: verdicts per case and metric between two results files (no torch import)."""

from __future__ import annotations


def add_verdict_options(parser, markdown: bool = True) -> None:
    """--threshold, --alpha (and --markdown, --allow-missing): shared by `compare`, `history check` and `add`."""
    from suite.results.compare import ALPHA

    parser.add_argument("--threshold", action="append", default=[], metavar="METRIC=VALUE",
                        help="override a threshold: %% for timing metrics, percentage points for test_accuracy")
    parser.add_argument("--alpha", type=float, default=ALPHA, help=f"significance level (default {ALPHA})")
    if markdown:
        parser.add_argument("--markdown", default=None, metavar="FILE", help="also write the table as Markdown here")
        parser.add_argument("--allow-missing", action="store_true",
                            help="pass although cases of the baseline are missing from the candidate")


def report(comparison, title: str, markdown: str | None, allow_missing: bool = False) -> int:
    """Print the comparison, write it as Markdown if asked, and return the exit code."""
    from suite.plumbing.fileio import write_text_atomic
    from suite.results.compare import to_markdown

    text = to_markdown(comparison, title)
    print(text, end="")
    if markdown:
        write_text_atomic(markdown, text)
    return comparison.exit_code(allow_missing)


def parse_process_spread(pairs: list[str]) -> dict:
    """`--process-spread metric=PCT` pairs as fractions."""
    from suite.metrics import process_spreads
    from suite.results.compare import parse_thresholds

    chosen = parse_thresholds(pairs)  # the same metric=number checks
    unknown = sorted(set(chosen) - set(process_spreads()))
    if unknown:
        from suite.plumbing.errors import choices_error

        raise choices_error("--process-spread metric", unknown[0], process_spreads())
    return {name: value / 100 for name, value in chosen.items()}


def cmd_compare(args) -> int:
    from suite.results.compare import compare_runs, parse_thresholds
    from suite.results.schema import load_run

    thresholds = parse_thresholds(args.threshold)
    baseline, candidate = load_run(args.baseline), load_run(args.candidate)
    comparison = compare_runs(baseline, candidate, thresholds, args.alpha, args.force,
                              parse_process_spread(args.process_spread))
    return report(comparison, f"baseline {args.baseline} vs candidate {args.candidate}", args.markdown,
                  args.allow_missing)


def register(sub) -> None:
    """Add the `compare` subcommand."""
    compare = sub.add_parser("compare", help="verdicts per case and metric: exit 1 when something regressed")
    compare.add_argument("baseline")
    compare.add_argument("candidate")
    add_verdict_options(compare)
    compare.add_argument("--process-spread", action="append", default=[], metavar="METRIC=PCT",
                         help="between-process spread of a timing metric, in %% (default: measured on the CI "
                              "machine class, see README)")
    compare.add_argument("--force", action="store_true",
                         help="compare runs whose environment fingerprints or measurement procedures differ")
    compare.set_defaults(func=cmd_compare)
