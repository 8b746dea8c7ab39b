"""Validate the suite's GPU path on real hardware: one command, one table of what holds.

    python benchmarks/gpu/validate.py [--out DIR] [--quick] [--budget-s S] [--data-dir DIR]

Each check runs the suite's own code on CUDA and compares it with an independent measurement (CUDA
events vs the host clock, the matmul ceilings vs a plain torch.matmul timing and the datasheet, NVML's
energy counter vs integrated power readings, peak memory vs allocations of known size and NVML), or runs
the suite's plans and lever paths on CUDA (the gpu-quick plan and the GPT-2-small targets, the shakespeare
plan's base from --data-dir, the quick and levers plans, nccl data parallelism, out-of-memory handling,
TF32-aware MFU, the environment block). The table is printed and written, with every measured value, to
DIR/validation.json (rewritten after each check, so a killed run keeps what it finished) and DIR/validation.md;
the plans' results go to DIR/plans/NAME.json, readable by `tradeoff-bench report`.

No check starts after --budget-s seconds (default 360) and no plan case either: what the budget left out is
`skipped`. Without a CUDA device the CPU-side checks run and every CUDA check is `skipped: no CUDA device`.
Exit status: 0 when every check ran and passed, 1 when one failed, 3 when one could not run (no CUDA, missing
data, the budget spent: a skipped check is never a pass), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import functools
import gc
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script: the suite and these modules from this checkout
    sys.path.insert(0, str(REPO))

from benchmarks.gpu import cuda_checks, plan_checks  # noqa: E402
from benchmarks.gpu.context import Context  # noqa: E402
from benchmarks.gpu.verdicts import NO_CUDA, Check, document, exit_code, measured_text, render_table, result_text  # noqa: E402,I001

DEFAULT_OUT = "reports/gpu-validation"
BUDGET_S = {False: 360.0, True: 150.0}  # --quick: True; no check and no plan case starts after this many seconds
BUDGET_SPENT = "cannot run: the time budget (--budget-s) was spent before it started"

# (name, what it compares, needs CUDA, check function): the table's rows, in the order they run
CHECKS = [
    ("plans_expand", "the GPU run's plans expand with device=cuda and hold the gpu plan's parts (nanoGPT recipe, "
     "GPT-2-small fp32/TF32/bf16/compile, resnet bf16+channels_last, batch sweep)", False,
     plan_checks.check_plans_expand),
    ("environment", "environment block names GPU, driver, CUDA, clocks, memory; fingerprint differs from the "
     "CPU machine's", True, cuda_checks.check_environment),
    ("event_timing", "CUDA-event rounds vs host clock after torch.cuda.synchronize (5%)", True,
     cuda_checks.check_event_timing),
    *((f"ceiling_{p}", f"suite {label} ceiling vs independent torch.matmul (10%), vs datasheet", True,
       functools.partial(cuda_checks.check_ceiling, precision=p))
      for p, label in (("fp32", "fp32 (TF32 off)"), ("tf32", "fp32 with TF32 on"), ("bf16", "bf16"),
                       ("fp16", "fp16"))),
    ("energy", "NVML energy counter vs integrated NVML power samples, same region (10%)", True,
     cuda_checks.check_energy),
    ("peak_memory", "suite peak memory vs tensors of known size, and vs NVML used memory for a training step",
     True, cuda_checks.check_peak_memory),
    ("tf32_mfu", "TF32 recorded; conv MFU uses cuDNN's TF32 ceiling, a transformer's its matmul_precision's", True,
     cuda_checks.check_tf32_mfu),
    ("oom", "a model too wide for the GPU gives oom with free memory; the next case runs ok", True,
     cuda_checks.check_oom),
    ("ddp_nccl", "data-parallel path on nccl (1 rank; 2 with two GPUs), scaling efficiency", True,
     cuda_checks.check_ddp),
    ("plan_gpu_quick", "gpu-quick plan on CUDA (GPT-2-small fp32/TF32/bf16/bf16+compile, resnet 3x32x32): every "
     "case ok", True, plan_checks.check_gpu_quick_plan),
    ("gpt2_targets", "GPT-2-small: bf16+compile MFU >= 40% of the bf16 ceiling; bf16 >= 1.5x fp32 tokens/s "
     "(nanoGPT's estimate_mfu beside)", True, plan_checks.check_gpt2_targets),
    ("plan_transformer", "shakespeare plan's base (nanoGPT CPU recipe) in fp32 and bf16 from --data-dir", True,
     plan_checks.check_transformer_plan),
    ("plan_quick", "quick plan on CUDA: every case ok or skipped with a reason", True, plan_checks.check_quick_plan),
    ("plan_levers", "levers plan on CUDA for the seed CNN (fp16+GradScaler, bf16, channels_last, compile; "
     "max-autotune left out with the reason); ratios", True, plan_checks.check_levers_plan),
]


def parse_args(argv):
    """The command line: --out, --quick, --budget-s, --data-dir."""
    parser = argparse.ArgumentParser(description="Validate the suite's CUDA path; print and write a table of checks.")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, the levers plan for the seed CNN only")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="no check and no plan case starts after this many seconds (default 360, --quick 150)")
    parser.add_argument("--data-dir", default=None,
                        help="data directory holding tinyshakespeare/input.txt, cifar-10-batches-py/ "
                        "(or $TRADEOFF_BENCH_DATA)")
    args = parser.parse_args(argv)
    if args.budget_s is None:
        args.budget_s = BUDGET_S[args.quick]
    if args.budget_s <= 0:
        parser.error(f"--budget-s must be positive, got {args.budget_s:g}")
    return args


def run_check(ctx: Context, check: Check, function) -> None:
    """Run one check; an exception fails it with the error as the reason and the traceback kept."""
    begin = time.perf_counter()
    try:
        function(ctx, check)
    except Exception as exc:
        check.status, check.reason = "fail", f"{type(exc).__name__}: {exc}".splitlines()[0]
        check.traceback = traceback.format_exc()
        print(check.traceback, file=sys.stderr, flush=True)
    finally:
        check.seconds = time.perf_counter() - begin
        if ctx.device is not None:  # what a failed check left on the GPU must not starve the next one
            import torch

            gc.collect()
            torch.cuda.empty_cache()


def main(argv=None) -> int:
    """Run every check in order, writing the JSON after each; print the table; exit_code's status."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    begin, started_at = time.perf_counter(), datetime.now(timezone.utc).isoformat(timespec="seconds")
    import torch

    from suite.measure.ceiling import environment_ceilings
    from suite.measure.devices import availability
    from suite.measure.environment import machine_info
    from suite.plumbing.fileio import write_json_atomic, write_text_atomic
    from suite.workloads.data import resolve_data_dir

    cuda, _ = availability("cuda")
    info = machine_info()
    out = Path(args.out)
    ctx = Context(out, args.quick, begin + args.budget_s, info, torch.device("cuda") if cuda else None,
                  data_dir=resolve_data_dir(args.data_dir))
    checks = [Check(name, compares, needs_cuda) for name, compares, needs_cuda, _ in CHECKS]
    print(f"GPU validation{' (quick)' if args.quick else ''}: "
          f"{torch.cuda.get_device_name(ctx.device) if cuda else NO_CUDA}; torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}; {len(checks)} checks -> {out}", flush=True)

    def meta(finished: bool) -> dict:
        return {"command": " ".join(["python benchmarks/gpu/validate.py", *argv]), "quick": args.quick,
                "cuda": cuda, "device": torch.cuda.get_device_name(ctx.device) if cuda else None,
                "started_at": started_at, "seconds": time.perf_counter() - begin, "budget_s": args.budget_s,
                "finished": finished}

    environment = {**ctx.environment, "python": info.get("python_version")}
    for index, (check, (_, _, _, function)) in enumerate(zip(checks, CHECKS), 1):
        if check.cuda and not cuda:
            check.skip(NO_CUDA)
        elif ctx.out_of_time():
            check.skip(BUDGET_SPENT)
        else:
            run_check(ctx, check, function)
        print(f"[{index}/{len(checks)}] {check.name}  {result_text(check)}  {measured_text(check.values)}  "
              f"({check.seconds:.1f} s)", flush=True)
        write_json_atomic(out / "validation.json", document(checks, meta(False), environment, ctx.lever_ratios))
    environment["compute_ceilings"] = environment_ceilings(ctx.environment["fingerprint"])  # those used, too
    doc = document(checks, meta(True), environment, ctx.lever_ratios)
    write_json_atomic(out / "validation.json", doc)
    table = render_table(checks)
    ratios = plan_checks.render_ratios(ctx.lever_ratios) if ctx.lever_ratios else ""
    write_text_atomic(out / "validation.md", table + "\n" + (f"\nLever ratios to their base:\n\n{ratios}\n"
                                                             if ratios else ""))
    print("\n" + table)
    if ratios:
        print("\nLever ratios (each lever case over its fp32 eager contiguous base on CUDA):\n" + ratios)
    counts = doc["counts"]
    print(f"\n{counts['pass']} passed, {counts['fail']} failed, {counts['skipped']} skipped in "
          f"{doc['seconds']:.0f} s; wrote {out / 'validation.json'} and {out / 'validation.md'}", flush=True)
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main())
