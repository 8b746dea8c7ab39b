"""Sharding a plan over several machines, and merging the parts' results files. Imports no torch.

`--shard K/N` keeps every N-th case, starting at the K-th, of the plan's cases sorted by id: the
selection depends only on the set of case ids (not on plan order or the machine), the N shards are
disjoint and cover the plan, and their sizes differ by at most one case.
"""

from __future__ import annotations

import dataclasses
import re

from suite.errors import ConfigError, shown

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


def shard_plan(plan, shard: str | None):
    """The plan with only the cases of shard 'K/N' (the plan itself when shard is None)."""
    return plan if shard is None else dataclasses.replace(plan, cases=select_shard(plan.cases, shard))


def _case_ids(doc: dict) -> set[str]:
    ids = {b["extra_info"]["case_id"] for b in doc["benchmarks"]}
    return ids | {r["case_id"] for r in doc.get("tradeoff_bench", {}).get("not_measured", [])}


def read_part(path) -> dict:
    """A part's JSON document, validated as a results file (through load_run; finite numbers only)."""
    from suite.fileio import read_bytes_capped
    from suite.results import load_run, strict_json

    load_run(path)  # raises ConfigError naming the file when it is not a readable results document
    return strict_json(read_bytes_capped(path, what="a results file").decode("utf-8"))


def merge_documents(parts: list[tuple[str, dict]], force: bool = False) -> dict:
    """One results document from (path, document) parts of the same plan, environment and procedure.

    Refuses parts whose plans or environment fingerprints differ, or that share a case; and parts
    measured by different procedures unless `force`.
    """
    from suite.procedure import procedure_difference, run_procedure

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
            from suite.compare import environment_difference

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
    merged = dict(first)
    merged["benchmarks"] = [b for _, doc in parts for b in doc["benchmarks"]]
    merged["tradeoff_bench"] = {**first.get("tradeoff_bench", {}),
                                "not_measured": [r for _, doc in parts
                                                 for r in doc.get("tradeoff_bench", {}).get("not_measured", [])]}
    return merged
