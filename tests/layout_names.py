"""What a run emits, as names only: the metric names per results group (a `_reason` key counted as its metric,
so a figure that one machine measures and another explains compares equal) and the report's section titles.
tests/test_layout.py holds them against tests/golden/quick_names.json, recorded before the code was laid out
anew; update that file on purpose only."""

from __future__ import annotations

import json
from pathlib import Path

NOT_METRICS = {"case", "case_id", "node", "plan", "status", "reason", "history", "finetune_history"}


def emitted_names(results: Path, report: Path) -> dict:
    """{"metrics": {group: sorted names}, "sections": report headings in order} of one run's files."""
    groups: dict[str, set] = {}
    for bench in json.loads(Path(results).read_text())["benchmarks"]:
        names = groups.setdefault(bench["group"], set())
        for key in bench["extra_info"]:
            if key not in NOT_METRICS:
                names.add(key.removesuffix("_reason"))
    sections = [line.lstrip("#").strip() for line in Path(report).read_text().splitlines() if line.startswith("## ")]
    return {"metrics": {group: sorted(names) for group, names in sorted(groups.items())}, "sections": sections}
