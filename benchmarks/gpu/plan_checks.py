"""The plan checks: the suite's plans expanded for CUDA (CPU side, with rules on what the GPU plans must hold),
and run case by case on CUDA through the suite's runner (suite.plans.load_plan, suite.runner.run_case), with the
levers' ratios to their base and the GPT-2-small targets."""

from __future__ import annotations

import time

from benchmarks.gpu.verdicts import Check
from suite.metrics import INFER_RATE, TRAIN_RATE
from suite.results.schema import STATUSES

PLANS = ("quick", "levers", "ddp", "shakespeare", "gpu", "gpu-quick")
DATA_PLANS = ("shakespeare", "gpu", "gpu-quick")  # given --data-dir; the others keep their data-free datasets
LEVER_FIELDS = ("precision", "compile", "memory_format", "quantization", "pruning", "finetune_epochs")
RATIOS = {TRAIN_RATE: "train samples/s", INFER_RATE: "batched infer samples/s",
          "infer_latency_ms_p50": "latency p50", "train_peak_mem_mb": "train peak mem"}
CUDA = {"device": "cuda"}
# Cases of a plan that the validation leaves out on purpose, each with why (listed, never a failure).
MAX_AUTOTUNE_REASON = ("max-autotune autotunes every GEMM template (174 s for one seed-CNN case on an H200, with "
                       "Triton out-of-resource errors): beyond the validation's budget; run the levers plan alone")
# nanoGPT's config/train_shakespeare_char.py (the gpu plan's first part must be it, field by field).
NANOGPT_SHAKESPEARE = {"model": "transformer", "dataset": "tinyshakespeare", "depth": 6, "heads": 6, "width": 384,
                       "context": 256, "batch_size": 64, "dropout": 0.2, "lr": 1e-3, "steps": 5000, "min_lr": 1e-4,
                       "warmup_steps": 100, "beta2": 0.99, "schedule": "warmup-cosine", "bias": False,
                       "weight_decay": 0.1, "grad_clip": 1.0, "target_val_loss": 1.5}
GPT2_SMALL = {"model": "transformer", "dataset": "random-tokens", "depth": 12, "heads": 12, "width": 768,
              "context": 1024}
GPT2_VARIANTS = {"fp32": dict(precision="fp32", matmul_precision="highest", compile="none"),
                 "tf32": dict(precision="fp32", matmul_precision="high", compile="none"),
                 "bf16": dict(precision="bf16", compile="none"),
                 "bf16+compile": dict(precision="bf16", compile="default")}
GPU_PARTS = ("nanogpt-shakespeare-char", "gpt2-small-throughput", "resnet-rgb32", "batch-sweep")
BF16_MFU_TARGET, BF16_SPEEDUP_TARGET = 0.40, 1.5  # issue 24's targets on an H200


def check_plans_expand(ctx, check: Check) -> Check:
    """The plans the GPU run uses expand and validate with device=cuda, and hold what the GPU plans promise
    (gpu_plan_failures); how many cases can run here."""
    from suite.levers import availability
    from suite.plans import load_plan

    reasons, plans = set(), {}
    for name in PLANS:
        plans[name] = load_plan(name, CUDA, data_dir=ctx.data_dir if name in DATA_PLANS else None)
        verdicts = [availability(case) for case in plans[name].cases]
        reasons |= {reason for ok, reason in verdicts if not ok}
        check.values |= {f"{name}_cases": len(plans[name].cases),
                         f"{name}_runnable_here": sum(ok for ok, _ in verdicts)}
    check.details = {"not runnable here": sorted(reasons)}
    return check.conclude(gpu_plan_failures(plans))


def _matches(case, fields: dict) -> bool:
    return all(getattr(case, key) == value for key, value in fields.items())


def gpu_plan_failures(plans: dict) -> list[str]:
    """What the expanded plans get wrong: a case off CUDA; the gpu plan without one of its parts, a first part that
    is not nanoGPT's shakespeare_char recipe, a GPT-2-small part without fp32, TF32, bf16 and bf16+compile, a
    resnet part without bf16 and channels_last at 3x32x32 or batches 256 to 1024, a batch sweep of fewer than three
    batch sizes in two precisions; a gpu-quick case that the gpu plan's parts do not have up to its budget."""
    failures = [f"{name}: case {case.id} runs on {case.device}" for name, plan in plans.items()
                for case in plan.cases if case.device != "cuda"]
    gpu, quick = plans.get("gpu"), plans.get("gpu-quick")
    if gpu is None or quick is None:
        return failures + ["the gpu and gpu-quick plans are both needed"]
    names = [name for name, _ in gpu.parts]
    if tuple(names) != GPU_PARTS:
        return failures + [f"the gpu plan's parts are {names}, expected {list(GPU_PARTS)}"]
    recipe = gpu.part_cases(GPU_PARTS[0])
    if len(recipe) != 1 or not _matches(recipe[0], NANOGPT_SHAKESPEARE):
        wrong = {k: getattr(recipe[0], k) for k, v in NANOGPT_SHAKESPEARE.items() if getattr(recipe[0], k) != v} \
            if recipe else "no case"
        failures.append(f"the {GPU_PARTS[0]} part is not nanoGPT's recipe: {wrong}")
    for plan in (gpu, quick):
        gpt2 = plan.part_cases(GPU_PARTS[1])
        missing = [label for label, fields in GPT2_VARIANTS.items()
                   if not any(_matches(c, GPT2_SMALL | fields) for c in gpt2)]
        if missing:
            failures.append(f"{plan.name}: the GPT-2-small part lacks {', '.join(missing)}")
    resnet = gpu.part_cases(GPU_PARTS[2])
    if not any(c.precision == "bf16" and c.memory_format == "channels_last" for c in resnet) or \
            {c.batch_size for c in resnet} < {256, 1024} or any(c.model != "resnet" for c in resnet):
        failures.append("the resnet part lacks bf16 + channels_last or batches 256 and 1024")
    sweep = gpu.part_cases(GPU_PARTS[3])
    for precision in ("fp32", "bf16"):
        if len({c.batch_size for c in sweep if c.precision == precision}) < 3:
            failures.append(f"the batch sweep has fewer than 3 batch sizes in {precision}")
    full = {_without_budget(c) for c in gpu.cases}
    failures += [f"gpu-quick case {c.id} is in no part of the gpu plan" for c in quick.cases
                 if _without_budget(c) not in full]
    return failures


