"""The run journal `DIR/cases.jsonl`: one JSON line per finished case, appended, flushed and fsynced
as soon as the case finishes, so that an interrupted run loses at most the case in flight.

The first line is a header naming what the journal belongs to; `--resume` refuses a journal whose
plan or environment fingerprint differs from the run it would continue:

    {"journal": "tradeoff-bench cases", "schema_version": 1, "plan": "quick", "plan_source": "quick",
     "sets": ["epochs=1"], "fingerprint": "3f2a9c0d1b7e"}
    {"case_id": "...", "case": {...}, "status": "ok", "reason": "", "metrics": {...}, "samples": {...}}

A SIGKILL in the middle of an append leaves a last line without its newline: reading drops it (that
case was in flight) and `open_journal(..., resume=True)` cuts it off before appending. A failed append (a
full disk) is cut off the same way at once, and raises JournalWriteError: the lines before it stay
readable, and `--resume` continues once there is space. Every line is validated as strictly as a results
file (finite numbers only). Imports no torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from suite.plumbing.errors import ConfigError, shown
from suite.plumbing.fileio import os_problem, read_bytes_capped
from suite.results.schema import (
    STATUSES,
    CaseResult,
    case_fields,
    finite_number,
    metric_problem,
    node_fields,
    strict_json,
)

JOURNAL_NAME = "cases.jsonl"
JOURNAL_KIND = "tradeoff-bench cases"
JOURNAL_VERSION = 1
HEADER_KEYS = ("plan", "plan_source", "sets", "fingerprint")


@dataclass
class Journal:
    """A journal read back: its header and the finished cases in the order they were recorded."""

    path: Path
    header: dict
    results: dict[str, CaseResult] = field(default_factory=dict)
    good_bytes: int = 0  # length of the complete lines; a torn last line starts here

    def check_resumable(self, plan: str, fingerprint: str, case_ids) -> None:
        """Refuse to continue a journal of another plan, another environment, or other cases."""
        recorded = (self.header["plan"], self.header["fingerprint"])
        if recorded != (plan, fingerprint):
            raise ConfigError(f"{self.path}: recorded for plan {shown(recorded[0])} with environment fingerprint "
                              f"{shown(recorded[1])}, this run is plan {plan!r} with fingerprint {fingerprint!r}; "
                              f"resume on the machine and settings that started it, or use another --out")
        stray = sorted(set(self.results) - set(case_ids))
        if stray:
            raise ConfigError(f"{self.path}: case {shown(stray[0], 120)} is recorded but not in plan {plan!r} "
                              f"(plan or --set changed since); use another --out")


def header_record(plan: str, plan_source: str, sets: list[str], fingerprint: str) -> dict:
    """The journal's first line."""
    return {"journal": JOURNAL_KIND, "schema_version": JOURNAL_VERSION, "plan": plan, "plan_source": plan_source,
            "sets": list(sets), "fingerprint": fingerprint}


def case_record(result: CaseResult) -> dict:
    """One finished case as a journal line."""
    return {"case_id": result.case_id, "case": result.case, "status": result.status, "reason": result.reason,
            "metrics": result.metrics, "samples": result.samples, **({"node": result.node} if result.node else {})}


