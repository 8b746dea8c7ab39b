"""Regression verdicts between a baseline and a candidate run, per case and metric. Imports no torch.

Each compared metric gets one verdict: `regressed`, `improved`, `unchanged`, `noise` or `untested`
(`suspect` is added by the history gate, suite/results/gate.py).

- Timing (throughput, latency): the relative change must exceed the metric's threshold (5 %; batch-1
  latency 10 %, see suite/metrics.py) AND be significant at `alpha` (default 0.01) against the spread that
  actually separates two runs: the spread between processes, not the spread of rounds within one.
  - Baseline of several runs (the history gate): a one-sided z test of the candidate's value against
    the median of the baseline runs' values, on a log scale, with their spread (the larger of the standard
    deviation and the MAD estimate), floored by the median spread of all cases of the night (few runs
    estimate a spread poorly). The raw rounds of several runs are never pooled as if independent.
  - One run against one run: a Mann-Whitney U test on the raw per-round seconds (scipy.stats.mannwhitneyu)
    AND a change beyond Z_ONE_SIDED * sqrt(2) times the metric's between-process spread (Metric.process_spread,
    measured on this machine class; `--process-spread` sets another).
  A change over the threshold that is not significant is `noise`; one under it is `unchanged`; a
  metric without raw samples on a lone run each side is `untested (no raw samples)`.
- Accuracy: a change larger than the threshold in percentage points (default 0.5 pp) and larger than
  the baseline's spread (max - min over seeds, or over the runs of a history baseline); within it `noise`.
  A language model's held-out loss (`val_loss`, lower is better) likewise, in nats per token (default 0.02).
- Instruction counts (`--measure instructions`) are deterministic: beyond their threshold (1.5 %) `regressed` or
  `improved`, within it `unchanged`; never `noise`.
- Params and FLOPs compare exactly: any change is a verdict (more is `regressed`, fewer `improved`).
- A case whose status changes from ok to anything else is `regressed` (and back, `improved`); a case
  that goes to `error` from any other status is `regressed`.
- A case of the baseline missing from the candidate is listed and fails the comparison (exit 1)
  unless missing cases are allowed.

Runs measured in different environments (fingerprint in machine_info.tradeoff_bench) or by different
procedures (machine_info.tradeoff_bench.procedure) are refused with a ConfigError naming what differs,
unless forced. Where both runs record the node that measured each case (extra_info.node, e.g. cases spread
over a Ray cluster), a case is compared only with the same case measured on the same fingerprint: other
pairs get an `untested` row saying so, and runs that share no fingerprint at all are refused as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from suite.metrics import METRICS, TEST_ACCURACY, Metric, process_spreads, show, watched
from suite.plumbing.errors import ConfigError, choices_error
from suite.plumbing.mdtext import md_code, md_text
from suite.plumbing.stats import mann_whitney_p
from suite.procedure import procedure_difference, run_procedure

ALPHA = 0.01
QUALITY_SCALE = {"accuracy": 100.0, "loss": 1.0}  # quality metrics: the unit their change is in
QUALITY_UNIT = {"accuracy": "pp", "loss": "nats"}
MIN_HISTORY_RUNS = 3  # fewer baseline runs give no usable between-run spread: no verdict then
VERDICTS = ("regressed", "suspect", "improved", "unchanged", "noise", "untested")
Z_ONE_SIDED = 2.326  # the normal quantile of 1 - 0.01
# Median-absolute-deviation to standard deviation for normal data (Rousseeuw & Croux 1993).
MAD_TO_SIGMA = 1.4826
@dataclass
class Entry:
    """One side of a case in a comparison: a single run's case, or a rolling baseline of several runs."""

    case_id: str
    case: dict
    status: str
    metrics: dict  # metric -> value (the median over runs for a rolling baseline)
    samples: dict = field(default_factory=dict)  # group -> raw seconds per call (pooled over runs)
    run_values: dict = field(default_factory=dict)  # metric -> one value per baseline run
    fingerprint: str | None = None  # of the node that measured the case (None: not recorded)


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
    p_value: float | None = None  # of the between-run test, for the gate's rules


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

    def exit_code(self, allow_missing: bool = False) -> int:
        """1 when anything regressed or (unless allowed) a baseline case is missing from the candidate,
        else 0 (bad input never gets this far: it is exit code 2)."""
        return 1 if self.regressed or (self.only_baseline and not allow_missing) else 0


