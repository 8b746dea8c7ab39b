"""`tradeoff-bench merge`: join the results files of a plan's shards into one (no torch import)."""

from __future__ import annotations


def cmd_merge(args) -> int:
    from suite.plumbing.fileio import write_json_atomic
    from suite.results.schema import load_run
    from suite.results.shard import merge_documents, read_part

    merged = merge_documents([(path, read_part(path)) for path in args.parts], args.force)
    write_json_atomic(args.out, merged)
    run = load_run(args.out)
    missing = merged["tradeoff_bench"].get("missing_shards", [])
    print(f"wrote {args.out}: {len(run.cases)} cases of plan {run.plan} from {len(args.parts)} parts"
          + (f"; missing shards: {', '.join(missing)}" if missing else ""))
    return 0


def register(sub) -> None:
    """Add the `merge` subcommand."""
    merge = sub.add_parser("merge", help="join shard results files (same plan and fingerprint, no shared case)")
    merge.add_argument("parts", nargs="+", metavar="PART.json")
    merge.add_argument("--out", required=True, help="the merged results file")
    merge.add_argument("--force", action="store_true",
                       help="merge parts measured by different procedures, or without every shard (named)")
    merge.set_defaults(func=cmd_merge)