def read_journal(path: Path) -> Journal:
    """Read a journal; a torn last line is dropped, anything else malformed raises ConfigError."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no journal to resume (run without --resume first)")
    data = read_bytes_capped(path, what="a journal")
    complete = data[: data.rfind(b"\n") + 1]
    lines = complete.decode("utf-8", errors="replace").splitlines()
    if not lines:
        raise ConfigError(f"{path}: empty journal, nothing to resume (run without --resume)")
    header = _header(path, _parse(path, 1, lines[0]))
    journal = Journal(path, header, good_bytes=len(complete))
    for number, line in enumerate(lines[1:], 2):
        result = _case(f"{path}: line {number}", _parse(path, number, line))
        journal.results.setdefault(result.case_id, result)
    return journal


def _parse(path: Path, number: int, line: str) -> dict:
    try:
        record = strict_json(line)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: line {number} is not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{path}: line {number} must be a JSON object")
    return record


def _header(path: Path, record: dict) -> dict:
    if record.get("journal") != JOURNAL_KIND or record.get("schema_version") != JOURNAL_VERSION:
        raise ConfigError(f"{path}: line 1 is not a tradeoff-bench journal header of schema_version "
                          f"{JOURNAL_VERSION}")
    for key in HEADER_KEYS:
        expected = list if key == "sets" else str
        if not isinstance(record.get(key), expected):
            raise ConfigError(f"{path}: line 1 field {key!r} must be a {expected.__name__}")
    if not all(isinstance(s, str) for s in record["sets"]):
        raise ConfigError(f"{path}: line 1 field 'sets' must be a list of strings")
    return record


def _case(where: str, record: dict) -> CaseResult:
    """A case line as a CaseResult, validated as strictly as a results file; `where` names file and line."""
    if not isinstance(record.get("case_id"), str):
        raise ConfigError(f"{where}: field 'case_id' must be a string")
    if record.get("status") not in STATUSES:
        raise ConfigError(f"{where}: field 'status' {shown(record.get('status'))}; valid: {', '.join(STATUSES)}")
    for key in ("case", "metrics", "samples"):
        if not isinstance(record.get(key), dict):
            raise ConfigError(f"{where}: field {key!r} must be an object")
    if not isinstance(record.get("reason", ""), str):
        raise ConfigError(f"{where}: field 'reason' must be a string, got {shown(record['reason'])}")
    case_fields(where, record, "field")
    problem = metric_problem(record["metrics"])
    if problem:
        raise ConfigError(f"{where}: case {shown(record['case_id'], 120)}: field metrics.{problem}")
    for group, seconds in record["samples"].items():
        if not isinstance(seconds, list) or not all(finite_number(v) for v in seconds):
            raise ConfigError(f"{where}: field 'samples.{group}' must be a list of finite numbers")
    return CaseResult(record["case_id"], record["case"], record["status"], record.get("reason", ""),
                      record["metrics"], record["samples"], node_fields(where, record, "field"))


def set_aside(path: Path) -> Path | None:
    """Rename an existing journal to cases.<UTC time>.jsonl beside it (a fresh run never destroys recorded
    cases); returns the new path, None when there was no journal."""
    if not path.exists():
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target, n = path.with_name(f"{path.stem}.{stamp}{path.suffix}"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.stem}.{stamp}-{n}{path.suffix}")
    try:
        path.rename(target)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot move the previous journal aside ({os_problem(exc)})") from None
    return target


class JournalWriteError(ConfigError):
    """An append that did not reach the disk (a full or failing disk); the journal is cut back to its
    last complete line, so every case recorded before stays readable and resumable."""


class JournalWriter:
    """Appends case lines to a journal, each written and fsynced before `append` returns."""

    def __init__(self, path: Path, header: dict, resume_from: Journal | None = None):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # unbuffered: a failed write leaves nothing in a buffer for a later flush to add behind the cut
            self._handle = open(path, "xb" if resume_from is None else "r+b", buffering=0)  # "x": never over one
            self._good = resume_from.good_bytes if resume_from else 0
        except OSError as exc:
            raise ConfigError(f"{path}: cannot open the journal ({os_problem(exc)})") from None
        if resume_from is None:
            self._write(json.dumps(header) + "\n", "its header")
        else:
            self._handle.truncate(self._good)  # cut a line torn by a SIGKILL
            self._handle.seek(self._good)

    def append(self, result: CaseResult) -> CaseResult:
        """Record one finished case durably; returns what was recorded. A result that JSON cannot hold (a
        non-finite metric, say) is recorded as an `error` of its case with the reason, never lost silently."""
        problem = metric_problem(result.metrics)
        try:
            if problem:
                raise ValueError(f"metrics.{problem}")
            _case("the result", case_record(result))  # what could not be read back is not written either
            line = json.dumps(case_record(result), allow_nan=False)
        except (ValueError, TypeError, RecursionError) as exc:
            detail = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
            result = CaseResult(result.case_id, result.case, "error", f"result could not be journaled: {detail}",
                                node=result.node)
            line = json.dumps(case_record(result), allow_nan=False)
        self._write(line + "\n", f"case {result.case_id}")
        return result

    def _write(self, line: str, what: str) -> None:
        data = memoryview(line.encode("utf-8"))
        try:
            while data:
                data = data[self._handle.write(data):]
            os.fsync(self._handle.fileno())
        except OSError as exc:
            self._cut_back()
            raise JournalWriteError(f"{self.path}: cannot record {what} ({os_problem(exc)})") from None
        self._good = self._handle.tell()

    def _cut_back(self) -> None:
        """Drop the part of a failed line that reached the file (shrinking a file needs no free space)."""
        try:
            self._handle.truncate(self._good)
            self._handle.seek(self._good)
        except (OSError, ValueError):  # the next run's read drops a torn last line anyway
            pass

    def close(self) -> None:
        """Close the file (a failed flush has nothing left to lose: every append was flushed already)."""
        try:
            self._handle.close()
        except OSError:
            pass

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
