"""The first answer of a report whose plan searches the levers of a model (the `fastest` plan): per model, the
configuration that trains fastest while its mean test accuracy over the seeds stays within 0.5 pp of the same
model's PyTorch fp32 eager base, its speed-up over that base and over the seed's Keras reference row, and why the
others lost.

Speed is end-to-end training throughput (`train_e2e_samples_per_s`: samples over the accuracy run's training wall
time), the one figure a Keras fit and a PyTorch loop both measure the same way. A speed-up is the geometric mean of
the per-seed ratios with its 95% t-interval (suite.results.ab_stats.ratio_interval, paired by seed): between
processes when the run measured each case in its own (`--isolation process`), else between seeds of one process,
and the sentence says which. A configuration competes with its model's base when it differs from it only in
levers and batch size; a lever the CPU lacks (bf16 emulated, int8 without VNNI) is named as the reason it lost.
"""

from __future__ import annotations

from suite.metrics import TEST_ACCURACY, TRAIN_E2E_SAMPLES_PER_S
from suite.report.grouping import SEED, Group, field_text, layout
from suite.report.hardware import WHAT
from suite.report.sections import Section
from suite.report.tradeoffs import ratio_number
from suite.results.ab_stats import ratio_interval

SPEED = TRAIN_E2E_SAMPLES_PER_S
QUALITY = TEST_ACCURACY
TOLERANCE = 0.005  # 0.5 pp of the base's mean accuracy
# The fields the search varies, with their defaults (a results file written before a field existed lacks it).
LEVER_DEFAULTS = {"precision": "fp32", "compile": "none", "memory_format": "contiguous", "quantization": "none",
                  "pruning": "none", "threads": None, "allocator": "glibc", "omp_bind": "none",
                  "interop_threads": None, "matmul_precision": "highest", "fused": False, "runtime": "torch",
                  "finetune_epochs": None, "framework": "torch"}
SEARCHED = {*LEVER_DEFAULTS, "batch_size"}
KERAS = "framework"


def differences(case: dict, base: dict) -> list[str]:
    """The fields (seed excepted) where a case differs from a base; a lever a file lacks reads as its default, and
    an unset thread count differs from a set one (unlike the report's axes, where None is "does not apply")."""
    value = lambda fields, name: fields.get(name, LEVER_DEFAULTS.get(name))  # noqa: E731
    return [k for k in dict.fromkeys([*base, *case]) if k != SEED and value(case, k) != value(base, k)]


def is_base(group: Group) -> bool:
    """Whether a configuration is PyTorch fp32 eager with every lever at its default."""
    return all(group.case.get(name, default) == default for name, default in LEVER_DEFAULTS.items())


def label(group: Group, base: Group) -> str:
    """A configuration named by what it changes from its model's base ("base" for the base itself); a value that
    does not name its field ("default") comes with the field's name."""
    texts = [f"{name} {value}" if (value := group.case.get(name)) in ("default", "none") else field_text(name, value)
             for name in differences(group.case, base.case)]
    return ", ".join(texts) or "base"


def speed(group: Group) -> float | None:
    """The mean end-to-end training throughput over the seeds, from the layout's table."""
    return group.value(SPEED)


def by_seed(group: Group) -> dict:
    """seed -> end-to-end training throughput of each ok member."""
    return {m.case.get("seed"): m.metrics[SPEED] for m in group.ok if isinstance(m.metrics.get(SPEED), (int, float))}


def speedup(base: Group, group: Group, where: str) -> str:
    """"2.31x (95% CI 2.20-2.43, 3 seeds between processes)" of `group` over `base`, paired by seed."""
    a, b = by_seed(base), by_seed(group)
    seeds = sorted(set(a) & set(b), key=str)
    if not seeds:
        return "no speed-up (no seed measured on both sides)"
    r = ratio_interval([a[s] for s in seeds], [b[s] for s in seeds])
    if len(seeds) < 2:
        return f"{ratio_number(r.ratio)}x (one seed: no interval)"
    held = "; the interval holds 1: not shown to differ" if r.low <= 1 <= r.high else ""
    return (f"{ratio_number(r.ratio)}x (95% CI {ratio_number(r.low)}-{ratio_number(r.high)}, {len(seeds)} seeds "
            f"{where}{held})")


