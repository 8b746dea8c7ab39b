"""Regression verdicts between a baseline and a candidate run, per case and metric. Imports no torch.

Each compared metric gets one verdict: `regressed`, `improved`, `unchanged` or `noise`.

- Timing (throughput, latency): the relative change must exceed the metric's threshold (5 %; batch-1
  latency 10 %, see METRICS)
  AND be statistically significant at `alpha` (default 0.01). Significance is a two-sided Mann-Whitney
  U test (scipy.stats.mannwhitneyu) on the raw per-round seconds that pytest-benchmark stores in
  `stats.data`. Where a metric has no raw samples but the baseline is several runs (a rolling history
  baseline), it is a bootstrap percentile interval of the baseline runs' median (scipy.stats.bootstrap)
  that the candidate must fall outside. A change over the threshold that is not significant is `noise`;
  one under it is `unchanged`.
- Accuracy: a change larger than the threshold in percentage points (default 0.5 pp) and, where the
  baseline has several seeds of the same case, larger than their spread (max - min); within the spread
  it is `noise`. A language model's held-out loss (`val_loss`, lower is better) likewise, in nats per
  token (default 0.02).
- Params and FLOPs compare exactly: any change is a verdict (more is `regressed`, fewer `improved`).
- A case whose status changes from ok to anything else is `regressed` (and back, `improved`).

Runs measured in different environments (fingerprint in machine_info.tradeoff_bench) are refused with
a ConfigError naming what differs, unless forced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from suite.errors import ConfigError, choices_error
from suite.stats import mann_whitney_p

ALPHA = 0.01
QUALITY_SCALE = {"accuracy": 100.0, "loss": 1.0}  # quality metrics: the unit their change is in
QUALITY_UNIT = {"accuracy": "pp", "loss": "nats"}
MIN_BOOTSTRAP_RUNS = 3  # fewer run-level values give no usable interval of their median
BOOTSTRAP_SEED = 0  # the interval is reproducible: the same inputs always give the same verdict
VERDICTS = ("regressed", "improved", "unchanged", "noise")


@dataclass(frozen=True)
class Metric:
    """How one metric is compared: its kind, which direction is better, its unit and raw samples."""

    kind: str  # timing | accuracy | loss | exact
    better: str  # higher | lower
    unit: str
    group: str | None = None  # the results group whose raw seconds per call the metric derives from
    threshold: float | None = None  # timing: relative, in %; accuracy: percentage points; loss: nats


METRICS = {
    "train_samples_per_s": Metric("timing", "higher", "samples/s", "train", 5.0),
    # Batch-1 latency of small models (tens of microseconds) moves by up to 8% between two processes of
    # the same code on a shared 2-core machine, every call alike (A/A runs of benchmarks/regression_rates.py,
    # README): within-run samples cannot see that, so its threshold is 10% (override with --threshold).
    "infer_latency_ms_p50": Metric("timing", "lower", "ms", "infer", 10.0),
    # Batched inference keeps only summary statistics per run: significance needs several baseline runs.
    "infer_samples_per_s": Metric("timing", "higher", "samples/s", None, 5.0),
    "test_accuracy": Metric("accuracy", "higher", "%", None, 0.5),
    # 0.02 nats is about 1% of a character model's held-out loss near 1.9 (the shakespeare plan's base case)
    "val_loss": Metric("loss", "lower", "nats/token", None, 0.02),
    "params": Metric("exact", "lower", "params"),
    "flops_per_sample": Metric("exact", "lower", "FLOPs"),
    "train_flops_per_sample": Metric("exact", "lower", "FLOPs"),
}


@dataclass
class Entry:
    """One side of a case in a comparison: a single run's case, or a rolling baseline of several runs."""

    case_id: str
    case: dict
    status: str
    metrics: dict  # metric -> value (the median over runs for a rolling baseline)
    samples: dict = field(default_factory=dict)  # group -> raw seconds per call (pooled over runs)
    run_values: dict = field(default_factory=dict)  # metric -> one value per baseline run


