"""The optimizer study's report sections: time-to-target per optimizer and schedule with seed intervals,
the tuning trials and their LR-sensitivity plot, and the performance profile across problems.

Figures are drawn from suite.results.study's records, so what a plot shows is what the tables list.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from suite.metrics import TRAIN_SECONDS
from suite.report.plots import new_figure, save
from suite.report.sections import BUILDERS, Section
from suite.results import study

TAUS = np.logspace(0, 1, 60)  # performance-profile factors 1..10 (AlgoPerf plots tau up to 4; gd needs more)


def problem(case: dict) -> str:
    """The problem a case belongs to: its dataset and model family (AlgoPerf's 'workload')."""
    return f"{case['dataset']}/{case['model']}"


def _fmt(iv: dict, scale: float = 1.0, digits: int = 3) -> str:
    """'mean ± sd [low, high]' of an interval, or '-' when it holds no value."""
    if iv["n"] == 0:
        return "-"
    m, sd, lo, hi = (iv[k] * scale for k in ("mean", "sd", "low", "high"))
    return f"{m:.{digits}g} ± {sd:.2g} [{lo:.{digits}g}, {hi:.{digits}g}]"


def summaries(rows: list[dict]) -> list[dict]:
    """The per-configuration seed summaries the study reports on: the finals of each selected trial
    when the run was tuned, else every case pooled over its seeds."""
    if any(study.is_trial(row) for row in rows):
        return study.selected_finals(rows)
    return study.seed_summary([r for r in rows if not study.is_trial(r)],
                              (study.ACCURACY_KEY, *study.TARGET_KEYS, "eval_seconds", TRAIN_SECONDS))


def reached(record: dict) -> str:
    """'n/N': seeds that reached the target out of seeds run."""
    return f"{record[study.TARGET_KEYS[0]]['n']}/{len(record['seeds'])}"


def time_table(records: list[dict]) -> pd.DataFrame:
    """One row per problem, optimizer and schedule: lr, test accuracy and time-to-target across seeds."""
    return pd.DataFrame([{
        "problem": problem(r["case"]), "optimizer": r["case"]["optimizer"], "schedule": r["case"]["schedule"],
        "lr": f"{r['case']['lr']:g}", "target": f"{r['case'].get('target_accuracy') or '-'}",
        "test acc (%) mean ± sd [95% CI]": _fmt(r[study.ACCURACY_KEY], 100),
        "time to target (s) mean ± sd [95% CI]": _fmt(r[study.TARGET_KEYS[0]]),
        "epochs to target": _fmt(r[study.TARGET_KEYS[1]], digits=2), "reached": reached(r),
        "train (s)": f"{r[TRAIN_SECONDS]['mean']:.3g}" if r[TRAIN_SECONDS]["n"] else "-",
        "eval (s), apart": f"{r['eval_seconds']['mean']:.3g}" if r["eval_seconds"]["n"] else "-",
    } for r in records])


def verdicts(records: list[dict]) -> list[str]:
    """Per problem: the fastest configuration to target (all seeds reaching it), and whether its lead over
    the runner-up is real (95% intervals apart) or within the seed spread."""
    lines = []
    by_problem: dict[str, list[dict]] = {}
    for r in records:
        if r[study.TARGET_KEYS[0]]["n"] == len(r["seeds"]):
            by_problem.setdefault(problem(r["case"]), []).append(r)
    for name, members in by_problem.items():
        members.sort(key=lambda r: r[study.TARGET_KEYS[0]]["mean"])
        best = members[0]
        label = f"{best['case']['optimizer']} + {best['case']['schedule']}"
        if len(members) == 1:
            lines.append(f"{name}: only {label} reached the target with every seed.")
            continue
        second = members[1]
        real = study.real_difference(best[study.TARGET_KEYS[0]], second[study.TARGET_KEYS[0]])
        lines.append(f"{name}: fastest to target is {label} ({best[study.TARGET_KEYS[0]]['mean']:.3g} s); its lead "
                     f"over {second['case']['optimizer']} + {second['case']['schedule']} "
                     f"({second[study.TARGET_KEYS[0]]['mean']:.3g} s) is "
                     + ("real: the 95% intervals across seeds do not overlap."
                        if real else "within the seed spread (the 95% intervals overlap): not a real difference."))
    return lines


def gd_note(records: list[dict]) -> str | None:
    """What full-batch gd's figures say, in numbers: its updates per run against the mini-batch ones'."""
    gd = [r for r in records if r["case"]["optimizer"] == "gd"]
    if not gd:
        return None
    steps = [row["history"][-1]["step"] for r in records if r["case"]["optimizer"] != "gd"
             for row in r["rows"] if row.get("history") and "step" in row["history"][-1]]
    best = max(gd, key=lambda r: r[study.ACCURACY_KEY]["mean"] or 0.0)
    hit = sum(r[study.TARGET_KEYS[0]]["n"] for r in gd)
    return (f"Full-batch gd makes one update per epoch ({best['case']['epochs']} updates in its budget"
            + (f", against {min(steps)}-{max(steps)} for the mini-batch optimizers" if steps else "")
            + f"). Its best test accuracy here is {100 * (best[study.ACCURACY_KEY]['mean'] or 0):.1f}% "
            f"({best['case']['schedule']}, {problem(best['case'])}), and {hit} of its "
            f"{sum(len(r['seeds']) for r in gd)} final runs reached the target: gd needs far more epochs "
            "than this budget gives, which these figures show rather than hide.")


def time_figure(records: list[dict]):
    """Time-to-target bars per optimizer (one bar per schedule) with 95% seed intervals, one panel per
    problem; a configuration that missed the target with any seed is marked 'x' at the axis."""
    problems = sorted({problem(r["case"]) for r in records})
    schedules = list(dict.fromkeys(r["case"]["schedule"] for r in records))
    fig, axes = new_figure(7.5, 2.8 * len(problems), nrows=len(problems), squeeze=False)
    for ax, name in zip(axes[:, 0], problems):
        members = [r for r in records if problem(r["case"]) == name]
        optimizers = list(dict.fromkeys(r["case"]["optimizer"] for r in members))
        width = 0.8 / len(schedules)
        for j, schedule in enumerate(schedules):
            for i, optimizer in enumerate(optimizers):
                r = next((m for m in members if m["case"]["optimizer"] == optimizer
                          and m["case"]["schedule"] == schedule), None)
                x = i + (j - (len(schedules) - 1) / 2) * width
                if r is None:
                    continue
                iv = r[study.TARGET_KEYS[0]]
                if iv["n"] == len(r["seeds"]):
                    ax.bar(x, iv["mean"], width, color=f"C{j}", label=schedule if i == 0 else None,
                           yerr=[[iv["mean"] - iv["low"]], [iv["high"] - iv["mean"]]], capsize=2)
                else:
                    ax.plot(x, 0, "x", color=f"C{j}", label=schedule if i == 0 else None)
        ax.set_xticks(range(len(optimizers)), optimizers)
        ax.set_ylabel("time to target (s)")
        ax.set_title(f"{name} (x: not reached by every seed)")
    axes[0, 0].legend(fontsize="small", ncols=len(schedules))
    return fig


def trial_table(records: list[dict]) -> pd.DataFrame:
    """One row per tuned configuration: the trials' lrs, the spread of their validation accuracy and the
    selected lr with its test accuracy."""
    rows = []
    for r in records:
        accs = [t.get(study.ACCURACY_KEY) for t in r["trials"]]
        done = [a for a in accs if a is not None]
        rows.append({
            "problem": problem(r["case"]), "optimizer": r["case"]["optimizer"], "schedule": r["case"]["schedule"],
            "trial lrs": ", ".join(f"{t['case']['lr']:g}" for t in r["trials"]),
            "val acc (%) min-max": f"{100 * min(done):.1f}-{100 * max(done):.1f}" if done else "-",
            "diverged": str(len(accs) - len(done)), "selected lr": f"{r['case']['lr']:g}",
            "selected val acc (%)": f"{100 * r['trial'][study.ACCURACY_KEY]:.1f}",
            "test acc (%) over seeds": _fmt(r[study.ACCURACY_KEY], 100),
        })
    return pd.DataFrame(rows)


def sensitivity_figure(records: list[dict]):
    """Final validation accuracy against lr (log scale), one line per optimizer; one panel per problem
    (rows) and schedule (columns). Diverged trials are drawn at 0%."""
    problems = sorted({problem(r["case"]) for r in records})
    schedules = list(dict.fromkeys(r["case"]["schedule"] for r in records))
    fig, axes = new_figure(2.6 * len(schedules), 2.3 * len(problems), nrows=len(problems), ncols=len(schedules),
                           squeeze=False, sharey=True)
    for r in records:
        ax = axes[problems.index(problem(r["case"])), schedules.index(r["case"]["schedule"])]
        trials = sorted(r["trials"], key=lambda t: t["case"]["lr"])
        color = f"C{sorted({m['case']['optimizer'] for m in records}).index(r['case']['optimizer']) % 10}"
        ax.plot([t["case"]["lr"] for t in trials], [100 * (t.get(study.ACCURACY_KEY) or 0) for t in trials],
                "o-", color=color, label=r["case"]["optimizer"], markersize=3)
    for (i, name), (j, schedule) in ((p, s) for p in enumerate(problems) for s in enumerate(schedules)):
        axes[i, j].set_xscale("log")
        axes[i, j].set_title(f"{name}, {schedule}", fontsize="small")
        if j == 0:
            axes[i, j].set_ylabel("val accuracy (%)")
        if i == len(problems) - 1:
            axes[i, j].set_xlabel("learning rate")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 8), fontsize="small")
    return fig