def parse_thresholds(pairs: list[str]) -> dict:
    """`metric=value` pairs: % for timing metrics, percentage points for accuracy."""
    thresholds = {}
    tunable = [name for name, m in watched().items() if m.watch != "exact"]
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(f"--threshold {pair!r}: expected metric=value")
        if name not in watched() or METRICS[name].watch == "exact":
            if name in watched():
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
    run_fp = (run.machine_info.get("tradeoff_bench") or {}).get("fingerprint")
    return {c.case_id: Entry(c.case_id, c.case, c.status, c.metrics, c.samples,
                             fingerprint=c.node.get("fingerprint") or run_fp) for c in run.cases}


def per_case_fingerprints(baseline, candidate) -> bool:
    """Whether both runs record the node fingerprint of their cases (then cases are matched per fingerprint)."""
    return any(c.node for c in baseline.cases) and any(c.node for c in candidate.cases)


def shared_fingerprint(baseline: dict[str, Entry], candidate: dict[str, Entry]) -> bool:
    """Whether some case of both runs was measured on the same fingerprint on both sides."""
    return any(base.fingerprint == candidate[case_id].fingerprint
               for case_id, base in baseline.items() if case_id in candidate)


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


def run_difference(baseline_info: dict, candidate_info: dict) -> str | None:
    """What makes two runs not comparable (environment, then procedure), in words; None when nothing."""
    return environment_difference(baseline_info, candidate_info) or procedure_difference(
        run_procedure(baseline_info), run_procedure(candidate_info))


def compare_runs(baseline, candidate, thresholds: dict | None = None, alpha: float = ALPHA,
                 force: bool = False, process_spread: dict | None = None) -> Comparison:
    """Compare two loaded runs; a fingerprint or procedure mismatch raises ConfigError unless `force`."""
    base_entries, cand_entries = entries_from_run(baseline), entries_from_run(candidate)
    if per_case_fingerprints(baseline, candidate) and shared_fingerprint(base_entries, cand_entries):
        difference = procedure_difference(run_procedure(baseline.machine_info), run_procedure(candidate.machine_info))
    else:
        difference = run_difference(baseline.machine_info, candidate.machine_info)
    if difference and not force:
        raise ConfigError(f"not comparable: {difference} (use --force to compare anyway)")
    if force:  # asked for: cases measured on different fingerprints are compared too (with the warning below)
        for entry in cand_entries.values():
            entry.fingerprint = None
    comparison = compare_entries(base_entries, cand_entries, thresholds, alpha, process_spread)
    if difference:
        comparison.warnings.append(f"compared despite: {difference}")
    return comparison


def compare_entries(baseline: dict[str, Entry], candidate: dict[str, Entry], thresholds: dict | None = None,
                    alpha: float = ALPHA, process_spread: dict | None = None, history: bool = False) -> Comparison:
    """Verdicts for every case present on both sides, in the candidate's order. `history`: the baseline is
    a history of runs, so a timing with fewer than MIN_HISTORY_RUNS of them is untested (never judged on
    one run's rounds)."""
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha {alpha!r} must be between 0 and 1")
    limits = {name: m.threshold for name, m in watched().items()} | (thresholds or {})
    spreads = {name: seed_spreads(baseline.values(), name, QUALITY_SCALE[m.watch])
               for name, m in watched().items() if m.watch in QUALITY_SCALE}
    context = {"process": process_spreads() | (process_spread or {}), "pooled": pooled_spreads(baseline.values()),
               "history": history}
    rows, not_measured = [], []
    for case_id, cand in candidate.items():
        base = baseline.get(case_id)
        if base is None:
            continue
        if base.fingerprint and cand.fingerprint and base.fingerprint != cand.fingerprint:
            rows.append(Row(case_id, "fingerprint", None, None, None, "untested",
                            note=f"not compared: measured on fingerprint {base.fingerprint} vs {cand.fingerprint}"))
            continue
        status_row = _status_row(base, cand)
        if status_row:
            rows.append(status_row)
        if base.status == cand.status and base.status not in ("ok", "diverged"):
            not_measured.append(case_id)
        for name in watched():
            before, after = base.metrics.get(name), cand.metrics.get(name)
            if _number(before) and _number(after):
                rows.append(metric_row(case_id, name, base, cand, limits.get(name), alpha,
                                       spreads.get(name, {}).get(seedless_key(base.case)), context))
    return Comparison(rows, [c for c in baseline if c not in candidate], [c for c in candidate if c not in baseline],
                      not_measured)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _status_row(base: Entry, cand: Entry) -> Row | None:
    if base.status == cand.status:
        return None
    if base.status == "ok" or cand.status == "error":
        verdict = "regressed"
    else:
        verdict = "improved" if cand.status == "ok" else "unchanged"
    return Row(base.case_id, "status", None, None, None, verdict, note=f"{base.status} -> {cand.status}")


