"""The result schema, and pytest-benchmark JSON in and out. Imports no torch.

A run is a pytest-benchmark JSON document. Each measured case contributes up to three benchmarks,
one per group, whose `stats` are pytest-benchmark's own statistics of what that group times:

    train     seconds per training step          extra_info: train_samples_per_s[_min|_max|_iqr|_rounds],
                                                             train_peak_mem_mb, train_joules_per_sample, train_mfu,
                                                             compile_seconds_cold|warm, scaling_efficiency
    infer     seconds per batch-1 forward        extra_info: infer_latency_ms_p50|p90|p99, infer_samples_per_s,
                                                             params, flops_per_sample, train_flops_per_sample,
                                                             infer_peak_mem_mb, infer_joules_per_sample, infer_mfu,
                                                             infer_compile_seconds_cold|warm, params_sparsity
    accuracy  seconds per test-split evaluation  extra_info: test_accuracy, test_loss, train_seconds, history,
                                                             time_to_target_s, epochs_to_target, accuracy_kept

A language model adds train_tokens_per_s (train), flops_per_token, train_flops_per_token,
attention_flops_per_token, attention_flops_source and nanogpt_train_flops_per_token (infer), val_loss and
bits_per_char (accuracy); a steps budget has steps_to_target (and `epochs` null in the case).
`--measure instructions` (suite/executors/instructions.py) writes only train and infer, with
train_instructions_per_sample
and train_instructions (train), infer_instructions_per_call and infer_instructions (infer); their rounds are the
seconds each counted call took under callgrind.

Every benchmark's extra_info also holds `case` (the Case fields), `case_id`, `plan` and `status`, and
`node`: where the case was measured ({"fingerprint": ..., "host": ..., "process_allocator": ..., ...},
suite/executors/node.py; absent in files written before it was recorded).
A cost figure that cannot be measured on this machine (energy without a readable counter, say) is
absent and `<key>_reason` says why (suite.measure.cost).
Every metric is a finite number or null; only keys ending in `_reason` or `_source` hold text, and only
the flags in FLAG_METRICS hold true/false (load_run refuses anything else, naming file, case and key).
Cases that were not measured (skipped, error) sit in the top-level `tradeoff_bench.not_measured`
list with their reason, so nothing is dropped silently.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from suite.metrics import METRICS, PARAMS
from suite.plumbing.errors import ConfigError, shown
from suite.plumbing.fileio import read_bytes_capped
from suite.results.measurement import legacy_noise_flags

# 2: machine_info.tradeoff_bench records the measurement procedure (suite/procedure.py), the system check
# and every ceiling used; cases record their MFU ceiling. Files of version 1 still load; they compare
# only with each other (their procedure is unknown), so a history is re-baselined by new runs.
# 3: cases may record the node that measured them (`node`: fingerprint, host; suite/executors/node.py),
# batched inference keeps its raw rounds (infer_batch_seconds), parts of a sharded run record `shard` (K/N)
# and a forced merge `missing_shards`, language models add their metrics (val_loss, bits_per_char,
# train_tokens_per_s, ...) and cases their fields (steps, context, heads, ...; `epochs` may be null).
# Files of version 2 load and compare with version 3 (the procedure did not change); their batched inference
# is untested for want of raw samples.
# 4: procedure 3 (1,000 latency calls with infer_latency_ms_max, prepare outside the clock, bounded and cached
# ceilings); new metrics train_e2e_samples_per_s, finetune_history, time_to_target_s_reason and nanoGPT's FLOPs per
# token; machine_info.tradeoff_bench.cpu_isa (in the fingerprint); case fields matmul_precision and fused. Files of
# version 3 still load; their procedure (2) and fingerprints differ, so they compare only with --force.
# 5: case fields allocator, omp_bind, interop_threads (environment levers) and framework (the seed's Keras model);
# a case's node fingerprint describes the machine only (the parent's allocator and default thread count, no longer
# the case's `threads`), and `node` records what the case's process ran with (process_allocator, process_omp_*,
# process_interop_threads). Files of version 4 load and compare with version 5 (the procedure did not change);
# their cases that set `threads` carry node fingerprints of their own, so those pair only within a version.
# 6: each timing keeps its noise flag (`KEY_noisy`, suite/results/measurement.py), batched inference's too. Files
# of version 5 and before load with the flags their IQRs give (training throughput and latency p50, as before).
SCHEMA_VERSION = 6
READABLE_SCHEMAS = (1, 2, 3, 4, 5, 6)
GROUPS = {
    "train": "test_train_throughput",
    "infer": "test_infer_latency",
    "accuracy": "test_accuracy",  # not the metric: the benchmark test's name
}
BENCH_FILE = "benchmarks/test_cases.py"
STATUSES = ("ok", "diverged", "oom", "skipped", "error")


@dataclass
class CaseResult:
    """What one case produced: its status, metrics and the raw seconds each group timed."""

    case_id: str
    case: dict
    status: str = "ok"
    reason: str = ""
    metrics: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)  # group -> seconds per call, one per round
    node: dict = field(default_factory=dict)  # where it was measured: {"fingerprint": ..., "host": ...}

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
        "params": {"case_id": result.case_id}, "param": result.case_id,  # not the metric: pytest-benchmark's
        "extra_info": {"case": result.case, "case_id": result.case_id, "plan": plan,
                       "status": result.status, **({"reason": result.reason} if result.reason else {}),
                       **({"node": result.node} if result.node else {}), **extra},
        "options": options, "stats": benchmark_stats(result.samples[group]),
    }


# The group of a key that no registered metric starts (suite/metrics.py declares the rest), by prefix.
GROUP_KEYS = {
    "train": ("compile_seconds", "scaling_efficiency", "mfu_ceiling", "train_instructions"),
    "infer": ("infer_", PARAMS, "attention_flops", "nanogpt_train_flops", "export_", "runtime_"),
    "accuracy": ("test_", "eval_seconds", "history", "diverged_step", "last_finite_loss", "epochs_to_target",
                 "accuracy_kept", "finetune_history", "accuracy_change_pp"),
}


def group_of(key: str) -> str | None:
    """The group whose extra_info holds a metric key: the registered metric the key starts with (the longest:
    `train_samples_per_s_iqr` is train_samples_per_s's), else GROUP_KEYS; None for a key no group holds."""
    owners = [m for name, m in METRICS.items() if key.startswith(name)]
    if owners:
        return max(owners, key=lambda m: len(m.key)).group
    return next((group for group, prefixes in GROUP_KEYS.items() if key.startswith(prefixes)), None)


def group_metrics(metrics: dict, group: str) -> dict:
    """The metrics that belong in a group's extra_info."""
    return {k: v for k, v in metrics.items() if group_of(k) == group}


def not_measured_record(result: CaseResult) -> dict:
    """The record of a case that produced no benchmark."""
    return {"case_id": result.case_id, "case": result.case, "status": result.status, "reason": result.reason,
            **({"node": result.node} if result.node else {})}


def run_document(results: list[CaseResult], plan: str, machine_info: dict, commit_info: dict,
                 options: dict | None = None, shard: str | None = None) -> dict:
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
        "tradeoff_bench": tradeoff_block(plan, not_measured, shard),
    }