@dataclass
class Row:
    """The verdict on one metric of one case."""

    case_id: str
    metric: str
    baseline: float | None
    candidate: float | None
    change: float | None  # relative % for timing and exact metrics, percentage points for accuracy, nats for loss
    verdict: str
    test: str = ""  # how significance was decided, with its p-value or interval
    note: str = ""


@dataclass
class Comparison:
    """Every row, the cases present on one side only, and the cases neither side measured."""

    rows: list[Row]
    only_baseline: list[str]
    only_candidate: list[str]
    not_measured: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        """Rows per verdict."""
        return {v: sum(r.verdict == v for r in self.rows) for v in VERDICTS}

    @property
    def regressed(self) -> list[Row]:
        """The rows whose verdict is `regressed`."""
        return [r for r in self.rows if r.verdict == "regressed"]

    def exit_code(self) -> int:
        """1 when anything regressed, else 0 (bad input never gets this far: it is exit code 2)."""
        return 1 if self.regressed else 0


def parse_thresholds(pairs: list[str]) -> dict:
    """`metric=value` pairs: % for timing metrics, percentage points for accuracy."""
    thresholds = {}
    tunable = [name for name, m in METRICS.items() if m.kind != "exact"]
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(f"--threshold {pair!r}: expected metric=value")
        if name not in METRICS or METRICS[name].kind == "exact":
            if name in METRICS:
                raise ConfigError(f"--threshold {name}: {name} compares exactly and takes no threshold")
            raise choices_error("metric", name, tunable)
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"--threshold {pair!r}: {text.strip()!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"--threshold {pair!r}: the threshold must be a finite number >= 0")
        thresholds[name] = value
    return thresholds


def entries_from_run(run) -> dict[str, Entry]:
    """A loaded Run's cases as comparison entries, by case id."""
    return {c.case_id: Entry(c.case_id, c.case, c.status, c.metrics, c.samples) for c in run.cases}


def environment_difference(baseline: dict, candidate: dict) -> str | None:
    """None when both machine_info blocks carry the same fingerprint, else what differs in words."""
    base_env, cand_env = baseline.get("tradeoff_bench") or {}, candidate.get("tradeoff_bench") or {}
    if not base_env.get("fingerprint") or not cand_env.get("fingerprint"):
        side = "baseline" if not base_env.get("fingerprint") else "candidate"
        return f"the {side} has no environment fingerprint (machine_info.tradeoff_bench.fingerprint)"
    if base_env["fingerprint"] == cand_env["fingerprint"]:
        return None
    parts = []
    for key in sorted((set(base_env) | set(cand_env)) - {"fingerprint"}):
        before, after = _comparable(key, base_env.get(key)), _comparable(key, cand_env.get(key))
        if before != after:
            parts.append(f"{key} {before!r} vs {after!r}")
    detail = "; ".join(parts) or "the fingerprinted parts"
    return f"environments differ ({detail}; fingerprint {base_env['fingerprint']} vs {cand_env['fingerprint']})"


def _comparable(key: str, value):
    return [g.get("name") for g in value] if key == "gpus" and isinstance(value, list) else value


def compare_runs(baseline, candidate, thresholds: dict | None = None, alpha: float = ALPHA,
                 force: bool = False) -> Comparison:
    """Compare two loaded runs; a fingerprint mismatch raises ConfigError unless `force`."""
    difference = environment_difference(baseline.machine_info, candidate.machine_info)
    if difference and not force:
        raise ConfigError(f"not comparable: {difference} (use --force to compare anyway)")
    comparison = compare_entries(entries_from_run(baseline), entries_from_run(candidate), thresholds, alpha)
    if difference:
        comparison.warnings.append(f"compared despite: {difference}")
    return comparison


