"""The report's title and its first section: when, which commit and plan, and on what machine."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from suite.report.grouping import group_cases
from suite.report.hardware import hardware_paragraphs
from suite.report.sections import Section
from suite.results.isa import isa_class
from suite.results.schema import STATUSES, Run


def title(runs: list[Run]) -> str:
    """"tradeoff-bench report: plan quick" (several plans joined by commas)."""
    plans = ", ".join(dict.fromkeys(r.plan or "?" for r in runs))
    return f"tradeoff-bench report: plan {plans}"


def when(stamp: str) -> str:
    """An ISO timestamp as "2026-11-25 21:32:12 UTC+00:00", or as it came when it does not parse."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp or "?"
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (f" UTC{moment.strftime('%z')[:3]}:{moment.strftime('%z')[3:]}"
                                                   if moment.tzinfo else "")


def commit(info: dict) -> str:
    """The commit id (12 digits), "(dirty)" when the tree had changes, and the branch."""
    text = str(info.get("id") or "unknown")[:12]
    if info.get("dirty"):
        text += " (dirty)"
    branch = info.get("branch")
    return f"{text} on {branch}" if branch and branch != "(unknown)" else text


def gpus(env: dict) -> str:
    """The GPUs with driver and memory, or "none"."""
    listed = [f"{g.get('name', '?')} (driver {g.get('driver', '?')}, {g.get('memory_mb', '?')} MiB)"
              for g in env.get("gpus") or [] if isinstance(g, dict)]
    return "; ".join(listed) or "none"


def environment_row(run: Run) -> dict:
    """One results file's context as table cells."""
    env = run.machine_info.get("tradeoff_bench") or {}
    isa = env.get("cpu_isa") or isa_class(run.machine_info.get("cpu"))  # files before the class was recorded: flags
    return {"results file": Path(run.path).name, "when": when(run.datetime), "commit": commit(run.commit_info),
            "plan": run.plan or "?", "CPU": f"{env.get('cpu_brand', '?')} ({env.get('cpu_cores', '?')} cores"
                                            f"{'' if isa == 'unknown' else ', ' + isa})",
            "GPU": gpus(env), "torch": str(env.get("torch", "?")), "threads": str(env.get("torch_threads", "?")),
            "fingerprint": str(env.get("fingerprint", "?"))}


def counts(run: Run) -> str:
    """"20 cases in 18 configurations: 18 ok, 1 diverged, 1 skipped"."""
    statuses = [c.status for c in run.cases]
    parts = [f"{statuses.count(s)} {s}" for s in STATUSES if statuses.count(s)]
    return (f"{len(run.cases)} cases in {len(group_cases(run.cases))} configurations (seeds pooled): "
            f"{', '.join(parts) or 'none'}.")


def busy_warnings(runs: list[Run]) -> list[str]:
    """One line per results file whose run found the machine busy (suite.measure.system_check), else nothing."""
    lines = []
    for run in runs:
        system = (run.machine_info.get("tradeoff_bench") or {}).get("system") or {}
        if isinstance(system, dict) and system.get("warnings"):
            lines.append(f"Warning: busy machine during {Path(run.path).name}; timings may not be trustworthy: "
                         f"{system['warnings']}.")
    return lines


def procedure_line(runs: list[Run]) -> list[str]:
    """How the cases were measured, from the first file's procedure block (suite/procedure.py)."""
    block = (runs[0].machine_info.get("tradeoff_bench") or {}).get("procedure") if runs else None
    if not isinstance(block, dict):
        return ["Measurement procedure: not recorded (a results file of schema 1)."]
    if block.get("measure") == "instructions":
        return [f"Measurement procedure v{block.get('version')}: instruction counts under {block.get('valgrind')} "
                f"({block.get('valgrind_flags')}), each case in its own process at {block.get('threads')} thread: "
                f"{block.get('warmup_steps')} training steps and {block.get('warmup_forwards')} batch-1 forwards "
                f"uninstrumented, then {block.get('train_steps')} steps and {block.get('forwards')} forwards counted; "
                f"no training to the budget (no accuracy); front end {block.get('front_end')}."]
    bound = block.get("latency_bound_s")  # absent before procedure v3
    fewer = f" (fewer where they would take over {bound:g} s: then no p99)" if isinstance(bound, (int, float)) else ""
    return [f"Measurement procedure v{block.get('version')}: train samples/s times the training step alone "
            f"(batches drawn outside the clock), {block.get('train_warmup_rounds')} warm-up and "
            f"{block.get('train_rounds')} contiguous rounds of {block.get('train_steps_per_round')} training steps, "
            f"then {block.get('train_spread_rounds')} rounds spread between epochs; train e2e samples/s is samples "
            "over the training phase's wall time (batch drawing and syncs included, evaluation excluded); "
            f"{block.get('latency_calls')} batch-1 calls{fewer}; garbage collector {block.get('gc')}; "
            f"front end {block.get('front_end')}."]


def environment_section(runs: list[Run], merged: Run) -> Section:
    """The header section: busy-machine warnings, the case counts, the procedure, which rows ran without hardware
    support for their lever (report.hardware) and one environment row per results file."""
    import pandas as pd

    return Section("Environment", [*busy_warnings(runs), counts(merged), *procedure_line(runs),
                                   *hardware_paragraphs(merged)],
                   [pd.DataFrame([environment_row(r) for r in runs])])