def tradeoff_block(plan: str, not_measured: list[dict], shard: str | None = None) -> dict:
    """Our top-level block: schema version, plan name, cases without benchmarks, and for one part of a sharded
    run its shard, "K/N" (merge checks that all N parts are there)."""
    return {"schema_version": SCHEMA_VERSION, "plan": plan, "not_measured": not_measured,
            **({"shard": shard} if shard else {})}


def _pytest_benchmark_version() -> str:
    from pytest_benchmark import __version__

    return __version__


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
    """The one-line error for a results file: names taken from the file may hold line breaks."""
    one_line = problem.replace("\r", "\\r").replace("\n", "\\n")
    return ConfigError(f"{path}: {one_line}")


_shown = shown


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {shown(text)} is out of range")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def strict_json(text: str):
    """JSON with finite numbers only: NaN, Infinity and overflowing literals such as 1e400 raise ValueError."""
    return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)


def load_run(path) -> Run:
    """Read a results file written by the suite or by `pytest benchmarks --benchmark-json`.

    The file is data only (json, no pickle or eval). Anything that is not such a document, down to a
    metric of the wrong type, raises ConfigError naming the file, the field and what was expected.
    """
    data = read_bytes_capped(path, what="a results file")
    try:
        doc = strict_json(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _fail(path, f"cannot read ({exc})") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an int of over 4,300 digits, deep nesting
        raise _fail(path, f"not valid JSON (truncated?): {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise _fail(path, "not a pytest-benchmark results document (no 'benchmarks' list)")
    block = _dict(path, doc, "tradeoff_bench")
    version = block.get("schema_version", SCHEMA_VERSION)
    if version not in READABLE_SCHEMAS or isinstance(version, bool):
        raise _fail(path, f"schema_version {_shown(version)}, this suite reads {', '.join(map(str, READABLE_SCHEMAS))}")
    cases: dict[str, CaseResult] = {}
    plan = _text(path, block, "plan", "tradeoff_bench.plan")
    for index, bench in enumerate(doc["benchmarks"]):
        _merge_benchmark(path, index, bench, cases)
        plan = plan or _text(path, bench["extra_info"], "plan", f"benchmarks[{index}].extra_info.plan")
    if version < 6:  # no noise flags stored
        for case in cases.values():
            case.metrics.update(legacy_noise_flags(case.metrics))
    not_measured = block.get("not_measured", [])
    if not isinstance(not_measured, list):
        raise _fail(path, "tradeoff_bench.not_measured must be a list")
    for index, record in enumerate(not_measured):
        where = f"tradeoff_bench.not_measured[{index}]"
        if not isinstance(record, dict) or not isinstance(record.get("case_id"), str):
            raise _fail(path, f"{where} needs a string 'case_id'")
        status = _status(path, record, where, "skipped")
        cases.setdefault(record["case_id"], CaseResult(record["case_id"], _case(path, record, where), status,
                                                       _text(path, record, "reason", f"{where}.reason"),
                                                       node=node_fields(path, record, where)))
    machine_info = _dict(path, doc, "machine_info")
    _environment(path, _dict(path, machine_info, "tradeoff_bench", "machine_info.tradeoff_bench"))
    commit_info = _dict(path, doc, "commit_info")
    _text(path, commit_info, "id", "commit_info.id")
    return Run(str(path), plan, machine_info, commit_info, _text(path, doc, "datetime", "datetime"),
               list(cases.values()))


def _dict(path, doc: dict, key: str, where: str = "") -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise _fail(path, f"'{where or key}' must be an object, got {_shown(value)}")
    return value


def _text(path, doc: dict, key: str, where: str) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise _fail(path, f"{where} must be a string, got {_shown(value)}")
    return value


def _status(path, doc: dict, where: str, default: str) -> str:
    status = doc.get("status", default)
    if not isinstance(status, str) or status not in STATUSES:
        raise _fail(path, f"{where}.status {_shown(status)}; valid: {', '.join(STATUSES)}")
    return status


def _is_scalar(value) -> bool:
    """A JSON string, boolean, null, or a number that is finite as a float."""
    if value is None or isinstance(value, (str, bool)):
        return True
    if not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


def _scalars(path, table: dict, where: str) -> dict:
    for key, value in table.items():
        if not _is_scalar(value):
            raise _fail(path, f"{where}.{key} must be a string, boolean, null or finite number, got {_shown(value)}")
    return table


# The fields of suite.cases.Case that every result's case holds, with their JSON types (Case itself imports
# torch; tests/test_hostile_input.py checks that the two agree). Fields added later are optional scalars.
CASE_FIELDS = {"model": "string", "depth": "integer or null", "width": "integer or null", "shared": "boolean or null",
               "optimizer": "string", "lr": "number", "schedule": "string", "weight_decay": "number",
               "batch_size": "integer", "epochs": "integer or null", "dataset": "string", "device": "string",
               "seed": "integer"}
_KINDS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool) and _is_scalar(v),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and _is_scalar(v),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _case(path, doc: dict, where: str) -> dict:
    if not isinstance(doc.get("case"), dict):
        raise _fail(path, f"{where}.case must be an object of case fields, got {_shown(doc.get('case', 'nothing'))}")
    case = _scalars(path, doc["case"], f"{where}.case")
    for name, expected in CASE_FIELDS.items():
        if name not in case or not any(_KINDS[kind](case[name]) for kind in expected.split(" or ")):
            raise _fail(path, f"{where}.case.{name} must be a {expected}, got {_shown(case.get(name, 'nothing'))}")
    return case


def _environment(path, env: dict) -> None:
    """The parts of machine_info.tradeoff_bench that reports read: scalars, or lists/objects of them."""
    where = "machine_info.tradeoff_bench"
    for key, value in env.items():
        if key == "gpus":
            _objects_of_scalars(path, value, f"{where}.gpus")
        elif isinstance(value, dict):
            for name, inner in value.items():
                if not (_is_scalar(inner) or isinstance(inner, dict)):
                    raise _fail(path, f"{where}.{key}.{name} must be a scalar or an object, got {_shown(inner)}")
        elif not _is_scalar(value):
            raise _fail(path, f"{where}.{key} must be a scalar, an object or (gpus) a list, got {_shown(value)}")


def _objects_of_scalars(path, value, where: str) -> None:
    """A list of objects whose values are scalars (GPU descriptions, the per-epoch history)."""
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise _fail(path, f"{where} must be a list of objects, got {_shown(value)}")
    for index, entry in enumerate(value):
        _scalars(path, entry, f"{where}[{index}]")


TEXT_SUFFIXES = ("_reason", "_source", "_key")  # why a figure is absent, where it came from, which ceiling
FLAG_METRICS = ("accuracy_kept_ge_99pct",)  # metrics that are true or false
FLAG_SUFFIXES = ("_noisy",)  # a timing's noise flag (suite/results/measurement.py): true or false
# Raw seconds per call of a timing that has no benchmark group of its own, kept so compare can test it: metric key
# -> the samples group it loads into (batched inference throughput; the `infer` group is batch-1 latency).
RAW_SAMPLES = {"infer_batch_seconds": "infer_batch"}
HISTORY_KEYS = ("history", "finetune_history")  # per-epoch curves: the training run's, a pruned model's fine-tune


def finite_number(value) -> bool:
    """An int or float (not a bool) that is finite as a float."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and _is_scalar(value)


def _label(name: str) -> str:
    """A metric's name for a one-line message: as it is when printable, else its repr (a name holding a newline
    must not break the line)."""
    return name if name.isprintable() else shown(name)


def metric_problem(metrics: dict) -> str | None:
    """What is wrong with the first bad metric ("train_samples_per_s must be ..."), or None when every metric is
    a finite number or null (text under TEXT_SUFFIXES, true/false in FLAG_METRICS and under FLAG_SUFFIXES, `history`
    a list of objects of finite numbers or nulls, and so `finetune_history`)."""
    for key, value in metrics.items():
        label = _label(key)
        if key in HISTORY_KEYS:
            if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
                return f"{label} must be a list of objects, got {_shown(value)}"
            for index, entry in enumerate(value):
                for name, inner in entry.items():
                    if not (inner is None or finite_number(inner)):
                        return f"{label}[{index}].{_label(name)} must be a finite number or null, got {_shown(inner)}"
            continue
        if key in RAW_SAMPLES:
            if not isinstance(value, list) or not all(finite_number(v) for v in value):
                return f"{label} must be a list of finite numbers, got {_shown(value)}"
            continue
        if key.endswith(TEXT_SUFFIXES):
            ok, expected = value is None or isinstance(value, str), "a string or null"
        elif key in FLAG_METRICS or key.endswith(FLAG_SUFFIXES):
            ok, expected = value is None or isinstance(value, bool), "true, false or null"
        else:
            ok, expected = value is None or finite_number(value), "a finite number or null"
        if not ok:
            return f"{label} must be {expected}, got {_shown(value)}"
    return None


def node_fields(path, doc: dict, where: str) -> dict:
    """`doc["node"]` (where a case was measured): an object of scalars, {} when absent."""
    node = doc.get("node", {})
    if not isinstance(node, dict):
        raise _fail(path, f"{where}.node must be an object, got {_shown(node)}")
    return _scalars(path, node, f"{where}.node")


def case_fields(path, doc: dict, where: str) -> dict:
    """`doc["case"]` checked against CASE_FIELDS (ConfigError naming path and `where` otherwise)."""
    return _case(path, doc, where)


def _metrics(path, extra: dict, where: str, reserved) -> dict:
    """The metrics of an extra_info, checked by metric_problem; the error names file, case and key."""
    metrics = {k: v for k, v in extra.items() if k not in reserved}
    problem = metric_problem(metrics)
    if problem:
        raise _fail(path, f"case {shown(extra['case_id'], 120)}: {where}.{problem}")
    return metrics


def _merge_benchmark(path, index: int, bench, cases: dict) -> None:
    where = f"benchmarks[{index}]"
    if not isinstance(bench, dict):
        raise _fail(path, f"{where} must be an object")
    extra, group = bench.get("extra_info"), bench.get("group")
    if not isinstance(extra, dict) or not isinstance(extra.get("case_id"), str):
        raise _fail(path, f"{where}.extra_info.case_id is missing (not written by tradeoff-bench?)")
    if not isinstance(group, str) or group not in GROUPS:
        raise _fail(path, f"{where}.group {_shown(group)}; valid groups: {', '.join(GROUPS)}")
    stats = bench.get("stats")
    if not isinstance(stats, dict) or not isinstance(stats.get("data"), list) or not stats["data"]:
        raise _fail(path, f"{where}.stats must be an object with a non-empty 'data' list")
    if not all(finite_number(v) for v in stats["data"]):
        raise _fail(path, f"{where}.stats.data must hold numbers (finite seconds)")
    status = _status(path, extra, f"{where}.extra_info", "ok")
    case_id = extra["case_id"]
    result = cases.setdefault(case_id, CaseResult(case_id, _case(path, extra, f"{where}.extra_info")))
    if status != "ok":
        result.status = status
        result.reason = _text(path, extra, "reason", f"{where}.extra_info.reason") or result.reason
    result.node = node_fields(path, extra, f"{where}.extra_info") or result.node
    reserved = {"case", "case_id", "plan", "status", "reason", "node"}
    result.metrics.update(_metrics(path, extra, f"{where}.extra_info", reserved))
    result.samples[group] = stats["data"]
    result.samples |= {name: result.metrics[key] for key, name in RAW_SAMPLES.items() if key in result.metrics}
