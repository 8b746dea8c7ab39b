"""The run history: an SQLite database of runs, their per-case metrics and raw samples. Imports no torch.

    runs     one row per added run: commit, time, environment fingerprint, plan, content digest (the same run
             reformatted is the same run: the digest covers commit, time, plan, fingerprint and cases, not bytes)
    cases    status, reason and fields of each case of a run
    metrics  every numeric metric of each case of a run
    samples  the raw seconds per call of each group (train, infer, accuracy) of each case of a run

`rolling_baseline` is what `history check` compares against: per case, the median of each metric
over the last N runs on the same fingerprint, with the raw samples of those runs pooled.

Whatever is read back is checked as a results file is (finite numbers, objects where objects belong), and
any SQLite failure, another application's database included, is a ConfigError naming the file.

Change points use the `ruptures` package's PELT (Killick, Fearnhead & Eckley 2012, "Optimal detection
of changepoints with a linear computational cost", JASA 107:500) with an L2 cost on the series
standardized by a robust noise estimate, and the penalty 2 log n (the SIC/BIC penalty that paper uses).
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from suite.compare import Entry
from suite.errors import ConfigError, shown
from suite.fileio import ensure_dir
from suite.results import STATUSES, finite_number, strict_json

DEFAULT_DB = "reports/history.sqlite"
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, digest TEXT UNIQUE NOT NULL, commit_id TEXT, run_time TEXT, added_at TEXT,
    fingerprint TEXT NOT NULL, plan TEXT, machine_info TEXT, source TEXT);
CREATE TABLE IF NOT EXISTS cases (
    run_id INTEGER NOT NULL REFERENCES runs(id), case_id TEXT NOT NULL, status TEXT, reason TEXT, fields TEXT,
    PRIMARY KEY (run_id, case_id));
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL, case_id TEXT NOT NULL, metric TEXT NOT NULL, value REAL,
    PRIMARY KEY (run_id, case_id, metric));
CREATE TABLE IF NOT EXISTS samples (
    run_id INTEGER NOT NULL, case_id TEXT NOT NULL, grp TEXT NOT NULL, seconds TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id, grp));
"""
# Median absolute deviation to standard deviation for normal noise: 1 / Phi^-1(3/4) (Rousseeuw & Croux 1993).
MAD_TO_SIGMA = 1.4826


class HistoryConnection(sqlite3.Connection):
    """A connection whose `with` block also turns any SQLite failure into a ConfigError naming the file."""

    path = "history"

    def __exit__(self, exc_type, exc, tb):
        handled = super().__exit__(exc_type, exc, tb)
        if isinstance(exc, sqlite3.Error):
            raise ConfigError(f"{self.path}: history database failed ({exc})") from None
        return handled


def open_history(path) -> HistoryConnection:
    """Open (creating if needed) a history database; anything that is not one raises ConfigError."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, expected a history database file")
    ensure_dir(path.parent)
    try:
        conn = sqlite3.connect(path, factory=HistoryConnection)
        conn.path = str(path)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise ConfigError(f"{path}: history schema version {shown(version)}, this suite reads {SCHEMA_VERSION}")
        conn.executescript(SCHEMA)
        _check_tables(conn, path)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.Error as exc:
        raise ConfigError(f"{path}: not a history database ({exc})") from None
    return conn


COLUMNS = {"runs": ("id", "digest", "commit_id", "run_time", "added_at", "fingerprint", "plan", "machine_info",
                    "source"),
           "cases": ("run_id", "case_id", "status", "reason", "fields"),
           "metrics": ("run_id", "case_id", "metric", "value"),
           "samples": ("run_id", "case_id", "grp", "seconds")}  # as SCHEMA creates them


def _check_tables(conn: sqlite3.Connection, path) -> None:
    """Refuse a database whose tables lack our columns: another application's file with a `runs` table."""
    for table, columns in COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        missing = [c for c in columns if c not in present]
        if missing:
            raise ConfigError(f"{path}: not a tradeoff-bench history (table {table} has no column {missing[0]})")


