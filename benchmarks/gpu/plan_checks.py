"""The plan checks: the suite's plans expanded for CUDA (CPU side), and run case by case on CUDA through the
suite's runner (suite.plans.load_plan, suite.runner.run_case), with the levers' ratios to their base."""

from __future__ import annotations

import time

from benchmarks.gpu.verdicts import Check
from suite.results import STATUSES

PLANS = ("quick", "levers", "ddp")
LEVER_FIELDS = ("precision", "compile", "memory_format", "quantization", "pruning", "finetune_epochs")
RATIOS = {"train_samples_per_s": "train samples/s", "infer_samples_per_s": "batched infer samples/s",
          "infer_latency_ms_p50": "latency p50", "train_peak_mem_mb": "train peak mem"}
CUDA = {"device": "cuda"}


def check_plans_expand(ctx, check: Check) -> Check:
    """The plans the GPU run uses expand and validate with device=cuda; how many cases can run here."""
    from suite.levers import availability
    from suite.plans import load_plan

    reasons = set()
    for name in PLANS:
        cases = load_plan(name, CUDA).cases
        verdicts = [availability(case) for case in cases]
        reasons |= {reason for ok, reason in verdicts if not ok}
        check.values |= {f"{name}_cases": len(cases), f"{name}_runnable_here": sum(ok for ok, _ in verdicts)}
    check.details = {"not runnable here": sorted(reasons)}
    return check.conclude([])


def plan_failures(results, not_run: list[str]) -> list[str]:
    """Why a plan run fails: a case neither ok nor skipped, a skip without a reason, cases not run."""
    failures = [f"{r.case_id}: {r.status} ({r.reason})" for r in results if r.status not in ("ok", "skipped")]
    failures += [f"{r.case_id}: skipped without a reason" for r in results if r.status == "skipped" and not r.reason]
    if not_run:
        failures.append(f"{len(not_run)} of {len(results) + len(not_run)} cases not run: the time budget ran out "
                        "(--budget-s)")
    return failures


def eager_first(cases) -> list:
    """The cases with torch.compile last (their compile time dominates), otherwise in plan order."""
    return sorted(cases, key=lambda case: case.compile != "none")


def run_plan(ctx, check: Check, name: str, select=None) -> list:
    """Run a plan's cases (those `select` keeps) on CUDA until the budget is spent; write the results as the
    suite's results JSON under OUT/plans/; conclude the check. Returns the CaseResults."""
    from suite.commands.run import progress_line
    from suite.environment import commit_info
    from suite.plans import load_plan
    from suite.results import run_document, write_json_atomic
    from suite.runner import MeasureConfig, run_case

    plan = load_plan(name, {"device": ctx.device.type})
    cases = eager_first(c for c in plan.cases if select is None or select(c))
    config = ctx.measure_config() if ctx.quick else MeasureConfig()
    results, not_run = [], []
    for index, case in enumerate(cases, 1):
        if ctx.out_of_time():
            not_run.append(case.id)
            continue
        begin = time.perf_counter()
        results.append(run_case(case, config))
        print("    " + progress_line(index, len(cases), results[-1], time.perf_counter() - begin), flush=True)
    path = ctx.out / "plans" / f"{name}.json"
    write_json_atomic(path, run_document(results, plan.name, ctx.machine_info, commit_info()))
    statuses = [r.status for r in results]
    check.values = {"cases": len(cases), **{s: statuses.count(s) for s in STATUSES if s in statuses},
                    "not_run": len(not_run)}
    check.details = {"results": str(path), "not_run": not_run,
                     "cases": [{"case_id": r.case_id, "status": r.status, "reason": r.reason} for r in results]}
    check.conclude(plan_failures(results, not_run))
    return results


def check_quick_plan(ctx, check: Check) -> Check:
    """The quick plan on CUDA: every case ok or skipped with a reason."""
    run_plan(ctx, check, "quick")
    return check


def check_levers_plan(ctx, check: Check) -> Check:
    """The levers plan on CUDA (the seed CNN only under --quick), and each lever's ratios to its base."""
    results = run_plan(ctx, check, "levers", (lambda case: case.model == "seed-cnn") if ctx.quick else None)
    ctx.lever_ratios = lever_ratios(results)
    check.values["lever_rows"] = len(ctx.lever_ratios)
    return check


def check_transformer_plan(ctx, check: Check) -> Check:
    """The transformer family's plan on CUDA, once the suite has one."""
    from suite.plans import plan_names

    if "transformer" not in plan_names():
        return check.skip("no transformer plan in benchmarks/plans yet (the family does not exist)")
    run_plan(ctx, check, "transformer")
    return check


def _without_levers(case: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in case.items() if k not in LEVER_FIELDS))


def lever_ratios(results) -> list[dict]:
    """Per ok case that uses levers: its figures over those of its base (the ok case with the same fields
    and every lever at its default), and the accuracy difference in percentage points."""
    from suite.cases import FIELDS

    defaults = {name: FIELDS[name].default for name in LEVER_FIELDS}
    ok = [r for r in results if r.status == "ok"]
    bases = {_without_levers(r.case): r for r in ok if all(r.case.get(k) == v for k, v in defaults.items())}
    rows = []
    for result in ok:
        base = bases.get(_without_levers(result.case))
        if base is None or base is result:
            continue
        row = {"case": result.case_id, "model": result.case.get("model"),
               "levers": ", ".join(f"{k} {result.case[k]}" for k in LEVER_FIELDS[:-1]
                                   if result.case.get(k) != defaults[k])}
        for key in RATIOS:
            before, after = base.metrics.get(key), result.metrics.get(key)
            row[key] = after / before if before and after is not None else None
        before, after = base.metrics.get("test_accuracy"), result.metrics.get("test_accuracy")
        row["test_accuracy_pp"] = 100 * (after - before) if before is not None and after is not None else None
        rows.append(row)
    return rows


def render_ratios(rows: list[dict], tablefmt: str = "github") -> str:
    """The lever ratios as a table: xR for each ratio, +-pp for accuracy."""
    from tabulate import tabulate

    def ratio(value):
        return "-" if value is None else f"x{value:.2f}"

    table = [[r["model"], r["levers"], *(ratio(r[k]) for k in RATIOS),
              "-" if r["test_accuracy_pp"] is None else f"{r['test_accuracy_pp']:+.1f} pp"] for r in rows]
    return tabulate(table, headers=["model", "levers", *RATIOS.values(), "test acc"], tablefmt=tablefmt)
