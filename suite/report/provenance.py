"""Which results files a report directory was rendered from, so `tradeoff-bench report` never silently replaces
a report made from other files (a run's own report in its output directory, say).

The report writes OUT/.report-sources.json: the results files' paths relative to OUT (no machine's absolute path
ends up in a committed example report). A report into a directory that holds a report of other files is refused
unless forced; a directory without the record (an older report) is written as before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from suite.plumbing.errors import ConfigError
from suite.plumbing.fileio import write_text_atomic

SOURCES = ".report-sources.json"


def relative_sources(out, paths) -> list[str]:
    """The results files as POSIX paths relative to OUT."""
    return [Path(os.path.relpath(Path(p).resolve(), Path(out).resolve())).as_posix() for p in paths]


def record_sources(out, paths) -> None:
    """Write OUT/.report-sources.json for the report just rendered there."""
    write_text_atomic(Path(out) / SOURCES, json.dumps({"results": relative_sources(out, paths)}, indent=1) + "\n")


def recorded_sources(out) -> list[str] | None:
    """The results files OUT's report was made from, or None when OUT holds no readable record."""
    try:
        record = json.loads((Path(out) / SOURCES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    results = record.get("results") if isinstance(record, dict) else None
    return results if isinstance(results, list) and all(isinstance(r, str) for r in results) else None


def check_overwrite(out, paths, force: bool) -> None:
    """ConfigError when OUT holds a report made from other results files than `paths`, unless `force`."""
    before = recorded_sources(out)
    if force or before is None or before == relative_sources(out, paths):
        return
    raise ConfigError(f"{out} holds a report made from {', '.join(before)}, not from "
                      f"{', '.join(str(p) for p in paths)}: pick another --out, or pass --force to replace it")
