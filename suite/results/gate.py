"""The nightly gate: a run checked against the history of runs before it. Imports no torch.

    tradeoff-bench history check RESULTS.json    verdicts, exit 1 on a regression (nothing stored)
    tradeoff-bench history add RESULTS.json      the same verdicts, stored with the run
    tradeoff-bench history accept RUN            a flagged run's level becomes the baseline

Rules (README, "The nightly gate", has the measured false-alarm and detection rates):
- Baseline: per case, the last `last` runs on the same environment fingerprint and measurement procedure
  whose verdict for that case was not flagged (a regressed run never becomes the baseline: the history
  cannot absorb a regression), unless accepted.
- Timing: each run's median against the baseline runs' medians (suite.results.compare.between_run_test): over
  the threshold and significant at `alpha` is a violation. A timing is `regressed` when the run before
  (on this fingerprint and procedure) had a violation of the same case and metric too, PyTorch's rule of
  two consecutive violations; a first violation is `suspect` (shown, stored, exit 0).
- Accuracy, params, FLOPs and status changes are deterministic enough to fail at once (suite.results.compare).
"""

from __future__ import annotations

from dataclasses import dataclass

from suite.metrics import METRICS
from suite.plumbing.errors import ConfigError
from suite.results.compare import ALPHA, Comparison, compare_entries, entries_from_run
from suite.results.history import baseline_entries, comparable_runs, flagged_cases, procedure_key, run_fingerprint

DEFAULT_LAST = 10  # baseline runs per case: enough for a between-run spread, recent enough to follow drift
CONSECUTIVE = "regressed after two consecutive violations"


@dataclass
class GateResult:
    """A checked run: the comparison, the runs its baseline used, and the run checked before it."""

    comparison: Comparison
    baseline_runs: list[int]
    previous_run: int | None

    def verdicts(self) -> dict[tuple[str, str], str]:
        """(case, metric) -> verdict, as `history add` stores them."""
        return {(r.case_id, r.metric): r.verdict for r in self.comparison.rows}


def check_run(conn, run, digest: str, last: int = DEFAULT_LAST, thresholds: dict | None = None,
              alpha: float = ALPHA) -> GateResult:
    """Verdicts for a loaded run against the history in `conn` (see the module docstring)."""
    if last < 1:
        raise ConfigError(f"--last {last}: must be at least 1")
    runs = comparable_runs(conn, run_fingerprint(run), procedure_key(run.machine_info), digest)
    fingerprints = {c.case_id: c.node["fingerprint"] for c in run.cases if c.node.get("fingerprint")}
    baseline, used = baseline_entries(conn, runs, last, fingerprints)  # a case only against its own fingerprint
    comparison = compare_entries(baseline, entries_from_run(run), thresholds, alpha, history=True)
    previous = runs[0]["id"] if runs else None
    violated = flagged_cases(conn, previous) if previous is not None else {}
    for row in comparison.rows:
        if row.verdict == "regressed" and METRICS.get(row.metric) and METRICS[row.metric].watch == "timing":
            if row.metric not in violated.get(row.case_id, set()):
                row.verdict = "suspect"
                row.note = "first violation: regressed if the next run confirms it"
            else:
                row.note = CONSECUTIVE
    return GateResult(comparison, used, previous)
