"""The run history: an SQLite database of runs, their per-case metrics and raw samples. Imports no torch.

    runs      one row per added run: commit, time, environment fingerprint, measurement procedure, plan,
              content digest (the same run reformatted is the same run: the digest covers commit, time,
              plan, fingerprint and cases, not bytes), and when it was accepted (`history accept`)
    cases     status, reason and fields of each case of a run, and the fingerprint of the node that measured
              it (null before it was recorded; the column is added to older databases when opened)
    metrics   every numeric metric of each case of a run
    samples   the raw seconds per call of each group (train, infer, accuracy) of each case of a run
    verdicts  the gate's verdict on each case and metric when the run was added (suite/results/gate.py)

`baseline_entries` is what `history check` compares against: per case, the per-run values of the last N
runs on the same fingerprint and procedure whose verdict for that case was not a regression (unless
accepted), and where the case recorded its node, measured on the same node fingerprint as the checked
run's. Schema 1 databases are upgraded in place; their runs have no procedure, so checks re-baseline on
new runs.

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

from suite.plumbing.errors import ConfigError, shown
from suite.plumbing.fileio import ensure_dir
from suite.procedure import NOT_A_DIFFERENCE, run_procedure
from suite.results.compare import Entry, robust_log_spread
from suite.results.schema import STATUSES, finite_number, load_run, strict_json

DEFAULT_DB = "reports/history.sqlite"
SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, digest TEXT UNIQUE NOT NULL, commit_id TEXT, run_time TEXT, added_at TEXT,
    fingerprint TEXT NOT NULL, plan TEXT, machine_info TEXT, source TEXT, procedure TEXT, accepted_at TEXT);
CREATE TABLE IF NOT EXISTS verdicts (
    run_id INTEGER NOT NULL, case_id TEXT NOT NULL, metric TEXT NOT NULL, verdict TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id, metric));
CREATE TABLE IF NOT EXISTS cases (
    run_id INTEGER NOT NULL REFERENCES runs(id), case_id TEXT NOT NULL, status TEXT, reason TEXT, fields TEXT,
    node_fingerprint TEXT, PRIMARY KEY (run_id, case_id));
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


def baseline_median(values) -> float:
    """The baseline level of a metric over earlier runs: their median (the mean of the middle two for an even
    count). `history check` and `history show` both use it, so "the median of the runs before" means one thing."""
    return float(np.median(np.asarray(values, dtype=float)))


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
        if version not in (0, 1, SCHEMA_VERSION):
            raise ConfigError(f"{path}: history schema version {shown(version)}, this suite reads {SCHEMA_VERSION}")
        if version == 1:  # schema 1 had neither the procedure nor acceptance
            conn.executescript("ALTER TABLE runs ADD COLUMN procedure TEXT; "
                               "ALTER TABLE runs ADD COLUMN accepted_at TEXT;")
        conn.executescript(SCHEMA)
        _check_tables(conn, path)
        if "node_fingerprint" not in {row[1] for row in conn.execute("PRAGMA table_info(cases)")}:
            conn.execute("ALTER TABLE cases ADD COLUMN node_fingerprint TEXT")  # the fingerprint that measured it
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
    return run_digest(load_run(path))


def run_fingerprint(run) -> str:
    """The environment fingerprint of a loaded Run; ConfigError when it has none."""
    value = (run.machine_info.get("tradeoff_bench") or {}).get("fingerprint")
    if not value:
        raise ConfigError(f"{run.path}: no environment fingerprint (machine_info.tradeoff_bench.fingerprint)")
    return value


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def procedure_key(machine_info: dict) -> str:
    """The run's measurement procedure as a comparable string (front end and executor left out), or ""
    for a file that records none."""
    block = run_procedure(machine_info)
    if block is None:
        return ""
    return json.dumps({k: v for k, v in block.items() if k not in NOT_A_DIFFERENCE}, sort_keys=True)


def known_run(conn: sqlite3.Connection, digest: str) -> int | None:
    """The id of the run stored from a file with this digest, if any."""
    row = conn.execute("SELECT id FROM runs WHERE digest = ?", (digest,)).fetchone()
    return row[0] if row else None


def add_run(conn: sqlite3.Connection, run, digest: str, verdicts: dict | None = None) -> int:
    """Store a loaded Run with the gate's verdicts ({(case, metric): verdict}); returns its id. The same
    file twice raises ConfigError."""
    known = known_run(conn, digest)
    if known:
        raise ConfigError(f"{run.path}: already in the history as run {known}")
    with conn:
        cursor = conn.execute(
            "INSERT INTO runs (digest, commit_id, run_time, added_at, fingerprint, plan, machine_info, source, "
            "procedure) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (digest, run.commit_info.get("id") or "unknown", run.datetime, datetime.now(timezone.utc).isoformat(),
             run_fingerprint(run), run.plan, json.dumps(run.machine_info), Path(run.path).name,
             procedure_key(run.machine_info)))
        run_id = cursor.lastrowid
        conn.executemany("INSERT INTO verdicts VALUES (?, ?, ?, ?)",
                         [(run_id, case, metric, verdict) for (case, metric), verdict in (verdicts or {}).items()])
        for case in run.cases:
            conn.execute("INSERT INTO cases (run_id, case_id, status, reason, fields, node_fingerprint) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (run_id, case.case_id, case.status, case.reason,
                                                       json.dumps(case.case), case.node.get("fingerprint")))
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


FLAGGED = ("suspect", "regressed")  # verdicts that keep a run's case out of later baselines until accepted


def comparable_runs(conn: sqlite3.Connection, fingerprint: str, procedure: str, exclude_digest: str | None = None,
                    before_id: int | None = None) -> list[dict]:
    """Runs on this fingerprint and procedure, newest first, with their acceptance."""
    rows = conn.execute(
        "SELECT id, accepted_at FROM runs WHERE fingerprint = ? AND COALESCE(procedure, '') = ? "
        "AND (? IS NULL OR digest != ?) AND (? IS NULL OR id < ?) ORDER BY run_time DESC, id DESC",
        (fingerprint, procedure, exclude_digest, exclude_digest, before_id, before_id))
    return [{"id": run_id, "accepted": accepted is not None} for run_id, accepted in rows]


def flagged_cases(conn: sqlite3.Connection, run_id: int, verdicts=FLAGGED) -> dict[str, set[str]]:
    """case id -> the metrics the gate flagged (suspect or regressed, or the given verdicts) when the run was
    added."""
    flagged: dict[str, set[str]] = {}
    for case_id, metric in conn.execute(
            f"SELECT case_id, metric FROM verdicts WHERE run_id = ? AND verdict IN ({','.join('?' * len(verdicts))})",
            (run_id, *verdicts)):
        flagged.setdefault(case_id, set()).add(metric)
    return flagged


def baseline_entries(conn: sqlite3.Connection, runs: list[dict], last: int,
                     fingerprints: dict | None = None) -> tuple[dict[str, Entry], list[int]]:
    """Per case: its values in the newest `last` of `runs` (newest first) whose verdict for the case was
    not a regression, or was accepted; an accepted run that flagged the case is the oldest one used (the new
    level starts there). A `suspect` run is left out while unconfirmed (the newest run) or once the run after
    it confirmed it (`regressed`); a suspicion the next run did not confirm was noise, and its run rejoins
    the baseline so that the spread counts it. The baseline's value of a metric is the median of those
    runs' values; raw samples come from the newest of them only (they are never pooled across runs).
    `fingerprints` (case id -> node fingerprint): a case measured on another node fingerprint is left out.
    Returns the entries and the ids of every run used."""
    chosen: dict[str, list[int]] = {}
    closed: set[str] = set()
    newer_regressed: dict[str, set[str]] | None = None  # the verdicts of the run just newer than this one
    for run in runs:
        regressed = flagged_cases(conn, run["id"], ("regressed",))
        suspect = flagged_cases(conn, run["id"], ("suspect",))
        for case_id, node in conn.execute("SELECT case_id, node_fingerprint FROM cases WHERE run_id = ?",
                                          (run["id"],)):
            if node and (fingerprints or {}).get(case_id, node) != node:
                continue
            ids = chosen.setdefault(case_id, [])
            confirmed = newer_regressed is None or case_id in newer_regressed
            flagged = case_id in regressed or (case_id in suspect and confirmed)
            if case_id in closed or len(ids) >= last or (flagged and not run["accepted"]):
                continue
            ids.append(run["id"])
            if flagged:  # accepted: older runs measured the level before the accepted change
                closed.add(case_id)
        newer_regressed = regressed
    entries: dict[str, Entry] = {}
    for case_id, ids in chosen.items():
        if not ids:
            continue
        where = f"run {ids[0]} case {shown(case_id)}"
        status, fields = conn.execute("SELECT status, fields FROM cases WHERE run_id = ? AND case_id = ?",
                                      (ids[0], case_id)).fetchone()
        if status not in STATUSES:
            raise _corrupt(conn, where, f"status {shown(status)}; valid: {', '.join(STATUSES)}")
        entry = Entry(case_id, _json(conn, fields, where, dict), status, {})
        for run_id in ids:
            for metric, value in conn.execute("SELECT metric, value FROM metrics WHERE run_id = ? AND case_id = ?",
                                              (run_id, case_id)):
                entry.run_values.setdefault(metric, []).append(
                    _number(conn, value, f"run {run_id} case {shown(case_id)} metric {shown(metric)}"))
        for group, seconds in conn.execute("SELECT grp, seconds FROM samples WHERE run_id = ? AND case_id = ?",
                                           (ids[0], case_id)):
            where = f"run {ids[0]} case {shown(case_id)} samples {shown(group)}"
            entry.samples[group] = [_number(conn, v, where) for v in _json(conn, seconds, where, list)]
        entry.metrics = {metric: baseline_median(values) for metric, values in entry.run_values.items()}
        entries[case_id] = entry
    return entries, sorted({i for ids in chosen.values() for i in ids})


def accept_run(conn: sqlite3.Connection, run_id: int) -> int:
    """Mark a run accepted: its flagged cases enter baselines again, as the new level. Returns how many
    case verdicts it had flagged."""
    if not conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
        raise ConfigError(f"no run {run_id} in the history (see `tradeoff-bench history show`)")
    with conn:
        conn.execute("UPDATE runs SET accepted_at = ? WHERE id = ?", (datetime.now(timezone.utc).isoformat(), run_id))
    return sum(len(m) for m in flagged_cases(conn, run_id).values())


def last_good_run(conn: sqlite3.Connection, plan: str | None = None) -> dict | None:
    """The newest run (of `plan`, when given) in which the gate flagged nothing, or that was accepted: the commit a
    night's same-job A/B measures tonight's commit against. None when there is none."""
    rows = conn.execute("SELECT id, commit_id, run_time, accepted_at FROM runs WHERE (? IS NULL OR plan = ?) "
                        "ORDER BY run_time DESC, id DESC", (plan, plan)).fetchall()
    for run_id, commit, when, accepted in rows:
        if accepted is not None or not flagged_cases(conn, run_id):
            return {"id": run_id, "commit": commit, "time": when}
    return None


def between_night_spreads(conn: sqlite3.Connection, metric: str, last: int = 10, plan: str | None = None,
                          minimum: int = 3) -> dict[str, float]:
    """case id -> the relative spread of a metric over the newest `last` runs that measured the case, on any
    fingerprint (compare.robust_log_spread: a regressed night among them does not move it); cases with fewer than
    `minimum` runs have none."""
    rows = conn.execute(
        "SELECT m.case_id, m.value FROM metrics m JOIN runs r ON r.id = m.run_id WHERE m.metric = ? "
        "AND (? IS NULL OR r.plan = ?) ORDER BY r.run_time DESC, r.id DESC", (metric, plan, plan))
    values: dict[str, list[float]] = {}
    for case_id, value in rows:
        if finite_number(value) and value > 0 and len(values.setdefault(case_id, [])) < last:
            values[case_id].append(float(value))
    return {case_id: robust_log_spread(runs) for case_id, runs in values.items() if len(runs) >= minimum}


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