def mean_accuracy(group: Group) -> float | None:
    """The mean test accuracy over the seeds, from the layout's table; None unless every seed is ok and has one."""
    if group.status != "ok" or len(group.values(QUALITY)) != len(group.members):
        return None
    return group.value(QUALITY)


def model_answer(base: Group, rivals: list[Group], keras: Group | None, where: str) -> list[str]:
    """The sentences for one model: the pick and its speed-ups, then why the faster or missing ones lost."""
    base_acc = mean_accuracy(base)
    if base_acc is None or not by_seed(base):  # nothing to be within 0.5 pp of, or no speed to compare with
        return []
    measured = [g for g in [base, *rivals] if by_seed(g) and mean_accuracy(g) is not None]
    eligible = [g for g in measured if mean_accuracy(g) >= base_acc - TOLERANCE - 1e-12]
    pick = max(eligible, key=speed)
    head = (f"`{base.case.get('model')}`: the fastest configuration within 0.5 pp of its fp32 eager base's accuracy "
            f"({100 * base_acc:.2f}%) is `{label(pick, base)}`: {speed(pick):,.0f} samples/s end to end, "
            f"{100 * mean_accuracy(pick):.2f}%")
    head += "." if pick is base else f", {speedup(base, pick, where)} the base's training throughput."
    lines = [head]
    if keras is not None and by_seed(keras):
        lines.append(f"Against the seed's Keras model (`{keras.case.get(KERAS)}`, {speed(keras):,.0f} samples/s end "
                     f"to end): {speedup(keras, pick, where)}.")
    elif keras is not None:
        lines.append(f"The seed's Keras model (`{keras.case.get(KERAS)}`) was {keras.status}: "
                     f"{next((m.reason for m in keras.members if m.reason), 'no figure')}.")
    lost = [f"`{label(g, base)}` ({100 * (mean_accuracy(g) - base_acc):+.2f} pp)"
            for g in measured if g not in eligible and speed(g) > speed(pick)]
    if lost:
        lines.append("Faster but outside the accuracy tolerance: " + ", ".join(lost) + ".")
    hardware = [f"`{label(g, base)}` ({WHAT[g.unsupported]})" for g in [base, *rivals]
                if g.unsupported and g is not pick]
    if hardware:
        lines.append("Ran without the hardware its lever needs, which is why it lost: " + ", ".join(hardware) + ".")
    skipped = [f"`{label(g, base)}` ({g.status}: {next((m.reason for m in g.members if m.reason), '')})"
               for g in rivals if g not in measured]
    if skipped:
        lines.append("Not measured: " + "; ".join(skipped) + ".")
    return lines


def fastest_lines(run) -> list[str]:
    """The answer's sentences for every model whose base has rivals that differ from it only in searched fields."""
    lay = layout(run)
    isolated = (run.machine_info.get("tradeoff_bench") or {}).get("procedure", {}).get("isolation") == "process"
    where = "between processes" if isolated else "between seeds of one process (run with --isolation process for " \
                                                  "intervals between processes)"
    lines, answered = [], []
    for base in [g for g in lay.groups if is_base(g)]:  # the first of a model's bases (batch sizes differ) answers
        same = [g for g in lay.groups if g is not base and set(differences(g.case, base.case)) <= SEARCHED]
        if any(g in same for g in answered):
            continue
        answered.append(base)
        rivals = [g for g in same if g.case.get(KERAS, "torch") == "torch"]
        keras = next((g for g in same if g.case.get(KERAS, "torch") != "torch"), None)
        if rivals:
            lines += model_answer(base, rivals, keras, where)
    return lines


def build_fastest(run) -> list[Section]:
    """The report's first section when the run searched a model's levers (nothing otherwise)."""
    lines = fastest_lines(run)
    if not lines:
        return []
    how = (f"Speed is {SPEED} (the training phase's samples over its wall time; Keras's fit after its warm-up "
           "epoch); accuracy is the mean over the seeds.")
    return [Section("Fastest configuration", [*lines, how])]