def profile_times(records: list[dict]) -> dict[str, dict[str, float | None]]:
    """times[problem][optimizer]: mean test time-to-target of the optimizer's configuration chosen by
    validation (its best trial across schedules; without trials, its fastest schedule), None unless
    every seed reached the target."""
    times: dict[str, dict[str, float | None]] = {}
    chosen: dict[tuple, dict] = {}
    for r in records:
        key = (problem(r["case"]), r["case"]["optimizer"])
        if "trial" in r:  # the winning trial's validation accuracy: higher is better
            rank = r["trial"][study.ACCURACY_KEY]
        else:
            rank = -(r[study.TARGET_KEYS[0]]["mean"] or math.inf)
        if key not in chosen or rank > chosen[key][0]:
            chosen[key] = (rank, r)
    for (name, optimizer), (_, r) in chosen.items():
        iv = r[study.TARGET_KEYS[0]]
        times.setdefault(name, {})[optimizer] = iv["mean"] if iv["n"] == len(r["seeds"]) else None
    return times


def profile_figure(profile: dict[str, list[float]], problems: int):
    """rho(tau) against tau (log scale), one step line per optimizer."""
    fig, ax = new_figure(7.5, 4.2)
    for i, (optimizer, fractions) in enumerate(sorted(profile.items())):
        ax.step(TAUS, fractions, where="post", label=optimizer, color=f"C{i % 10}",
                linestyle="-" if i < 10 else "--")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("tau: time-to-target within this factor of the best")
    ax.set_ylabel(f"fraction of the {problems} problems")
    ax.legend(fontsize="small", ncols=4)
    return fig