def _without_budget(case) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in case.as_dict().items() if k not in ("steps", "epochs")))


def plan_failures(results, expected: dict[str, str] | None = None) -> list[str]:
    """Why a plan run fails: a case neither ok nor skipped, a skip without a reason. Cases the validation left
    out on purpose (`expected`: id -> reason) are not results and fail nothing."""
    failures = [f"{r.case_id}: {r.status} ({r.reason})" for r in results if r.status not in ("ok", "skipped")]
    return failures + [f"{r.case_id}: skipped without a reason" for r in results
                       if r.status == "skipped" and not r.reason]


def conclude_plan(check: Check, results, not_run: list[str]) -> Check:
    """Fail on plan_failures; else, when the budget left cases unrun, the check could not run (skipped, never a
    pass); else pass."""
    failures = plan_failures(results)
    if failures or not not_run:
        return check.conclude(failures)
    return check.skip(f"{len(not_run)} of {len(results) + len(not_run)} cases not run: the time budget ran out "
                      "(--budget-s)")


def eager_first(cases) -> list:
    """The cases with torch.compile last (their compile time dominates), otherwise in plan order."""
    return sorted(cases, key=lambda case: case.compile != "none")


def run_plan(ctx, check: Check, name: str, select=None, expected: dict[str, str] | None = None,
             order=eager_first) -> list:
    """Run a plan's cases (those `select` keeps, minus the `expected` ones left out with their reasons) on CUDA
    until the budget is spent; write the results as the suite's results JSON under OUT/plans/; conclude the check.
    Returns the CaseResults."""
    from suite.commands.run import progress_line
    from suite.measure.environment import commit_info
    from suite.plans import available_cases, load_plan
    from suite.plumbing.fileio import write_json_atomic
    from suite.results.schema import run_document
    from suite.runner import run_case

    data_dir = ctx.data_dir if name in DATA_PLANS else None
    plan = load_plan(name, {"device": ctx.device.type}, data_dir=data_dir)
    runnable, results = available_cases(plan, data_dir, False)  # optional datasets absent: skipped, reason
    expected = expected or {}
    cases = order([c for c in runnable if (select is None or select(c)) and c.id not in expected])
    results = [r for r in results if select is None or select(plan_case(plan, r.case_id))]
    config = ctx.plan_config()
    not_run = []
    for index, case in enumerate(cases, 1):
        if ctx.out_of_time():
            not_run.append(case.id)
            continue
        begin = time.perf_counter()
        results.append(run_case(case, config, data_dir=data_dir))
        print("    " + progress_line(index, len(cases), results[-1], time.perf_counter() - begin), flush=True)
    path = ctx.out / "plans" / f"{name}.json"
    write_json_atomic(path, run_document(results, plan.name, ctx.machine_info, commit_info()))
    statuses = [r.status for r in results]
    check.values = {"cases": len(cases), **{s: statuses.count(s) for s in STATUSES if s in statuses},
                    "not_run": len(not_run), "left_out": len(expected)}
    check.details = {"results": str(path), "not_run": not_run, "left_out": expected,
                     "cases": [{"case_id": r.case_id, "status": r.status, "reason": r.reason} for r in results]}
    conclude_plan(check, results, not_run)
    return results


def plan_case(plan, case_id: str):
    """The plan's case of this id."""
    return next(case for case in plan.cases if case.id == case_id)


def check_quick_plan(ctx, check: Check) -> Check:
    """The quick plan on CUDA: every case ok or skipped with a reason."""
    run_plan(ctx, check, "quick")
    return check


