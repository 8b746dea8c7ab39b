"""Fingerprint groups: a run whose cases were measured on nodes of different environment fingerprints (a Ray
cluster of mixed machines) is reported per group, so no table or plot sets one machine's figures beside
another's. Imports no torch."""

from __future__ import annotations

from suite.report.sections import Section


def fingerprint_groups(run) -> dict[str, list]:
    """Fingerprint -> the run's cases measured there, in file order; a case that records no node (files written
    before nodes were recorded, cases skipped before they ran) belongs to the run's own fingerprint."""
    run_fp = str((run.machine_info.get("tradeoff_bench") or {}).get("fingerprint", "?"))
    groups: dict[str, list] = {}
    for case in run.cases:
        groups.setdefault(str(case.node.get("fingerprint") or run_fp), []).append(case)
    return groups


def groups_section(groups: dict[str, list]) -> Section:
    """One row per fingerprint group: its hosts and its case count."""
    import pandas as pd

    rows = [{"fingerprint": fp, "hosts": ", ".join(sorted({str(c.node.get("host", "?")) for c in cases})),
             "cases": str(len(cases))} for fp, cases in groups.items()]
    return Section("Fingerprint groups", [f"The cases were measured on {len(groups)} environments of different "
                                          "fingerprints; each group is reported on its own below, and compare "
                                          "and history compare a case only with the same fingerprint."],
                   [pd.DataFrame(rows)])
