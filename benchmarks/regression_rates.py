"""How often `tradeoff-bench compare` cries wolf, and how often it catches a real regression.

Runs a plan 2N+1 times in fresh processes, alternating plain runs A0..AN with runs S1..SN whose timed
training step carries an injected slowdown (the test-only $TRADEOFF_BENCH_INJECT_SLOWDOWN hook in
suite/train.py: each step does that fraction of its own duration of extra real work). Then, for
i = 1..N, it compares with the default thresholds and significance level:

    A/A        A(i-1) -> A(i)                       false positive: any `regressed` verdict
    slowdown   A(i-1) -> S(i)                       detected: a train_samples_per_s row `regressed`
    accuracy   A(i-1) -> A(i), every test_accuracy  detected: a test_accuracy row `regressed`
               lowered by the drop in pp (injected into the candidate's results after the run)

Reproduce the figures on a quiet machine (about 41 quick-plan runs; nothing else running):

    python benchmarks/regression_rates.py --plan quick --comparisons 20 --out reports/regression-rates

It prints the rates as Markdown lines to paste into the README and writes summary.json beside the runs.
This is a measurement, not a unit test: it is not collected by pytest (its name has no test_ prefix).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from suite.compare import compare_runs  # noqa: E402  (the repository root is put on the path first)
from suite.results import load_run  # noqa: E402
from suite.train import INJECT_SLOWDOWN_ENV  # noqa: E402


def run_plan(plan: str, out: Path, sets: list[str], slowdown: float) -> Path:
    """One `tradeoff-bench run` in a fresh process; returns its results file."""
    env = {**os.environ, INJECT_SLOWDOWN_ENV: str(slowdown) if slowdown else ""}
    command = [sys.executable, "-m", "suite.cli", "run", "--plan", plan, "--out", str(out)]
    command += [arg for pair in sets for arg in ("--set", pair)]
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return out / "results.json"


def lowered_accuracy(run, drop_pp: float):
    """The run with every case's test accuracy lowered by `drop_pp` percentage points."""
    for case in run.cases:
        if isinstance(case.metrics.get("test_accuracy"), (int, float)):
            case.metrics["test_accuracy"] -= drop_pp / 100
    return run


def rate(hits: int, total: int) -> str:
    """'hits/total (percent)'."""
    return f"{hits}/{total} ({100 * hits / total:.0f}%)" if total else "0/0"


def measure(plan: str, comparisons: int, slowdown: float, drop_pp: float, out: Path, sets: list[str]) -> dict:
    """Run the plan, compare, and count false positives and detections."""
    plain = [run_plan(plan, out / "A0", sets, 0.0)]
    slowed = []
    for i in range(1, comparisons + 1):
        slowed.append(run_plan(plan, out / f"S{i}", sets, slowdown))
        plain.append(run_plan(plan, out / f"A{i}", sets, 0.0))
        print(f"runs {i}/{comparisons} done", file=sys.stderr, flush=True)
    counts = {"aa_false_positive": 0, "slowdown_detected": 0, "accuracy_detected": 0,
              "slowdown_case_rows": 0, "slowdown_case_regressed": 0, "aa_regressed_rows": []}
    for i in range(1, comparisons + 1):
        baseline = load_run(plain[i - 1])
        aa = compare_runs(baseline, load_run(plain[i]))
        counts["aa_false_positive"] += bool(aa.regressed)
        counts["aa_regressed_rows"] += [f"A{i - 1}->A{i} {r.case_id} {r.metric} {r.change:+.1f}" for r in aa.regressed]
        train = [r for r in compare_runs(baseline, load_run(slowed[i - 1])).rows if r.metric == "train_samples_per_s"]
        counts["slowdown_detected"] += any(r.verdict == "regressed" for r in train)
        counts["slowdown_case_rows"] += len(train)
        counts["slowdown_case_regressed"] += sum(r.verdict == "regressed" for r in train)
        dropped = compare_runs(baseline, lowered_accuracy(load_run(plain[i]), drop_pp))
        counts["accuracy_detected"] += any(r.metric == "test_accuracy" and r.verdict == "regressed"
                                           for r in dropped.rows)
    return counts


def main(argv=None) -> int:
    """Measure and print the rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", default="quick")
    parser.add_argument("--comparisons", type=int, default=20)
    parser.add_argument("--slowdown", type=float, default=0.15, help="injected training-step slowdown (fraction)")
    parser.add_argument("--accuracy-drop-pp", type=float, default=2.0, help="injected accuracy drop (pp)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="passed to every run")
    parser.add_argument("--out", default="reports/regression-rates")
    args = parser.parse_args(argv)
    out = Path(args.out)
    counts = measure(args.plan, args.comparisons, args.slowdown, args.accuracy_drop_pp, out, args.set)
    n = args.comparisons
    summary = {"plan": args.plan, "comparisons": n, "slowdown": args.slowdown,
               "accuracy_drop_pp": args.accuracy_drop_pp, **counts}
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"- A/A (`{args.plan}` plan, same code twice): {rate(counts['aa_false_positive'], n)} comparisons "
          f"with a `regressed` verdict (false positives)")
    print(f"- injected {args.slowdown:.0%} training-step slowdown: flagged `regressed` in "
          f"{rate(counts['slowdown_detected'], n)} comparisons; per case "
          f"{rate(counts['slowdown_case_regressed'], counts['slowdown_case_rows'])}")
    print(f"- injected {args.accuracy_drop_pp:g} pp accuracy drop: flagged `regressed` in "
          f"{rate(counts['accuracy_detected'], n)} comparisons")
    for row in counts["aa_regressed_rows"]:
        print(f"  - A/A false positive: {row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