def compare_entries(baseline: dict[str, Entry], candidate: dict[str, Entry], thresholds: dict | None = None,
                    alpha: float = ALPHA) -> Comparison:
    """Verdicts for every case present on both sides, in the candidate's order."""
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha {alpha!r} must be between 0 and 1")
    limits = {name: m.threshold for name, m in METRICS.items()} | (thresholds or {})
    spreads = {name: seed_spreads(baseline.values(), name, QUALITY_SCALE[m.kind])
               for name, m in METRICS.items() if m.kind in QUALITY_SCALE}
    rows, not_measured = [], []
    for case_id, cand in candidate.items():
        base = baseline.get(case_id)
        if base is None:
            continue
        status_row = _status_row(base, cand)
        if status_row:
            rows.append(status_row)
        if base.status == cand.status and base.status not in ("ok", "diverged"):
            not_measured.append(case_id)
        for name in METRICS:
            before, after = base.metrics.get(name), cand.metrics.get(name)
            if _number(before) and _number(after):
                rows.append(metric_row(case_id, name, base, cand, limits.get(name), alpha,
                                       spreads.get(name, {}).get(seedless_key(base.case))))
    return Comparison(rows, [c for c in baseline if c not in candidate], [c for c in candidate if c not in baseline],
                      not_measured)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _status_row(base: Entry, cand: Entry) -> Row | None:
    if base.status == cand.status:
        return None
    verdict = "regressed" if base.status == "ok" else "improved" if cand.status == "ok" else "unchanged"
    return Row(base.case_id, "status", None, None, None, verdict, note=f"{base.status} -> {cand.status}")


def metric_row(case_id: str, name: str, base: Entry, cand: Entry, threshold: float | None, alpha: float,
               seed_spread_pp: float | None = None) -> Row:
    """The verdict on one metric of one case."""
    metric = METRICS[name]
    before, after = float(base.metrics[name]), float(cand.metrics[name])
    if metric.kind in QUALITY_SCALE:  # accuracy in pp, loss in nats
        change = (after - before) * QUALITY_SCALE[metric.kind]
        verdict, note = accuracy_verdict(change if metric.better == "higher" else -change, threshold, seed_spread_pp,
                                         QUALITY_UNIT[metric.kind])
        return Row(case_id, name, before, after, change, verdict, note=note)
    change = (after - before) / before * 100 if before else (0.0 if after == before else math.inf)
    if metric.kind == "exact":
        return Row(case_id, name, before, after, change, _direction(metric, change) if after != before else "unchanged")
    significant, test = timing_significance(base.samples.get(metric.group, []) if metric.group else [],
                                            cand.samples.get(metric.group, []) if metric.group else [],
                                            base.run_values.get(name, []), after, alpha)
    return Row(case_id, name, before, after, change, timing_verdict(change, metric, threshold, significant), test)


def _direction(metric: Metric, change: float) -> str:
    worse = change < 0 if metric.better == "higher" else change > 0
    return "regressed" if worse else "improved"


def timing_verdict(change_pct: float, metric: Metric, threshold_pct: float, significant: bool | None) -> str:
    """`unchanged` within the threshold; beyond it, a direction only when significant, else `noise`."""
    if abs(change_pct) <= threshold_pct:
        return "unchanged"
    return _direction(metric, change_pct) if significant else "noise"


def accuracy_verdict(change_pp: float, threshold_pp: float, seed_spread_pp: float | None,
                     unit: str = "pp") -> tuple[str, str]:
    """(verdict, note): beyond the threshold and beyond the baseline's seed spread, or it is noise. A positive
    change is an improvement (a loss passes its decrease)."""
    if abs(change_pp) <= threshold_pp:
        return "unchanged", ""
    if seed_spread_pp is not None and abs(change_pp) <= seed_spread_pp:
        return "noise", f"within the seed spread of {seed_spread_pp:.2f} {unit}"
    verdict = "improved" if change_pp > 0 else "regressed"
    return verdict, f"seed spread {seed_spread_pp:.2f} {unit}" if seed_spread_pp is not None else ""