def run_digest(run) -> str:
    """SHA-256 of a run's content: commit, time, plan, environment fingerprint and every case (status, reason,
    fields, metrics, raw samples). The same run reformatted or with its keys reordered is added once."""
    content = {"commit": run.commit_info.get("id"), "datetime": run.datetime, "plan": run.plan,
               "fingerprint": (run.machine_info.get("tradeoff_bench") or {}).get("fingerprint"),
               "cases": sorted([c.case_id, c.status, c.reason, c.case, c.metrics, c.samples] for c in run.cases)}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def file_digest(path) -> str:
    """The content digest (run_digest) of a results file: the same run is added once, however formatted."""
    from suite.results import load_run

    return run_digest(load_run(path))


def run_fingerprint(run) -> str:
    """The environment fingerprint of a loaded Run; ConfigError when it has none."""
    value = (run.machine_info.get("tradeoff_bench") or {}).get("fingerprint")
    if not value:
        raise ConfigError(f"{run.path}: no environment fingerprint (machine_info.tradeoff_bench.fingerprint)")
    return value


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def add_run(conn: sqlite3.Connection, run, digest: str) -> int:
    """Store a loaded Run; returns its id. The same file twice raises ConfigError."""
    known = conn.execute("SELECT id FROM runs WHERE digest = ?", (digest,)).fetchone()
    if known:
        raise ConfigError(f"{run.path}: already in the history as run {known[0]}")
    with conn:
        cursor = conn.execute(
            "INSERT INTO runs (digest, commit_id, run_time, added_at, fingerprint, plan, machine_info, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (digest, run.commit_info.get("id") or "unknown", run.datetime, datetime.now(timezone.utc).isoformat(),
             run_fingerprint(run), run.plan, json.dumps(run.machine_info), Path(run.path).name))
        run_id = cursor.lastrowid
        for case in run.cases:
            conn.execute("INSERT INTO cases VALUES (?, ?, ?, ?, ?)",
                         (run_id, case.case_id, case.status, case.reason, json.dumps(case.case)))
            conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)",
                             [(run_id, case.case_id, k, float(v)) for k, v in case.metrics.items() if _numeric(v)])
            conn.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)",
                             [(run_id, case.case_id, g, json.dumps(s)) for g, s in case.samples.items()])
    return run_id


def recent_runs(conn: sqlite3.Connection, limit: int | None = None, fingerprint: str | None = None,
                exclude_digest: str | None = None) -> list[dict]:
    """The newest runs first (by run time, then insertion), optionally of one fingerprint only."""
    query = ("SELECT r.id, r.commit_id, r.run_time, r.fingerprint, r.plan, r.digest, COUNT(c.case_id) "
             "FROM runs r LEFT JOIN cases c ON c.run_id = r.id WHERE (? IS NULL OR r.fingerprint = ?) "
             "AND (? IS NULL OR r.digest != ?) GROUP BY r.id ORDER BY r.run_time DESC, r.id DESC")
    rows = conn.execute(query + (" LIMIT ?" if limit else ""),
                        (fingerprint, fingerprint, exclude_digest, exclude_digest, *([limit] if limit else [])))
    keys = ("id", "commit", "time", "fingerprint", "plan", "digest", "cases")
    return [dict(zip(keys, _texts(conn, row, f"run {shown(row[0])}", keys[1:6]))) for row in rows]


