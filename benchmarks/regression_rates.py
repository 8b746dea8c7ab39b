"""How often the nightly gate cries wolf, and how soon it catches a real regression: nights simulated
exactly as .github/workflows/nightly.yml runs them.

A night is `pytest benchmarks --plan P --set threads=1 --shard k/N --benchmark-json part-k.json` for
k = 1..N, each a fresh process, then `tradeoff-bench merge`. Two steps:

    collect   measure NIGHTS clean nights of the plan (fresh processes, back to back), and for each of
              TRIALS cases (drawn with a fixed seed) two nights' worth of that case alone with a 10%
              training-step slowdown injected ($TRADEOFF_BENCH_INJECT_SLOWDOWN limited to the case id by
              $TRADEOFF_BENCH_INJECT_SLOWDOWN_CASE, real extra work in every step)
    rates     replay the nights through `history check` then `history add`, as the workflow does:
      A/A       each clean night, checked against the clean nights before it (rotations of the
                sequence, so every night is checked once against BASE nights): a false alarm is any
                `regressed` verdict (family-wise, all cases and metrics of the night)
      slowdown  the trial's two injected measurements replace its case in two consecutive clean nights
                (the same build slowed from that night on): detected when flagged within the 2 nights
      accuracy  the trial's case loses 2 pp of test accuracy in the night after the baseline nights:
                detected when that first night is flagged

    python benchmarks/regression_rates.py collect --plan quick --nights 12 --trials 20 --out reports/nightly-sim
    python benchmarks/regression_rates.py rates --out reports/nightly-sim

`rates` prints each rate with its count and a 95% Clopper-Pearson interval, as Markdown lines for the
README, and writes rates.json. Run `collect` on a quiet machine with nothing else running (it prints the
load before each night). An injected trial is a whole night of the plan with the slowdown limited to its case.

The nightly job now also gates on same-job A/B (tradeoff-bench ab, README "Regressions, night after night"). Its
rates come from two more steps:

    pool      PROCESSES timing-only runs of the plan, every case in a fresh process, as the A/B measures a side
    simulate  NIGHTS consecutive nights of the wall-clock A/B, each process drawn from the pool, through the A/B's
              own loop and two-night rule (cases over the between-night spread left out, as in the job); TRIALS
              nights pairs with a 10% slower step in one case; counts A/A and a 3% increase from `--counts`
              results files of `--measure instructions` runs; a 2 pp accuracy drop checked by `history check`
              against the collected real nights

    python benchmarks/regression_rates.py pool --plan quick --processes 40 --out reports/nightly-sim
    python benchmarks/regression_rates.py collect --plan quick --nights 12 --trials 0 --out reports/nightly-sim
    python benchmarks/regression_rates.py simulate --out reports/nightly-sim --counts RUN1.json RUN2.json ...

Not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from suite.metrics import TRAIN_RATE  # noqa: E402
from suite.results.gate import DEFAULT_LAST as GATE_LAST  # noqa: E402  (repository root first)
from suite.train import INJECT_SLOWDOWN_CASE_ENV, INJECT_SLOWDOWN_ENV  # noqa: E402

NIGHTS = 12  # collected nights: the gate's baseline (GATE_LAST) and two nights to check
NIGHT_SETS = ["threads=1"]  # as nightly.yml: one intra-op thread per case (see README, nightly gate)
SHARDS = 2


def pytest_command(plan: str, out: Path, extra: list[str]) -> list[str]:
    """The nightly job's pytest command for one shard or one case."""
    sets = [arg for pair in NIGHT_SETS for arg in ("--set", pair)]
    return [sys.executable, "-m", "pytest", "benchmarks", "--plan", plan, *sets, "-q", "-p", "no:cacheprovider",
            "--benchmark-json", str(out), *extra]


