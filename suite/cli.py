"""tradeoff-bench: run | list | report | env | compare | history | export | merge | ab (one module per subcommand
in suite/commands/)."""

from __future__ import annotations

import argparse
import importlib
import sys

from suite.plumbing.errors import ConfigError

# modules of suite.commands, in --help order
COMMANDS = ["run", "listing", "report", "env", "compare", "history", "export", "merge", "ab"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="tradeoff-bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"suite.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: bad input is one line on stderr and exit code 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        one_line = str(exc).replace("\r", "\\r").replace("\n", "\\n")
        print(f"tradeoff-bench: error: {one_line}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file-system failure no command turned into a ConfigError itself: still one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"tradeoff-bench: error: {where}{exc.strerror or exc}".replace("\n", "\\n"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before any case ran (a run in flight handles signals itself)
        print("tradeoff-bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