def check_levers_plan(ctx, check: Check) -> Check:
    """The levers plan on CUDA for the seed CNN (max-autotune left out with the reason), and each lever's ratios
    to its base."""
    from suite.plans import load_plan

    cases = load_plan("levers", {"device": ctx.device.type}).cases
    expected = {c.id: MAX_AUTOTUNE_REASON for c in cases if c.compile == "max-autotune"}
    results = run_plan(ctx, check, "levers", lambda case: case.model == "seed-cnn", expected)
    ctx.lever_ratios = lever_ratios(results)
    check.values["lever_rows"] = len(ctx.lever_ratios)
    return check


def check_transformer_plan(ctx, check: Check) -> Check:
    """The transformer family on CUDA: the shakespeare plan's base (nanoGPT's CPU recipe) in fp32 and bf16, from
    tinyshakespeare in --data-dir (the check cannot run without it)."""
    from suite.plumbing.errors import ConfigError
    from suite.workloads.data import load_dataset

    try:
        load_dataset("tinyshakespeare", ctx.data_dir)
    except ConfigError as exc:
        return check.skip(f"cannot run: {exc}")
    levers = ("compile", "quantization", "pruning", "depth", "width", "shared", "optimizer")
    from suite.plans import load_plan

    base = load_plan("shakespeare", {"device": ctx.device.type}, data_dir=ctx.data_dir).base
    keep = lambda case: all(getattr(case, k) == getattr(base, k) for k in levers)  # noqa: E731
    run_plan(ctx, check, "shakespeare", keep)
    return check


def check_gpu_quick_plan(ctx, check: Check) -> Check:
    """The gpu-quick plan on CUDA (every case ok), its GPT-2-small rows kept for the targets check."""
    results = run_plan(ctx, check, "gpu-quick", order=list)
    ctx.gpt2_rows = gpt2_rows(results)
    return check


def gpt2_rows(results) -> dict[str, dict]:
    """Per GPT-2-small variant (GPT2_VARIANTS) that ran ok: tokens/s, MFU against the case's own ceiling, the same
    with nanoGPT's FLOP count, and the ceiling."""
    rows = {}
    for r in results:
        label = next((k for k, v in GPT2_VARIANTS.items()
                      if all(r.case.get(f) == x for f, x in (GPT2_SMALL | v).items())), None)
        m = r.metrics or {}
        if label is None or r.status != "ok" or not m.get("train_mfu"):
            continue
        ceiling = m["mfu_ceiling_gflops"] * 1e9
        tokens = m.get("train_tokens_per_s")
        rows[label] = {"tokens_per_s": tokens, "mfu": m["train_mfu"], "ceiling": m["mfu_ceiling_key"],
                       "ceiling_tflops": ceiling / 1e12, "train_flops_per_token": m.get("train_flops_per_token"),
                       "nanogpt_flops_per_token": m.get("nanogpt_train_flops_per_token"),
                       "nanogpt_mfu": m["nanogpt_train_flops_per_token"] * tokens / ceiling
                       if tokens and m.get("nanogpt_train_flops_per_token") else None}
    return rows


def gpt2_target_failures(rows: dict[str, dict]) -> list[str]:
    """The issue's targets on the GPT-2-small case: bf16+compile MFU >= 40% of the measured bf16 ceiling, and bf16
    tokens/s >= 1.5x fp32 (TF32 off); a variant that did not run ok fails its target."""
    failures = [f"no ok {label} row" for label in ("fp32", "bf16", "bf16+compile") if label not in rows]
    compiled = rows.get("bf16+compile")
    if compiled and (compiled["ceiling"] != "cuda-bf16" or compiled["mfu"] < BF16_MFU_TARGET):
        failures.append(f"bf16+compile MFU {100 * compiled['mfu']:.1f}% of {compiled['ceiling']} is under "
                        f"{100 * BF16_MFU_TARGET:.0f}% of cuda-bf16")
    if "fp32" in rows and "bf16" in rows:
        speedup = rows["bf16"]["tokens_per_s"] / rows["fp32"]["tokens_per_s"]
        if speedup < BF16_SPEEDUP_TARGET:
            failures.append(f"bf16 is x{speedup:.2f} fp32's tokens/s, under x{BF16_SPEEDUP_TARGET}")
    return failures


def check_gpt2_targets(ctx, check: Check) -> Check:
    """The GPT-2-small targets on the gpu-quick rows (could not run when gpu-quick gave none)."""
    rows = getattr(ctx, "gpt2_rows", None)
    if not rows:
        return check.skip("cannot run: the gpu-quick plan gave no GPT-2-small rows")
    for label, row in rows.items():
        check.values[f"{label}_tokens_per_s"] = row["tokens_per_s"]
        check.values[f"{label}_mfu_pct"] = 100 * row["mfu"]
        check.values[f"{label}_nanogpt_mfu_pct"] = 100 * row["nanogpt_mfu"] if row["nanogpt_mfu"] else None
    if "fp32" in rows and "bf16" in rows:
        check.values["bf16_over_fp32"] = rows["bf16"]["tokens_per_s"] / rows["fp32"]["tokens_per_s"]
    check.details = {"rows": rows, "nanogpt_formula": "6 N + 12 L H Q T per token (nanoGPT model.py estimate_mfu), "
                     "against the same measured ceiling"}
    return check.conclude(gpt2_target_failures(rows))


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
