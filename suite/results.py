"""The result schema, and pytest-benchmark JSON in and out. Imports no torch.

A run is a pytest-benchmark JSON document. Each measured case contributes up to three benchmarks,
one per group, whose `stats` are pytest-benchmark's own statistics of what that group times:

    train     seconds per training step          extra_info: train_samples_per_s[_min|_max|_iqr|_rounds]
    infer     seconds per batch-1 forward        extra_info: infer_latency_ms_p50|p90|p99, infer_samples_per_s,
                                                             params, flops_per_sample, train_flops_per_sample
    accuracy  seconds per test-split evaluation  extra_info: test_accuracy, test_loss, train_seconds, history

Every benchmark's extra_info also holds `case` (the Case fields), `case_id`, `plan` and `status`.
Cases that were not measured (skipped, error) sit in the top-level `tradeoff_bench.not_measured`
list with their reason, so nothing is dropped silently.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from suite.errors import ConfigError

SCHEMA_VERSION = 1
GROUPS = {
    "train": "test_train_throughput",
    "infer": "test_infer_latency",
    "accuracy": "test_accuracy",
}
BENCH_FILE = "benchmarks/test_cases.py"
STATUSES = ("ok", "diverged", "skipped", "error")


@dataclass
class CaseResult:
    """What one case produced: its status, metrics and the raw seconds each group timed."""

    case_id: str
    case: dict
    status: str = "ok"
    reason: str = ""
    metrics: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)  # group -> seconds per call, one per round

    def row(self) -> dict:
        """One flat row: case fields, id, status, reason and every metric."""
        return {**self.case, "case_id": self.case_id, "status": self.status, "reason": self.reason,
                **self.metrics}


def benchmark_stats(seconds: list[float]) -> dict:
    """pytest-benchmark's statistics of raw samples, raw data included (its own Stats class)."""
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for value in seconds:
        stats.update(value)
    return {**stats.as_dict(), "data": list(seconds), "iterations": 1}


def benchmark_entry(result: CaseResult, group: str, plan: str, extra: dict, options: dict) -> dict:
    """One pytest-benchmark benchmark record for a group of a case."""
    name = f"{GROUPS[group]}[{result.case_id}]"
    return {
        "group": group, "name": name, "fullname": f"{BENCH_FILE}::{name}",
        "params": {"case_id": result.case_id}, "param": result.case_id,
        "extra_info": {"case": result.case, "case_id": result.case_id, "plan": plan,
                       "status": result.status, **({"reason": result.reason} if result.reason else {}), **extra},
        "options": options, "stats": benchmark_stats(result.samples[group]),
    }


GROUP_KEYS = {
    "train": ("train_samples_per_s",),
    "infer": ("infer_", "params", "flops_per_sample", "train_flops_per_sample"),
    "accuracy": ("test_", "train_seconds", "eval_seconds", "history", "diverged_step", "last_finite_loss"),
}


def group_metrics(metrics: dict, group: str) -> dict:
    """The metrics that belong in a group's extra_info."""
    return {k: v for k, v in metrics.items() if k.startswith(GROUP_KEYS[group])}


def not_measured_record(result: CaseResult) -> dict:
    """The record of a case that produced no benchmark."""
    return {"case_id": result.case_id, "case": result.case, "status": result.status, "reason": result.reason}


def run_document(results: list[CaseResult], plan: str, machine_info: dict, commit_info: dict,
                 options: dict | None = None) -> dict:
    """The whole run as pytest-benchmark JSON (what `--benchmark-json` writes), plus our block."""
    benchmarks, not_measured = [], []
    for result in results:
        groups = [g for g in GROUPS if result.samples.get(g)]
        if not groups:
            not_measured.append(not_measured_record(result))
        for group in groups:
            benchmarks.append(benchmark_entry(result, group, plan, group_metrics(result.metrics, group),
                                              options or {}))
    return {
        "machine_info": machine_info, "commit_info": commit_info, "benchmarks": benchmarks,
        "datetime": datetime.now(timezone.utc).isoformat(), "version": _pytest_benchmark_version(),
        "tradeoff_bench": tradeoff_block(plan, not_measured),
    }


