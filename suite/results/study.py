"""The optimizer study: time-to-target, seeds, tuning trials and performance profiles. Imports no torch.

The flow, two passes of ordinary cases (DeepOBS's protocol: tune on one seed, rerun the winner on several):

    1. trials   each tuned case becomes `trials` cases whose lr is drawn log-uniformly from its optimizer's
                search space (numpy's seeded generator), trained on the training split minus a validation
                split and evaluated on that validation split only (eval_split = "validation")
    2. finals   per group of trials (a case up to lr), the trial with the best final validation accuracy
                wins; its lr is run with every seed on the full training split and evaluated on the test split

Selection reads only the trials' rows, whose held-out figures are validation figures: the test split is
never loaded into a trial (see suite.workloads.data.validation_split). Reports read both passes back from results.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from suite.metrics import STEPS_TO_TARGET, TEST_ACCURACY, TEST_LOSS, TIME_TO_TARGET_S, TRAIN_SECONDS, VAL_LOSS
from suite.plumbing.errors import ConfigError, shown

ACCURACY_KEY = TEST_ACCURACY  # accuracy on the case's held-out split (validation for trials)
TARGET_KEYS = (TIME_TO_TARGET_S, "epochs_to_target")
TUNING_KEYS = ("trials", "seed", "lr")
CONFIDENCE = 0.95


def time_to_target(history: list[dict], target: float, key: str = ACCURACY_KEY) -> tuple[float | None, int | None]:
    """(training seconds, epochs) until the first epoch whose held-out accuracy reaches `target`, or
    (None, None) when no epoch does. The clock is the history's training clock: evaluation excluded
    (MLPerf Training's time-to-train likewise stops at the first evaluation that meets the quality target)."""
    entry = first_reaching(history, target, key)
    return (entry["wall_time_s"], entry["epoch"]) if entry else (None, None)


def first_reaching(history: list[dict], target: float, key: str, lower_is_better: bool = False) -> dict | None:
    """The first history entry whose `key` reaches `target` (at least it, or at most it when lower is better)."""
    for entry in history:
        value = entry.get(key)
        if value is not None and (value <= target if lower_is_better else value >= target):
            return entry
    return None


def target_metrics(case, history: list[dict]) -> dict:
    """Time to the case's target, read off its history: `time_to_target_s` (training clock) and the epochs
    (`epochs_to_target`) or, under a steps budget, the optimizer steps (`steps_to_target`) it took; null figures
    when the budget never reached it, nothing without a target. The target is a held-out accuracy
    (target_accuracy) or a held-out loss (target_val_loss, lower is better)."""
    if case.target_accuracy is not None:
        entry = first_reaching(history, case.target_accuracy, ACCURACY_KEY)
    elif case.target_val_loss is not None:
        entry = first_reaching(history, case.target_val_loss, TEST_LOSS, lower_is_better=True)
    else:
        return {}
    count = (STEPS_TO_TARGET, "step") if case.steps is not None else ("epochs_to_target", "epoch")
    return {TIME_TO_TARGET_S: entry and entry["wall_time_s"], count[0]: entry and entry[count[1]]}


NO_CURVE_REASON = ("no time to target: the compressed model has no training curve of its own (quantized after "
                   "training, or pruned without fine-tuning), and the curve before compression is another model's")


def compressed_target_metrics(case, history: list[dict], train_seconds: float, finetune_history) -> dict:
    """Time to the case's target of a compressed model. Pruned and fine-tuned (`finetune_history`: the fine-tune's
    own history, the model not quantized after it): the training before pruning (`train_seconds`, and the epochs
    and steps of `history`) plus the fine-tune curve to the target, null when that curve never reaches it. Any
    other compressed model (`finetune_history` None) has no curve: no figures, `time_to_target_s_reason` instead.
    Nothing without a target."""
    if case.target_accuracy is None and case.target_val_loss is None:
        return {}
    if finetune_history is None:
        return {f"{TIME_TO_TARGET_S}_reason": NO_CURVE_REASON}
    before = history[-1] if history else {"epoch": 0, "step": 0}
    shifted = [entry | {"wall_time_s": train_seconds + entry["wall_time_s"], "epoch": before["epoch"] + entry["epoch"],
                        "step": before["step"] + entry["step"]} for entry in finetune_history]
    return target_metrics(case, shifted)


def interval(values) -> dict:
    """Mean, sample standard deviation and the two-sided 95% Student-t interval of the mean of `values`
    (None entries dropped); n counts the values used. One value gives a zero-width interval, sd 0."""
    from scipy import stats

    a = np.asarray([v for v in values if v is not None], dtype=float)
    if a.size == 0:
        return {"mean": None, "sd": None, "low": None, "high": None, "n": 0}
    mean = float(a.mean())
    sd = float(a.std(ddof=1)) if a.size > 1 else 0.0
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, a.size - 1)) * sd / math.sqrt(a.size) if a.size > 1 else 0.0
    return {"mean": mean, "sd": sd, "low": mean - half, "high": mean + half, "n": int(a.size)}