def timing_significance(base_samples, cand_samples, base_run_values, cand_value: float,
                        alpha: float) -> tuple[bool | None, str]:
    """(significant, how it was decided). None when nothing can be tested (a lone value each side)."""
    if len(base_samples) >= 2 and len(cand_samples) >= 2:
        p = mann_whitney_p(base_samples, cand_samples)
        return p < alpha, f"Mann-Whitney p={p:.2g}"
    if len(base_run_values) >= MIN_BOOTSTRAP_RUNS:
        low, high = median_interval(base_run_values, 1 - alpha)
        if not (math.isfinite(low) and math.isfinite(high)):
            return None, "bootstrap interval undefined"
        return not low <= cand_value <= high, f"bootstrap median {100 * (1 - alpha):g}% [{low:.4g}, {high:.4g}]"
    return None, "no raw samples"


def median_interval(values, confidence: float) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of `values` (scipy.stats.bootstrap, fixed seed)."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    if np.all(values == values[0]):  # every resample has the same median: the interval is that point
        return float(values[0]), float(values[0])
    result = stats.bootstrap((values,), np.median, confidence_level=confidence, method="percentile",
                             n_resamples=9999, random_state=np.random.default_rng(BOOTSTRAP_SEED))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def seedless_key(case: dict) -> tuple:
    """A case's fields without its seed: cases sharing it are seeds of one configuration."""
    return tuple(sorted((k, repr(v)) for k, v in case.items() if k != "seed"))


def seed_spreads(entries, metric: str = "test_accuracy", scale: float = 100.0) -> dict[tuple, float]:
    """Spread of a metric (max - min, times `scale`: accuracy in pp) of each configuration that has several seeds."""
    groups: dict[tuple, list[float]] = {}
    for entry in entries:
        value = entry.metrics.get(metric)
        if _number(value) and "seed" in entry.case:
            groups.setdefault(seedless_key(entry.case), []).append(float(value))
    return {key: (max(v) - min(v)) * scale for key, v in groups.items() if len(v) > 1}


def to_markdown(comparison: Comparison, title: str) -> str:
    """The comparison as Markdown: a summary line, one table row per metric, then one-sided cases."""
    from tabulate import tabulate

    counts = comparison.counts()
    lines = [f"## {title}", "", ", ".join(f"{n} {v}" for v, n in counts.items()), ""]
    lines += [f"> warning: {w}" for w in comparison.warnings] + ([""] if comparison.warnings else [])
    table = [[r.case_id, _metric_label(r.metric), _fmt(r.metric, r.baseline), _fmt(r.metric, r.candidate),
              _fmt_change(r), f"**{r.verdict}**" if r.verdict == "regressed" else r.verdict,
              "; ".join(x for x in (r.test, r.note) if x)] for r in comparison.rows]
    lines.append(tabulate(table, headers=["case", "metric", "baseline", "candidate", "change", "verdict", "test"],
                          tablefmt="github", disable_numparse=True))
    for label, cases in (("only in the baseline", comparison.only_baseline),
                         ("only in the candidate", comparison.only_candidate),
                         ("measured by neither", comparison.not_measured)):
        if cases:
            lines += ["", f"### Cases {label} ({len(cases)})", *[f"- `{c}`" for c in cases]]
    return "\n".join(lines) + "\n"


def _metric_label(name: str) -> str:
    return f"{name} ({METRICS[name].unit})" if name in METRICS else name


def _fmt(name: str, value) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.2f}" if name == "test_accuracy" else f"{value:,.4g}"


def _fmt_change(row: Row) -> str:
    if row.change is None:
        return "-"
    if row.metric == "val_loss":
        return f"{row.change:+.4f}"
    return f"{row.change:+.2f} pp" if row.metric == "test_accuracy" else f"{row.change:+.1f}%"