def tradeoff_block(plan: str, not_measured: list[dict]) -> dict:
    """Our top-level block: schema version, plan name, cases without benchmarks."""
    return {"schema_version": SCHEMA_VERSION, "plan": plan, "not_measured": not_measured}


def _pytest_benchmark_version() -> str:
    from pytest_benchmark import __version__

    return __version__


def write_json_atomic(path: Path, document: dict) -> None:
    """Write JSON through a temporary file and a rename: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, allow_nan=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Run:
    """A loaded results file: one CaseResult per case, in file order, and the run's context."""

    path: str
    plan: str
    machine_info: dict
    commit_info: dict
    datetime: str
    cases: list[CaseResult]

    def rows(self) -> list[dict]:
        """One flat dict per case."""
        return [c.row() for c in self.cases]

    def frame(self):
        """The rows as a pandas DataFrame indexed by case id."""
        import pandas as pd

        return pd.DataFrame(self.rows()).set_index("case_id", drop=False)


def _fail(path, problem: str) -> ConfigError:
    return ConfigError(f"{path}: {problem}")


def load_run(path) -> Run:
    """Read a results file written by the suite or by `pytest benchmarks --benchmark-json`.

    Anything that is not such a document raises ConfigError naming the file and the problem.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise _fail(path, f"not valid JSON (truncated?): {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise _fail(path, "not a pytest-benchmark results document (no 'benchmarks' list)")
    block = doc.get("tradeoff_bench", {})
    if not isinstance(block, dict):
        raise _fail(path, "'tradeoff_bench' must be an object")
    version = block.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise _fail(path, f"schema_version {version!r}, this suite reads {SCHEMA_VERSION}")
    cases: dict[str, CaseResult] = {}
    plan = block.get("plan", "")
    for index, bench in enumerate(doc["benchmarks"]):
        _merge_benchmark(path, index, bench, cases)
        plan = plan or bench["extra_info"].get("plan", "")
    for index, record in enumerate(block.get("not_measured", [])):
        if not isinstance(record, dict) or not isinstance(record.get("case_id"), str):
            raise _fail(path, f"tradeoff_bench.not_measured[{index}] needs a string 'case_id'")
        status = record.get("status", "skipped")
        if status not in STATUSES:
            raise _fail(path, f"tradeoff_bench.not_measured[{index}].status {status!r}; valid: {', '.join(STATUSES)}")
        cases.setdefault(record["case_id"], CaseResult(record["case_id"], _dict(path, record, "case"), status,
                                                       str(record.get("reason", ""))))
    return Run(str(path), str(plan), _dict(path, doc, "machine_info"), _dict(path, doc, "commit_info"),
               str(doc.get("datetime", "")), list(cases.values()))


def _dict(path, doc: dict, key: str) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise _fail(path, f"'{key}' must be an object")
    return value


def _merge_benchmark(path, index: int, bench, cases: dict) -> None:
    where = f"benchmarks[{index}]"
    if not isinstance(bench, dict):
        raise _fail(path, f"{where} must be an object")
    extra, group = bench.get("extra_info"), bench.get("group")
    if not isinstance(extra, dict) or not isinstance(extra.get("case_id"), str):
        raise _fail(path, f"{where}.extra_info.case_id is missing (not written by tradeoff-bench?)")
    if group not in GROUPS:
        raise _fail(path, f"{where}.group {group!r}; valid groups: {', '.join(GROUPS)}")
    stats = bench.get("stats")
    if not isinstance(stats, dict) or not isinstance(stats.get("data", []), list):
        raise _fail(path, f"{where}.stats must be an object with a 'data' list")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in stats.get("data", [])):
        raise _fail(path, f"{where}.stats.data must hold numbers")
    status = extra.get("status", "ok")
    if status not in STATUSES:
        raise _fail(path, f"{where}.extra_info.status {status!r}; valid: {', '.join(STATUSES)}")
    case_id = extra["case_id"]
    result = cases.setdefault(case_id, CaseResult(case_id, _dict(path, extra, "case")))
    if status != "ok":
        result.status, result.reason = status, str(extra.get("reason", result.reason))
    reserved = {"case", "case_id", "plan", "status", "reason"}
    result.metrics.update({k: v for k, v in extra.items() if k not in reserved})
    result.samples[group] = stats.get("data", [])