def real_difference(a: dict, b: dict) -> bool:
    """Whether two `interval` results differ by more than the seed spread: their 95% intervals do not
    overlap (a conservative test; overlapping intervals can still differ, non-overlapping ones do)."""
    if a["n"] == 0 or b["n"] == 0:
        return False
    return a["low"] > b["high"] or b["low"] > a["high"]


def group_key(case: dict, *ignore: str) -> tuple:
    """A hashable key of a case's fields, the `ignore`d ones left out (e.g. "seed" to pool seeds)."""
    return tuple(sorted((k, v) for k, v in case.items() if k not in ignore))


def group_rows(rows: list[dict], *ignore: str) -> dict[tuple, list[dict]]:
    """Rows grouped by their case fields except the `ignore`d ones, in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(group_key(row["case"], *ignore), []).append(row)
    return groups


def seed_summary(rows: list[dict], metrics: tuple[str, ...]) -> list[dict]:
    """One record per case up to its seed: the shared case fields (seed dropped), the seeds and
    an `interval` per metric across them."""
    summary = []
    for members in group_rows(rows, "seed").values():
        case = {k: v for k, v in members[0]["case"].items() if k != "seed"}
        record = {"case": case, "seeds": [m["case"]["seed"] for m in members], "rows": members}
        record |= {metric: interval([m.get(metric) for m in members]) for metric in metrics}
        summary.append(record)
    return summary


@dataclass(frozen=True)
class Tuning:
    """A plan's [tuning] table: `trials` learning rates per optimizer drawn log-uniformly from
    `spaces[optimizer] = (low, high)` by a generator seeded with `seed`."""

    trials: int
    seed: int
    spaces: dict

    def sample_lrs(self, optimizer: str) -> list[float]:
        """The optimizer's trial learning rates, the same for every run of the plan. Each optimizer has its own
        stream (seed and a CRC-32 of its name), so adding an optimizer leaves the others' draws unchanged."""
        low, high = self.spaces[optimizer]
        rng = np.random.default_rng([self.seed, zlib.crc32(optimizer.encode())])
        return [float(f"{v:.3g}") for v in np.exp(rng.uniform(math.log(low), math.log(high), self.trials))]


def parse_tuning(table, optimizers, where: str) -> Tuning:
    """A validated Tuning from a plan's [tuning] table; `optimizers` are the valid names for [tuning.lr]."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [tuning] must be a table with keys {', '.join(TUNING_KEYS)}")
    unknown = sorted(set(table) - set(TUNING_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown [tuning] key {unknown[0]!r}; valid keys: {', '.join(TUNING_KEYS)}")
    trials, seed, spaces = table.get("trials"), table.get("seed", 0), table.get("lr")
    for name, value, minimum in (("trials", trials, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{where}: [tuning] {name} must be an integer >= {minimum}, got {shown(value)}")
    if not isinstance(spaces, dict) or not spaces:
        raise ConfigError(f"{where}: [tuning.lr] must map optimizers to [low, high]; valid optimizers: "
                          f"{', '.join(optimizers)}")
    for name, space in spaces.items():
        if name not in optimizers:
            raise ConfigError(f"{where}: [tuning.lr] unknown optimizer {shown(name)}; "
                              f"valid choices: {', '.join(optimizers)}")
        if (not isinstance(space, list) or len(space) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e300 for v in space)
                or not 0 < space[0] < space[1]):  # 1e300: finite, and far from float overflow in the sampler
            raise ConfigError(f"{where}: [tuning.lr] {name} must be [low, high] with 0 < low < high, "
                              f"got {shown(space)}")
    return Tuning(trials, seed, {name: (float(lo), float(hi)) for name, (lo, hi) in spaces.items()})


def expand_study(cases, seeds: int, tuning: Tuning | None) -> tuple:
    """The cases of the first pass: a tuned case's trials (validation split, its own seed), and every
    other case once per seed (seed, seed + 1, ...)."""
    expanded = {}
    for case in cases:
        if tuning is not None and case.optimizer in tuning.spaces:
            variants = [case.replace(lr=lr, eval_split="validation") for lr in tuning.sample_lrs(case.optimizer)]
        else:
            variants = [case.replace(seed=case.seed + i) for i in range(seeds)]
        for variant in variants:
            expanded.setdefault(variant.id, variant)
    return tuple(expanded.values())


def records(results) -> list[dict]:
    """The rows the study reads, one per CaseResult: {"case", "case_id", "status", **metrics}."""
    return [{"case": r.case, "case_id": r.case_id, "status": r.status, **r.metrics} for r in results]


def is_trial(row: dict) -> bool:
    """Whether a row is a tuning trial (evaluated on the validation split)."""
    return row["case"].get("eval_split") == "validation"


def _rank(row: dict) -> tuple:
    accuracy, seconds, loss = row.get(ACCURACY_KEY), row.get(TARGET_KEYS[0]), row.get(VAL_LOSS)
    quality = -loss if loss is not None else accuracy or 0.0  # a language model is judged on its held-out loss
    return (quality, seconds is not None, -(seconds or 0.0), -row["case"]["lr"])


def select(rows: list[dict]) -> dict[tuple, dict]:
    """The winning trial row per group of trials (case fields up to lr): the best final validation
    accuracy (the lowest validation loss for a language model), then the shorter validation time-to-target,
    then the smaller lr. Reads trial rows only;
    a group none of whose trials finished with an accuracy (all diverged or failed) has no winner."""
    winners = {}
    for key, members in group_rows([row for row in rows if is_trial(row)], "lr").items():
        best = max(members, key=_rank)
        if best.get(ACCURACY_KEY) is not None:
            winners[key] = best
    return winners


def final_cases(plan, rows: list[dict]) -> list:
    """The second pass: each winning trial's lr with every seed of the plan, on the test split (empty for a
    plan without tuning)."""
    if plan.tuning is None:
        return []
    trials = {case.id: case for case in plan.cases}
    finals = []
    for winner in select(rows).values():
        chosen = trials[winner["case_id"]].replace(eval_split="test")
        finals += [chosen.replace(seed=chosen.seed + i) for i in range(plan.seeds)]
    return finals


def in_phases(plan, cases: list, done: dict):
    """Yield the cases still to run, phase by phase: first those of `cases` not in `done` (case id ->
    CaseResult); then, once the caller has recorded that phase's results in `done`, the finals selected from
    them (appended to `cases`). A study's finals thus start only when every trial is in."""
    yield [c for c in cases if c.id not in done]
    known = {c.id for c in cases}
    finals = [case for case in final_cases(plan, records(done.values())) if case.id not in known]
    cases.extend(finals)
    yield [c for c in finals if c.id not in done]