def study_sections(run, out: Path) -> list[Section]:
    """The study's sections, or none when the run has no time-to-target target, seeds or trials."""
    rows = study.records(run.cases)
    records = [r for r in summaries(rows) if r[study.ACCURACY_KEY]["n"]]
    has_target = any(r["case"].get("target_accuracy") is not None for r in records)
    has_seeds = any(len(r["seeds"]) > 1 for r in records)
    if not records or not (has_target or has_seeds):
        return []
    sections = []
    main = Section("Optimizer study: time to target, across seeds",
                   ["Mean ± standard deviation and the 95% Student-t interval across seeds. The training clock "
                    "excludes evaluation (evaluation seconds listed apart); time and epochs to target count up "
                    "to the first epoch whose test accuracy reaches the target, averaged over the seeds that "
                    "reached it ('reached'). A difference is called real only when the 95% intervals do not "
                    "overlap.", *verdicts(records)], [time_table(records)])
    if has_target:
        main.figures.append(save(time_figure(records), out, "study_time_to_target"))
    note = gd_note(records)
    if note:
        main.paragraphs.append(note)
    sections.append(main)
    tuned = [r for r in records if "trials" in r]
    if tuned:
        k = max(len(r["trials"]) for r in tuned)
        sections.append(Section(
            "Optimizer study: tuning budget and LR sensitivity",
            [f"{k} random learning rates per optimizer (log-uniform, seeded sampler), each trained on the training "
             "split minus a stratified 20% validation split and judged on that split alone; the test split is "
             "not loaded during selection. The winner (best final validation accuracy) then ran with every seed "
             "on the full training split. 'val acc min-max' is the spread across trials."],
            [trial_table(tuned)], [save(sensitivity_figure(tuned), out, "study_lr_sensitivity")]))
    times = profile_times(records)
    if has_target and len(times) > 1:
        profile = study.performance_profile(times, TAUS)
        table = pd.DataFrame([{"problem": name, **{o: "-" if t is None else f"{t:.3g}" for o, t in per.items()}}
                              for name, per in times.items()])
        sections.append(Section(
            "Optimizer study: performance profile",
            ["AlgoPerf-style profile (Dolan and Moré 2002; Dahl et al. 2023): for each optimizer, the fraction "
             "of problems on which its mean time-to-target is within a factor tau of the best optimizer's on "
             "that problem. Each optimizer's schedule and lr are those its validation trials chose. '-': not "
             "every seed reached the target, which counts as never within any tau."],
            [table], [save(profile_figure(profile, len(times)), out, "study_performance_profile")]))
    return sections


BUILDERS.append(study_sections)