def run_night(plan: str, folder: Path, env: dict) -> Path:
    """One night: every shard in a fresh process, then merge; returns the merged results file."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for k in range(1, SHARDS + 1):
        part = folder / f"part-{k}.json"
        subprocess.run(pytest_command(plan, part, ["--shard", f"{k}/{SHARDS}"]), cwd=REPO, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        parts.append(str(part))
    merged = folder / "results.json"
    subprocess.run([sys.executable, "-m", "suite.cli", "merge", *parts, "--out", str(merged)], cwd=REPO, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    return merged


def run_injected(plan: str, case_id: str, folder: Path, slowdown: float) -> Path:
    """A whole night of the plan, every shard a fresh process, with the slowdown injected into one case's training
    step (the case among its night's other cases, as a slowed build would run); returns the merged results."""
    env = {**os.environ, INJECT_SLOWDOWN_ENV: str(slowdown), INJECT_SLOWDOWN_CASE_ENV: case_id}
    return run_night(plan, folder, env)


def collect(args) -> int:
    """Measure the clean nights, then the injected trials."""
    out = Path(args.out)
    env = {k: v for k, v in os.environ.items() if k not in (INJECT_SLOWDOWN_ENV, INJECT_SLOWDOWN_CASE_ENV)}
    start = time.perf_counter()
    for night in range(1, args.nights + 1):
        folder = out / f"night-{night:03d}"
        if (folder / "results.json").exists():
            continue  # collect resumes where it stopped
        print(f"night {night}/{args.nights}: load {os.getloadavg()[0]:.2f} ({time.perf_counter() - start:.0f} s)",
              file=sys.stderr, flush=True)
        run_night(args.plan, folder, env)
    ids = sorted(b["extra_info"]["case_id"] for b in json.loads((out / "night-001" / "results.json").read_text())
                 ["benchmarks"] if b["group"] == "train")
    trials = random.Random(0).sample(ids, min(args.trials, len(ids)))
    (out / "trials.json").write_text(json.dumps({"slowdown": args.slowdown, "cases": trials}, indent=1))
    for index, case_id in enumerate(trials, 1):
        for night in (1, 2):
            target = out / "injected" / f"trial-{index:03d}-night-{night}.json"
            if not target.exists():
                merged = run_injected(args.plan, case_id, out / "injected" / f"trial-{index:03d}-night-{night}",
                                      args.slowdown)
                target.write_text(merged.read_text())
        print(f"trial {index}/{len(trials)}: load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
    print(f"collected in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


def collect_pool(args) -> int:
    """PROCESSES timing-only runs of the plan, every case in a fresh process (`--isolation process`), as the
    nightly wall-clock A/B measures each side: the pool `simulate` draws its processes from. Resumes."""
    out = Path(args.out) / "pool"
    start = time.perf_counter()
    for index in range(1, args.processes + 1):
        folder = out / f"run-{index:03d}"
        if (folder / "results.json").exists():
            continue
        print(f"pool run {index}/{args.processes}: load {os.getloadavg()[0]:.2f} ({time.perf_counter() - start:.0f} s)",
              file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "suite.cli", "run", "--plan", args.plan,
                        *[arg for pair in NIGHT_SETS for arg in ("--set", pair)], "--isolation", "process",
                        "--timing-only", "--out", str(folder)], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return 0


def load_pool(folder: Path) -> dict[str, dict[str, list[float]]]:
    """case id -> {A/B metric: one figure per measured process, as `tradeoff-bench ab` takes it}."""
    from suite.commands.ab import process_figures
    from suite.results.schema import load_run

    pool: dict[str, dict[str, list[float]]] = {}
    for path in sorted(folder.glob("run-*/results.json")):
        for case in load_run(path).cases:
            if case.status == "ok":
                for metric, figure in process_figures(case.samples).items():
                    pool.setdefault(case.case_id, {}).setdefault(metric, []).append(figure)
    return pool


def load_counts(paths: list[str]) -> dict[str, dict[str, list[float]]]:
    """case id -> {counted metric: one count per process} from `--measure instructions` results files."""
    from suite.commands.ab import COUNTED
    from suite.results.schema import load_run

    counts: dict[str, dict[str, list[float]]] = {}
    for path in paths:
        for case in load_run(path).cases:
            for metric in COUNTED:
                if metric in case.metrics:
                    counts.setdefault(case.case_id, {}).setdefault(metric, []).append(case.metrics[metric])
    return counts


def simulated_night(pool: dict, cases: list[str], rng: random.Random, slow: dict, previous: list | None,
                    max_pairs: int = 15) -> list:
    """One night's wall-clock A/B of every case in `cases`, each process drawn from the pool (HEAD's training step
    times `slow[case]`), through the A/B's own loop and two-night rule: the records."""
    from suite.commands.ab import pairs_until_decided, two_night_rule

    records = []
    for case_id in cases:
        def measure(side, case_id=case_id):
            draw = {metric: rng.choice(times) for metric, times in pool[case_id].items()}
            if side == "head":
                draw["train_step"] *= slow.get(case_id, 1.0)
            return draw

        records.append({"case_id": case_id, **pairs_until_decided(measure, 3, max_pairs, say=lambda line: None)})
    two_night_rule(records, previous or [])
    return records


def accuracy_trials(nights: list[Path], trials: int, drop_pp: float, rng: random.Random) -> str:
    """A `drop_pp` accuracy drop in one case, checked by `history check` against the GATE_LAST real nights before it
    (each trial a rotation of the collected nights and a case drawn at random): the line of its rate."""
    import tempfile

    from suite.results.schema import load_run

    work = Path(tempfile.mkdtemp(prefix="accuracy-"))
    case_ids = [c.case_id for c in load_run(nights[0]).cases if c.status == "ok"]
    hits = 0
    for trial in range(trials):
        rotation = trial % len(nights)
        order = nights[rotation:] + nights[:rotation]
        base = work / f"rotation-{rotation}" / "history.sqlite"
        if not base.exists():  # the same 10 nights for every trial of a rotation: replayed once
            replay = Replay(base.parent)
            for path in order[:GATE_LAST]:
                replay.night(path)
            replay.conn.close()
        folder = work / f"t{trial}"
        folder.mkdir()
        shutil.copy(base, folder / "history.sqlite")
        dropped = spliced(order[GATE_LAST], None, (case_id := rng.choice(case_ids)), drop_pp, folder, "drop")
        hits += any(r.case_id == case_id and r.metric == "test_accuracy" and r.verdict == "regressed"
                    for r in Replay(folder).night(dropped).rows)
    return (f"- accuracy: a {drop_pp:g} pp drop in one case `regressed` the first night in {interval(hits, trials)} "
            f"trials (`history check` against the {GATE_LAST} real nights before it, of {len(nights)} collected)")


def flagged(records: list, verdict: str = "regressed") -> list[tuple[str, str]]:
    """(case, metric) of every verdict equal to `verdict`."""
    return [(r["case_id"], m) for r in records for m, d in r["metrics"].items() if d["verdict"] == verdict]


def ratio(pair) -> float:
    """HEAD/BASE of a (base, head) pair."""
    return pair[1] / pair[0]


def simulate(args) -> int:
    """The nightly gate's rates over NIGHTS simulated nights and TRIALS trials, drawn from measured processes."""
    from suite.commands.ab import count_verdict
    from suite.results.compare import robust_log_spread

    out = Path(args.out)
    rng = random.Random(args.seed)
    pool = load_pool(out / "pool")
    sizes = sorted(len(p["train_step"]) for p in pool.values())
    if not sizes or sizes[0] < 10:
        raise SystemExit(f"the pool needs at least 10 processes per case ({out / 'pool'}: {sizes})")
    # as the job's --history leaves cases out (suite.results.history.between_night_spreads; a log spread is the
    # same for step times and for the throughput they give)
    spreads = {case_id: robust_log_spread(p["train_step"]) for case_id, p in pool.items()}
    included = sorted(c for c in pool if 100 * spreads[c] <= args.max_spread)
    lines = [f"pool: {len(pool)} cases, {sizes[0]} to {sizes[-1]} processes each; left out of the wall-clock verdict "
             f"(between-process spread > {args.max_spread:g}%): "
             + (", ".join(f"{c} ({100 * spreads[c]:.0f}%)" for c in pool if c not in included) or "none")]
    previous, false_nights = None, 0
    for _ in range(args.nights):  # A/A: consecutive nights, the two-night rule across them
        records = simulated_night(pool, included, rng, {}, previous, args.max_pairs)
        false_nights += bool(flagged(records))
        previous = records
    lines.append(f"- wall-clock A/A: {interval(false_nights, args.nights)} nights with a false `regressed` "
                 f"(any case, training step or batch-1 latency; {len(included)} cases a night, at most "
                 f"{args.max_pairs} pairs each)")
    caught = 0
    for _ in range(args.trials):  # a 10% slower training step in one case, from the first of two nights
        case_id = rng.choice(included)
        first = simulated_night(pool, included, rng, {case_id: 1 + args.slowdown}, None, args.max_pairs)
        second = simulated_night(pool, included, rng, {case_id: 1 + args.slowdown}, first, args.max_pairs)
        caught += (case_id, "train_step") in flagged(second)
    lines.append(f"- wall-clock: a {args.slowdown:.0%} slower training step in one case `regressed` within 2 nights "
                 f"in {interval(caught, args.trials)} trials")
    counts = load_counts(args.counts)
    if counts:
        count_sizes = sorted(len(v) for c in counts.values() for v in c.values())
        false_counts, caught_counts = 0, 0
        for _ in range(args.nights):
            false_counts += any(count_verdict(ratio(rng.sample(v, 2)), m) == "regressed"  # two distinct processes
                                for c in counts.values() for m, v in c.items())
        for _ in range(args.trials):
            c = counts[rng.choice(sorted(counts))]
            metric = rng.choice(sorted(c))
            base, head = rng.sample(c[metric], 2)
            caught_counts += count_verdict(head * (1 + args.count_increase) / base, metric) == "regressed"
        lines.append(f"- counts A/A: {interval(false_counts, args.nights)} nights with a false `regressed` "
                     f"({len(counts)} cases x 2 counts; {count_sizes[0]} to {count_sizes[-1]} measured processes each)")
        lines.append(f"- counts: a {args.count_increase:.0%} instruction increase `regressed` the first night in "
                     f"{interval(caught_counts, args.trials)} trials")
    nights = sorted(out.glob("night-*/results.json"))
    if len(nights) > GATE_LAST:
        lines.append(accuracy_trials(nights, args.trials, args.accuracy_drop_pp, rng))
    print("\n".join(lines))
    (out / "simulated.md").write_text("\n".join(lines) + "\n")
    return 0


def main(argv=None) -> int:
    """collect | rates | pool | simulate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    c = steps.add_parser("collect", help="measure clean nights and injected trials")
    c.add_argument("--plan", default="default")
    c.add_argument("--nights", type=int, default=NIGHTS)
    c.add_argument("--trials", type=int, default=20)
    c.add_argument("--slowdown", type=float, default=0.10)
    c.add_argument("--out", default="reports/nightly-sim")
    c.set_defaults(func=collect)
    r = steps.add_parser("rates", help="replay the collected nights through the gate")
    r.add_argument("--out", default="reports/nightly-sim")
    r.add_argument("--base", type=int, default=GATE_LAST, help=f"nights in the baseline before a checked night "
                   f"(default {GATE_LAST}, the gate's own)")
    r.add_argument("--accuracy-drop-pp", type=float, default=2.0)
    r.set_defaults(func=rates)
    pool = steps.add_parser("pool", help="timing-only runs in fresh processes: the pool `simulate` draws from")
    pool.add_argument("--plan", default="quick")
    pool.add_argument("--processes", type=int, default=40)
    pool.add_argument("--out", default="reports/nightly-sim")
    pool.set_defaults(func=collect_pool)
    sim = steps.add_parser("simulate", help="the in-job A/B gate's rates over nights drawn from the pool")
    sim.add_argument("--out", default="reports/nightly-sim")
    sim.add_argument("--nights", type=int, default=100)
    sim.add_argument("--trials", type=int, default=100)
    sim.add_argument("--slowdown", type=float, default=0.10)
    sim.add_argument("--count-increase", type=float, default=0.03)
    sim.add_argument("--max-spread", type=float, default=15.0)
    sim.add_argument("--max-pairs", type=int, default=15, help="the A/B's cap (tradeoff-bench ab --max-pairs)")
    sim.add_argument("--counts", nargs="*", default=[], help="results files of `--measure instructions` runs")
    sim.add_argument("--accuracy-drop-pp", type=float, default=2.0)
    sim.add_argument("--seed", type=int, default=0)
    sim.set_defaults(func=simulate)
    args = parser.parse_args(argv)
    return args.func(args)


def spliced(night: Path, replacement: Path | None, case_id: str, drop_pp: float, folder: Path, name: str) -> Path:
    """A night's results with one case's benchmarks taken from `replacement` (an injected measurement)
    and/or its test accuracy lowered by `drop_pp`; written to folder/name."""
    doc = json.loads(night.read_text())
    if replacement is not None:
        injected = [b for b in json.loads(replacement.read_text())["benchmarks"]
                    if b["extra_info"]["case_id"] == case_id]
        doc["benchmarks"] = [b for b in doc["benchmarks"] if b["extra_info"]["case_id"] != case_id] + injected
    for bench in doc["benchmarks"]:
        extra = bench["extra_info"]
        if drop_pp and extra["case_id"] == case_id and isinstance(extra.get("test_accuracy"), float):
            extra["test_accuracy"] -= drop_pp / 100
    doc["datetime"] = f"{doc['datetime']}+{name}"  # a distinct run for the history
    path = folder / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path


class Replay:
    """A fresh history database fed night by night as nightly.yml does: check, then add with the verdicts."""

    def __init__(self, folder: Path):
        from suite.results.history import open_history

        folder.mkdir(parents=True, exist_ok=True)
        self.conn = open_history(folder / "history.sqlite")

    def night(self, path: Path):
        """Check then add one night; returns the check's comparison."""
        from suite.results.gate import check_run
        from suite.results.history import add_run, file_digest
        from suite.results.schema import load_run

        run, digest = load_run(path), file_digest(path)
        result = check_run(self.conn, run, digest)
        add_run(self.conn, run, digest, result.verdicts())
        return result.comparison


def interval(hits: int, total: int) -> str:
    """'hits/total (percent, 95% Clopper-Pearson interval)'."""
    from scipy.stats import binomtest

    if not total:
        return "0/0"
    low, high = binomtest(hits, total).proportion_ci(0.95, method="exact")
    return f"{hits}/{total} ({100 * hits / total:.0f}%, 95% CI {100 * low:.0f}-{100 * high:.0f}%)"


def rates(args) -> int:
    """Replay the collected nights through the gate and print the three rates."""
    import tempfile

    out = Path(args.out)
    nights = sorted(out.glob("night-*/results.json"))
    trials = json.loads((out / "trials.json").read_text())
    base = args.base
    if len(nights) < base + 2:
        raise SystemExit(f"need at least {base + 2} nights, {len(nights)} collected")
    work = Path(tempfile.mkdtemp(prefix="replay-"))
    aa, aa_rows, suspects = 0, [], 0
    for r in range(len(nights)):  # each rotation checks one night against the `base` nights before it
        order = nights[r:] + nights[:r]
        replay = Replay(work / f"aa-{r}")
        for path in order[:base]:
            replay.night(path)
        comparison = replay.night(order[base])
        flagged = comparison.regressed
        aa += bool(flagged)
        suspects += sum(row.verdict == "suspect" for row in comparison.rows)
        aa_rows += [f"{order[base].parent.name}: {row.case_id} {row.metric} {row.change:+.1f}% ({row.test})"
                    for row in flagged]
    slow_hits, slow_first, slow_rows, acc_hits = 0, 0, [], 0
    for index, case_id in enumerate(trials["cases"], 1):
        order = nights[index % len(nights):] + nights[:index % len(nights)]
        replay = Replay(work / f"slow-{index}")
        for path in order[:base]:
            replay.night(path)
        verdicts = []
        for night in (1, 2):
            injected = out / "injected" / f"trial-{index:03d}-night-{night}.json"
            path = spliced(order[base + night - 1], injected, case_id, 0.0, work / f"slow-{index}", f"s{night}")
            rows = [r for r in replay.night(path).rows if r.case_id == case_id and r.metric == TRAIN_RATE]
            verdicts.append(rows[0].verdict if rows else "absent")
        slow_hits += "regressed" in verdicts
        slow_first += verdicts[0] in ("regressed", "suspect")
        slow_rows.append(f"{case_id}: {' then '.join(verdicts)}")
        replay = Replay(work / f"acc-{index}")
        for path in order[:base]:
            replay.night(path)
        dropped = spliced(order[base], None, case_id, args.accuracy_drop_pp, work / f"acc-{index}", "drop")
        acc_hits += any(r.case_id == case_id and r.metric == "test_accuracy" and r.verdict == "regressed"
                        for r in replay.night(dropped).rows)
    n_trials = len(trials["cases"])
    summary = {"nights": len(nights), "base": base, "aa_false_alarm_nights": aa, "aa_checks": len(nights),
               "aa_suspect_rows": suspects, "aa_regressed_rows": aa_rows, "slowdown": trials["slowdown"],
               "slowdown_flagged_within_2_nights": slow_hits, "slowdown_suspect_first_night": slow_first,
               "slowdown_trials": n_trials, "slowdown_verdicts": slow_rows,
               "accuracy_drop_pp": args.accuracy_drop_pp, "accuracy_flagged_first_night": acc_hits}
    (out / "rates.json").write_text(json.dumps(summary, indent=2))
    print(f"- A/A: {interval(aa, len(nights))} nights with a false alarm (any `regressed` verdict, all cases and "
          f"metrics of the night; each of {len(nights)} nights checked against the {base} before it); "
          f"{suspects} `suspect` rows in all")
    print(f"- injected {trials['slowdown']:.0%} training-step slowdown in one case: flagged `regressed` within 2 "
          f"nights in {interval(slow_hits, n_trials)} trials (suspect on the first night in {slow_first})")
    print(f"- injected {args.accuracy_drop_pp:g} pp accuracy drop in one case: flagged the first night in "
          f"{interval(acc_hits, n_trials)} trials")
    for row in aa_rows:
        print(f"  - A/A false alarm: {row}")
    for row in slow_rows:
        print(f"  - slowdown trial {row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