def metric_row(case_id: str, name: str, base: Entry, cand: Entry, threshold: float | None, alpha: float,
               seed_spread_pp: float | None = None, context: dict | None = None) -> Row:
    """The verdict on one metric of one case."""
    metric = METRICS[name]
    before, after = float(base.metrics[name]), float(cand.metrics[name])
    if metric.watch in QUALITY_SCALE:  # accuracy in pp, loss in nats (a decrease is the improvement)
        scale = QUALITY_SCALE[metric.watch]
        change = (after - before) * scale
        history = [scale * v for v in base.run_values.get(name, [])]
        spread = max(seed_spread_pp or 0.0, max(history) - min(history) if len(history) > 1 else 0.0)
        verdict, note = accuracy_verdict(change if metric.better == "higher" else -change, threshold,
                                         spread if seed_spread_pp is not None or history else None,
                                         QUALITY_UNIT[metric.watch])
        return Row(case_id, name, before, after, change, verdict, note=note)
    change = (after - before) / before * 100 if before else (0.0 if after == before else math.inf)
    if metric.watch == "exact":
        return Row(case_id, name, before, after, change, _direction(metric, change) if after != before else "unchanged")
    if metric.watch == "count":  # deterministic: the threshold alone decides
        return Row(case_id, name, before, after, change, timing_verdict(change, metric, threshold, True), "count")
    context = context or {"process": process_spreads(), "pooled": {}}
    history = base.run_values.get(name, [])
    if len(history) >= MIN_HISTORY_RUNS:
        p, test = between_run_test(history, after, metric, context["pooled"].get(name))
        verdict = timing_verdict(change, metric, threshold, p < alpha)
        return Row(case_id, name, before, after, change, verdict, test, p_value=p)
    if len(history) > 1 or context.get("history"):
        return Row(case_id, name, before, after, change, "untested", f"{len(history)} baseline runs: "
                   f"a between-run spread needs {MIN_HISTORY_RUNS}")
    base_samples = base.samples.get(metric.rounds, []) if metric.rounds else []
    cand_samples = cand.samples.get(metric.rounds, []) if metric.rounds else []
    if len(base_samples) < 2 or len(cand_samples) < 2:
        verdict = "unchanged" if abs(change) <= threshold else "untested"
        return Row(case_id, name, before, after, change, verdict, "no raw samples")
    significant, test = single_run_significance(base_samples, cand_samples, before, after,
                                                context["process"].get(name, 0.0), alpha)
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


def single_run_significance(base_samples, cand_samples, before: float, after: float, process_spread: float,
                            alpha: float) -> tuple[bool, str]:
    """(significant, how it was decided) for one run against one run: the rounds must differ
    (Mann-Whitney) AND the change must exceed what fresh processes of the same code differ by."""
    p = mann_whitney_p(base_samples, cand_samples)
    limit = math.expm1(Z_ONE_SIDED * math.sqrt(2) * process_spread)
    beyond = before > 0 and after > 0 and abs(math.log(after / before)) > math.log1p(limit)
    return p < alpha and beyond, f"Mann-Whitney p={p:.2g}; one run each side: needs > {100 * limit:.0f}% " \
        f"(between-process spread {100 * process_spread:.0f}%)"


def log_spread(values) -> float:
    """Standard deviation of log(values) between runs: the larger of the sample standard deviation and
    MAD_TO_SIGMA x the median absolute deviation. Timings of small models on shared machines are heavy-tailed
    (a process now and then runs a case at half speed): a robust estimate alone would call that spread
    small, and the next such process a regression."""
    logs = np.log(np.asarray(values, dtype=float))
    return float(max(robust_log_spread(values), np.std(logs, ddof=1) if logs.size > 1 else 0.0))


def robust_log_spread(values) -> float:
    """MAD_TO_SIGMA x the median absolute deviation of log(values): a spread that a few outlying runs (a regression
    among the nights, say) do not move."""
    logs = np.log(np.asarray(values, dtype=float))
    return float(MAD_TO_SIGMA * np.median(np.abs(logs - np.median(logs))))