def rolling_baseline(conn: sqlite3.Connection, run_ids: list[int]) -> dict[str, Entry]:
    """Per case of the given runs: the median of each metric, the runs' values, and the pooled samples.

    Status and fields come from the newest run (the first id) that has the case.
    """
    marks = ",".join("?" * len(run_ids))
    order = {run_id: index for index, run_id in enumerate(run_ids)}
    entries: dict[str, Entry] = {}
    cases = conn.execute(f"SELECT run_id, case_id, status, fields FROM cases WHERE run_id IN ({marks})", run_ids)
    for run_id, case_id, status, fields in sorted(cases, key=lambda row: order[row[0]]):
        where = f"run {run_id} case {shown(case_id)}"
        if status not in STATUSES:
            raise _corrupt(conn, where, f"status {shown(status)}; valid: {', '.join(STATUSES)}")
        entries.setdefault(case_id, Entry(case_id, _json(conn, fields, where, dict), status, {}))
    for run_id, case_id, metric, value in conn.execute(
            f"SELECT run_id, case_id, metric, value FROM metrics WHERE run_id IN ({marks}) ORDER BY run_id", run_ids):
        if case_id in entries:  # rows of no stored case belong to nothing that could be compared
            entries[case_id].run_values.setdefault(metric, []).append(
                _number(conn, value, f"run {run_id} case {shown(case_id)} metric {shown(metric)}"))
    for run_id, case_id, group, seconds in conn.execute(
            f"SELECT run_id, case_id, grp, seconds FROM samples WHERE run_id IN ({marks}) ORDER BY run_id", run_ids):
        if case_id in entries:
            where = f"run {run_id} case {shown(case_id)} samples {shown(group)}"
            values = _json(conn, seconds, where, list)
            entries[case_id].samples.setdefault(group, []).extend(_number(conn, v, where) for v in values)
    for entry in entries.values():
        entry.metrics = {metric: float(np.median(values)) for metric, values in entry.run_values.items()}
    return entries


def series(conn: sqlite3.Connection, metric: str, fingerprint: str, case_id: str | None = None) -> dict:
    """case id -> [(run id, run time, value)] of one metric on one fingerprint, oldest first."""
    rows = conn.execute(
        "SELECT m.case_id, r.id, r.run_time, m.value FROM metrics m JOIN runs r ON r.id = m.run_id "
        "WHERE m.metric = ? AND r.fingerprint = ? AND (? IS NULL OR m.case_id = ?) ORDER BY r.run_time, r.id",
        (metric, fingerprint, case_id, case_id))
    out: dict[str, list] = {}
    for case, run_id, when, value in rows:
        if not isinstance(case, str) or not isinstance(when, str):
            raise _corrupt(conn, f"run {run_id}", f"case id and run time must be text, got {shown((case, when))}")
        out.setdefault(case, []).append((run_id, when, _number(conn, value, f"run {run_id} case {shown(case)} "
                                                                           f"metric {shown(metric)}")))
    return out


def _corrupt(conn, where: str, problem: str) -> ConfigError:
    """The one-line error for a value read back from a history database that no tradeoff-bench run stores."""
    return ConfigError(f"{getattr(conn, 'path', 'history')}: {where}: {problem} (not written by tradeoff-bench?)")


def _number(conn, value, where: str) -> float:
    if not finite_number(value):
        raise _corrupt(conn, where, f"must be a finite number, got {shown(value)}")
    return float(value)


def _json(conn, text, where: str, kind: type):
    try:
        value = strict_json(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, kind):
        raise _corrupt(conn, where, f"must be a JSON {'object' if kind is dict else 'list'}, got {shown(text)}")
    return value


def _texts(conn, row, where: str, names) -> tuple:
    """A runs row, its text columns (`names`, after the id) checked."""
    for name, value in zip(names, row[1:]):
        if not isinstance(value, str):
            raise _corrupt(conn, where, f"{name} must be text, got {shown(value)}")
    return row


def machine_info_of(conn, run_id: int) -> dict:
    """The stored machine_info of a run."""
    row = conn.execute("SELECT machine_info FROM runs WHERE id = ?", (run_id,)).fetchone()
    return _json(conn, row[0] if row else None, f"run {run_id} machine_info", dict)


def change_points(values, min_size: int = 2) -> list[int]:
    """Indices at which a new level starts in a series (ruptures' PELT; see the module docstring)."""
    import ruptures

    signal = np.asarray(values, dtype=float)
    if signal.size < 2 * min_size:
        return []
    # Noise level from successive differences, robust to the level shifts being looked for.
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(np.diff(signal) - np.median(np.diff(signal))))) / math.sqrt(2)
    if sigma == 0:
        sigma = float(np.std(signal)) or 1.0
    standardized = (signal - np.median(signal)) / sigma
    breaks = ruptures.Pelt(model="l2", min_size=min_size, jump=1).fit(standardized).predict(
        pen=2 * math.log(signal.size))
    return [b for b in breaks if b < signal.size]
