"""The run journal `DIR/cases.jsonl`: one JSON line per finished case, appended, flushed and fsynced
as soon as the case finishes, so that an interrupted run loses at most the case in flight.

The first line is a header naming what the journal belongs to; `--resume` refuses a journal whose
plan or environment fingerprint differs from the run it would continue:

    {"journal": "tradeoff-bench cases", "schema_version": 1, "plan": "quick", "plan_source": "quick",
     "sets": ["epochs=1"], "fingerprint": "3f2a9c0d1b7e"}
    {"case_id": "...", "case": {...}, "status": "ok", "reason": "", "metrics": {...}, "samples": {...}}

A SIGKILL in the middle of an append leaves a last line without its newline: reading drops it (that
case was in flight) and `open_journal(..., resume=True)` cuts it off before appending. Imports no torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from suite.errors import ConfigError
from suite.results import STATUSES, CaseResult

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
            raise ConfigError(f"{self.path}: recorded for plan {recorded[0]!r} with environment fingerprint "
                              f"{recorded[1]!r}, this run is plan {plan!r} with fingerprint {fingerprint!r}; "
                              f"resume on the machine and settings that started it, or use another --out")
        stray = sorted(set(self.results) - set(case_ids))
        if stray:
            raise ConfigError(f"{self.path}: case {stray[0]!r} is recorded but not in plan {plan!r} "
                              f"(plan or --set changed since); use another --out")


def header_record(plan: str, plan_source: str, sets: list[str], fingerprint: str) -> dict:
    """The journal's first line."""
    return {"journal": JOURNAL_KIND, "schema_version": JOURNAL_VERSION, "plan": plan, "plan_source": plan_source,
            "sets": list(sets), "fingerprint": fingerprint}


def case_record(result: CaseResult) -> dict:
    """One finished case as a journal line."""
    return {"case_id": result.case_id, "case": result.case, "status": result.status, "reason": result.reason,
            "metrics": result.metrics, "samples": result.samples}


def read_journal(path: Path) -> Journal:
    """Read a journal; a torn last line is dropped, anything else malformed raises ConfigError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no journal to resume (run without --resume first)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    complete = data[: data.rfind(b"\n") + 1]
    lines = complete.decode("utf-8", errors="replace").splitlines()
    if not lines:
        raise ConfigError(f"{path}: empty journal, nothing to resume (run without --resume)")
    header = _header(path, _parse(path, 1, lines[0]))
    journal = Journal(path, header, good_bytes=len(complete))
    for number, line in enumerate(lines[1:], 2):
        result = _case(path, number, _parse(path, number, line))
        journal.results.setdefault(result.case_id, result)
    return journal


def _parse(path: Path, number: int, line: str) -> dict:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
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


def _case(path: Path, number: int, record: dict) -> CaseResult:
    where = f"{path}: line {number}"
    if not isinstance(record.get("case_id"), str):
        raise ConfigError(f"{where} field 'case_id' must be a string")
    if record.get("status") not in STATUSES:
        raise ConfigError(f"{where} field 'status' {record.get('status')!r}; valid: {', '.join(STATUSES)}")
    for key in ("case", "metrics", "samples"):
        if not isinstance(record.get(key), dict):
            raise ConfigError(f"{where} field {key!r} must be an object")
    for group, seconds in record["samples"].items():
        if not isinstance(seconds, list) or not all(_is_number(v) for v in seconds):
            raise ConfigError(f"{where} field 'samples.{group}' must be a list of numbers")
    return CaseResult(record["case_id"], record["case"], record["status"], str(record.get("reason", "")),
                      record["metrics"], record["samples"])


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class JournalWriter:
    """Appends case lines to a journal, each flushed and fsynced before `append` returns."""

    def __init__(self, path: Path, header: dict, resume_from: Journal | None = None):
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume_from is None:
            self._handle = open(path, "wb")
            self._write(header)
        else:
            self._handle = open(path, "r+b")
            self._handle.truncate(resume_from.good_bytes)  # cut a line torn by a SIGKILL
            self._handle.seek(resume_from.good_bytes)

    def append(self, result: CaseResult) -> None:
        """Record one finished case durably."""
        self._write(case_record(result))

    def _write(self, record: dict) -> None:
        self._handle.write((json.dumps(record, allow_nan=False) + "\n").encode("utf-8"))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file."""
        self._handle.close()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