def pooled_spreads(entries) -> dict[str, float]:
    """Per timing metric, the median over cases of their between-run log spread (cases with enough runs)."""
    spreads: dict[str, list[float]] = {}
    for entry in entries:
        for name, values in entry.run_values.items():
            if name in METRICS and METRICS[name].watch == "timing" and len(values) >= MIN_HISTORY_RUNS \
                    and min(values) > 0:
                spreads.setdefault(name, []).append(log_spread(values))
    return {name: float(np.median(values)) for name, values in spreads.items()}


def between_run_test(history, value: float, metric: Metric, pooled: float | None) -> tuple[float, str]:
    """(one-sided p that `value` is this much worse or better by chance, description): a z test of log(value)
    against the median of the baseline runs' logs, with their spread (log_spread) floored by the pooled one.
    The median of k runs has a variance of about pi/2 * sigma^2 / k (normal data)."""
    from scipy.stats import norm

    if value <= 0 or min(history) <= 0:
        return 1.0, "non-positive values: untestable"
    sigma = max(log_spread(history), pooled or 0.0, 1e-6)
    d = math.log(value) - float(np.median(np.log(history)))
    z = abs(d) / (sigma * math.sqrt(1 + math.pi / 2 / len(history)))
    p = float(norm.sf(z))
    return p, f"z={z:.1f} p={p:.2g} vs {len(history)} runs (spread {100 * sigma:.1f}%)"


def seedless_key(case: dict) -> tuple:
    """A case's fields without its seed: cases sharing it are seeds of one configuration."""
    return tuple(sorted((k, repr(v)) for k, v in case.items() if k != "seed"))


def seed_spreads(entries, metric: str = TEST_ACCURACY, scale: float = 100.0) -> dict[tuple, float]:
    """Spread of a metric (max - min, times `scale`: accuracy in pp) of each configuration that has several seeds."""
    groups: dict[tuple, list[float]] = {}
    for entry in entries:
        value = entry.metrics.get(metric)
        if _number(value) and "seed" in entry.case:
            groups.setdefault(seedless_key(entry.case), []).append(float(value))
    return {key: (max(v) - min(v)) * scale for key, v in groups.items() if len(v) > 1}


def to_markdown(comparison: Comparison, title: str) -> str:
    """The comparison as Markdown: a summary line, one table row per metric, then one-sided cases. Strings
    from the files (case ids, paths, environment differences) are escaped (suite.plumbing.mdtext)."""
    from tabulate import tabulate


    counts = comparison.counts()
    lines = [f"## {md_text(title)}", "", ", ".join(f"{n} {v}" for v, n in counts.items()), ""]
    lines += [f"> warning: {md_text(w)}" for w in comparison.warnings] + ([""] if comparison.warnings else [])
    if comparison.only_baseline:
        lines += [f"> {len(comparison.only_baseline)} baseline cases are missing from the candidate "
                  "(listed below): that fails the comparison unless missing cases are allowed", ""]
    table = [[md_text(r.case_id), md_text(_metric_label(r.metric)), _fmt(r.metric, r.baseline),
              _fmt(r.metric, r.candidate), _fmt_change(r),
              f"**{r.verdict}**" if r.verdict == "regressed" else r.verdict,
              md_text("; ".join(x for x in (r.test, r.note) if x))] for r in comparison.rows]
    lines.append(tabulate(table, headers=["case", "metric", "baseline", "candidate", "change", "verdict", "test"],
                          tablefmt="github", disable_numparse=True))
    for label, cases in (("only in the baseline", comparison.only_baseline),
                         ("only in the candidate", comparison.only_candidate),
                         ("measured by neither", comparison.not_measured)):
        if cases:
            lines += ["", f"### Cases {label} ({len(cases)})", *[f"- {md_code(c)}" for c in cases]]
    return "\n".join(lines) + "\n"


def _metric_label(name: str) -> str:
    return f"{name} ({METRICS[name].unit})" if name in METRICS else name


def _fmt(name: str, value) -> str:
    """A value as the report prints it (23,946 params, 20,893 samples/s, 0.0512 ms, 97.50 %), never 2.395e+04."""
    if value is None:
        return "-"
    return show(name, value) if name in METRICS else f"{value:,.4f}".rstrip("0").rstrip(".")


def _fmt_change(row: Row) -> str:
    if row.change is None:
        return "-"
    kind = METRICS[row.metric].watch if row.metric in METRICS else ""
    if kind == "loss":
        return f"{row.change:+.4f}"
    return f"{row.change:+.2f} pp" if kind == "accuracy" else f"{row.change:+.1f}%"