def selected_finals(rows: list[dict]) -> list[dict]:
    """seed_summary records of the final runs (test split) of each selected trial, in trial order, with
    the winning trial row (`trial`) and its group's trials (`trials`) attached."""
    finals = seed_summary([row for row in rows if not is_trial(row)],
                          (ACCURACY_KEY, *TARGET_KEYS, "eval_seconds", TRAIN_SECONDS))
    by_config = {group_key(record["case"], "eval_split"): record for record in finals}
    trial_groups = group_rows([row for row in rows if is_trial(row)], "lr")
    records_ = []
    for key, winner in select(rows).items():
        case = {k: v for k, v in winner["case"].items() if k != "seed"}
        record = by_config.get(group_key(case, "eval_split"))
        if record is not None:
            records_.append(record | {"trial": winner, "trials": trial_groups[key]})
    return records_


def performance_profile(times: dict[str, dict[str, float | None]], taus) -> dict[str, list[float]]:
    """Dolan and Moré (2002) performance profiles, as AlgoPerf (Dahl et al. 2023, sec. 4.5) scores
    training algorithms: `times[problem][optimizer]` is a time-to-target (None: never reached). For each
    optimizer, rho(tau) is the fraction of problems on which its time is within a factor tau of the best
    optimizer's time on that problem. A problem no optimizer solved counts against every optimizer."""
    optimizers = sorted({name for per_problem in times.values() for name in per_problem})
    ratios = {name: [] for name in optimizers}
    for per_problem in times.values():
        reached = [t for t in per_problem.values() if t is not None]
        best = min(reached) if reached else None
        for name in optimizers:
            t = per_problem.get(name)
            ratios[name].append(t / best if t is not None and best else math.inf)
    count = max(len(times), 1)
    return {name: [sum(r <= tau for r in ratios[name]) / count for tau in taus] for name in optimizers}


STUDY_KEYS = ("seeds", "target_accuracy", "tuning", "optional_datasets")


def parse_study(doc: dict, where: str, optimizers, datasets) -> dict:
    """The plan-level study keys, validated: `seeds` (int >= 1), `target_accuracy` (a fraction, or a table
    dataset -> fraction), [tuning] (see parse_tuning) and `optional_datasets` (skipped when absent)."""
    seeds = doc.get("seeds", 1)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"{where}: seeds must be an integer >= 1, got {shown(seeds)}")
    target = doc.get("target_accuracy", {})
    targets = target if isinstance(target, dict) else dict.fromkeys(datasets, target)
    for name, value in targets.items():
        if name not in datasets:
            raise ConfigError(f"{where}: target_accuracy for unknown dataset {shown(name)}; valid choices: "
                              f"{', '.join(datasets)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ConfigError(f"{where}: target_accuracy must be a fraction in (0, 1], got {shown(value)}")
    optional = doc.get("optional_datasets", [])
    if not isinstance(optional, list) or any(name not in datasets for name in optional):
        raise ConfigError(f"{where}: optional_datasets must be a list of datasets; "
                          f"valid choices: {', '.join(datasets)}")
    tuning = parse_tuning(doc["tuning"], optimizers, where) if "tuning" in doc else None
    return {"seeds": seeds, "targets": targets, "tuning": tuning, "optional_datasets": tuple(optional)}
