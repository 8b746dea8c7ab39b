"""Sharding a plan over several machines, and merging the parts' results files. Imports no torch.

`--shard K/N` keeps every N-th case, starting at the K-th, of the plan's cases sorted by id: the
selection depends only on the set of case ids (not on plan order or the machine), the N shards are
disjoint and cover the plan, and their sizes differ by at most one case.
"""

from __future__ import annotations

import dataclasses
import re

from suite.plumbing.errors import ConfigError, shown
from suite.plumbing.fileio import read_bytes_capped
from suite.procedure import procedure_difference, run_procedure
from suite.results.compare import environment_difference
from suite.results.schema import load_run, strict_json

SHARD = re.compile(r"([0-9]{1,9})/([0-9]{1,9})")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """(K, N) from 'K/N' with 1 <= K <= N, ASCII digits only; surrounding whitespace is ignored (as
    around `--set` values), any other character refused. None for no sharding."""
    if text is None:
        return None
    match = SHARD.fullmatch(str(text).strip())
    k, n = (int(match[1]), int(match[2])) if match else (0, 0)
    if not 1 <= k <= n:
        raise ConfigError(f"--shard {shown(text)}: expected K/N with 1 <= K <= N, e.g. 2/4")
    return k, n


def select_shard(cases, shard: str | None):
    """The cases of shard 'K/N' in their plan order (all of them when shard is None)."""
    parsed = parse_shard(shard)
    if parsed is None:
        return tuple(cases)
    k, n = parsed
    ids = sorted(case.id for case in cases)
    keep = set(ids[k - 1::n])
    return tuple(case for case in cases if case.id in keep)


def shard_text(shard: str | None) -> str | None:
    """'K/N' as recorded in a part's results file (None for no sharding)."""
    parsed = parse_shard(shard)
    return None if parsed is None else f"{parsed[0]}/{parsed[1]}"


def shard_plan(plan, shard: str | None):
    """The plan with only the cases of shard 'K/N' (the plan itself when shard is None)."""
    return plan if shard is None else dataclasses.replace(plan, cases=select_shard(plan.cases, shard))


def _case_ids(doc: dict) -> set[str]:
    ids = {b["extra_info"]["case_id"] for b in doc["benchmarks"]}
    return ids | {r["case_id"] for r in doc.get("tradeoff_bench", {}).get("not_measured", [])}


def read_part(path) -> dict:
    """A part's JSON document, validated as a results file (through load_run; finite numbers only)."""
    load_run(path)  # raises ConfigError naming the file when it is not a readable results document
    return strict_json(read_bytes_capped(path, what="a results file").decode("utf-8"))


def missing_shards(parts: list[tuple[str, dict]]) -> list[str]:
    """The shards "K/N" of a sharded run that none of the parts is; [] when no part records a shard. Parts that
    disagree on N, repeat a shard, or mix sharded and unsharded files are refused."""
    shards = {path: doc.get("tradeoff_bench", {}).get("shard") for path, doc in parts}
    if not any(shards.values()):
        return []
    seen: dict[tuple[int, int], str] = {}
    for path, text in shards.items():
        if not isinstance(text, str) or SHARD.fullmatch(text) is None:
            raise ConfigError(f"{path}: records no shard, unlike the other parts (a part of another run?)")
        k, n = parse_shard(text)
        if (k, n) in seen:
            raise ConfigError(f"{path}: shard {k}/{n} is also {seen[(k, n)]}")
        seen[(k, n)] = path
    counts = {n for _, n in seen}
    if len(counts) > 1:
        raise ConfigError(f"parts of different shardings: {', '.join(sorted(shards.values()))}")
    n = counts.pop()
    return [f"{k}/{n}" for k in range(1, n + 1) if (k, n) not in seen]


def merge_documents(parts: list[tuple[str, dict]], force: bool = False) -> dict:
    """One results document from (path, document) parts of the same plan, environment and procedure.

    Refuses parts whose plans or environment fingerprints differ, or that share a case; and, unless `force`,
    parts measured by different procedures or an incomplete set of shards (the missing ones are named, and
    recorded in the merged file's `missing_shards` when forced).
    """
    if not parts:
        raise ConfigError("merge needs at least one results file")
    first_path, first = parts[0]
    plan = first.get("tradeoff_bench", {}).get("plan")
    fingerprint = first.get("machine_info", {}).get("tradeoff_bench", {}).get("fingerprint")
    seen: dict[str, str] = {}
    for path, doc in parts:
        other_plan = doc.get("tradeoff_bench", {}).get("plan")
        if other_plan != plan:
            raise ConfigError(f"{path}: plan {other_plan!r} differs from {first_path}'s {plan!r}")
        other = doc.get("machine_info", {}).get("tradeoff_bench", {}).get("fingerprint")
        if other != fingerprint:

            difference = environment_difference(first.get("machine_info", {}), doc.get("machine_info", {}))
            raise ConfigError(f"{path}: not mergeable with {first_path}: {difference}")
        procedure = procedure_difference(run_procedure(first.get("machine_info", {})),
                                         run_procedure(doc.get("machine_info", {})))
        if procedure and not force:
            raise ConfigError(f"{path}: not mergeable with {first_path}: {procedure} (use --force to merge anyway)")
        for case_id in sorted(_case_ids(doc)):
            if case_id in seen:
                raise ConfigError(f"{path}: case {case_id} is also in {seen[case_id]} (overlapping shards?)")
            seen[case_id] = path
    missing = missing_shards(parts)
    if missing and not force:
        raise ConfigError(f"missing shard{'s' if len(missing) > 1 else ''} {', '.join(missing)}: {len(parts)} of "
                          f"{len(parts) + len(missing)} parts given (use --force to merge them anyway)")
    merged = dict(first)
    merged["benchmarks"] = [b for _, doc in parts for b in doc["benchmarks"]]
    block = {k: v for k, v in first.get("tradeoff_bench", {}).items() if k != "shard"}
    merged["tradeoff_bench"] = {**block, **({"missing_shards": missing} if missing else {}),
                                "not_measured": [r for _, doc in parts
                                                 for r in doc.get("tradeoff_bench", {}).get("not_measured", [])]}
    return merged
