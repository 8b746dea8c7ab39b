"""Instruction counts of a case's training step and batch-1 forward: a deterministic signal for a gate.

Wall-clock on a shared runner moves by more than the regressions a nightly gate must catch; the number of
instructions a step executes does not. Each case is counted in a child process under valgrind's callgrind
(`valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no python -m suite.executors.instructions ...`):

1. Python imports torch with instrumentation off (about 17 s instead of minutes), the case is built by the
   suite's own code (suite.runner.prepare, train_step, latency_call: the step and the forward that are timed)
   and warmed up, still uninstrumented.
2. The child switches instrumentation on (the client request CALLGRIND_START_INSTRUMENTATION, from the PyPI
   package `valgrind`) and toggles collection (torch._C._valgrind_toggle) around N training steps only, dumps
   them as the part "train", then around M batch-1 forwards, dumped as "infer".
3. The parent reads the Ir totals of both parts from the callgrind files (read_instructions) and divides:
   train_instructions_per_sample (per sample of the N steps) and infer_instructions_per_call.

One intra-op thread: valgrind runs a program's threads one at a time, and the instructions of OpenMP's
spin-waits depend on scheduling, not on work (README, "Instruction counts"). This mode trains nothing to the
accuracy budget. A case that cannot be counted (no valgrind, a GPU case, a child that fails) is `skipped` or
`error` with the reason.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from suite.levers import availability
from suite.plumbing.errors import choices_error
from suite.results.schema import CaseResult
from suite.runner import MeasureConfig, latency_call, prepare, train_step
from suite.workloads.data import load_dataset

MEASURES = ("time", "instructions")

INSTALL = "apt-get install valgrind"
FLAGS = ("--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no")
PARTS = ("train", "infer")  # the dumps the child writes, in order, each named in its `desc: Trigger:` line
THREADS = 1
CHILD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
             "PYTHONHASHSEED": "0"}  # one set iteration order, so the same Python code runs in every process


@dataclass(frozen=True)
class CountConfig:
    """How every case is counted (recorded as the run's procedure with valgrind's version and flags)."""

    train_steps: int = 2  # counted: instrumented, one step of the seed CNN costs tens of seconds of CPU
    forwards: int = 20
    warmup_steps: int = 2  # uninstrumented, before counting: one-time allocations and optimizer state
    warmup_forwards: int = 5
    timeout_s: float = 900.0  # per case, the whole child process

    def procedure(self, front_end: str, executor: str = "local") -> dict:
        """This configuration as the run's procedure block: what was counted, with which valgrind and flags."""
        from suite.procedure import procedure_block

        settings = {"measure": "instructions", **asdict(self), "threads": THREADS, "child_env": CHILD_ENV,
                    "valgrind": valgrind_version(), "valgrind_flags": " ".join(FLAGS)}
        return procedure_block(settings, front_end, executor)


def measure_config(name: str, timing_only: bool = False):
    """The measurement settings of `--measure NAME` (and `--timing-only`): time (suite.runner.MeasureConfig) or
    instructions (CountConfig: counts train nothing to the budget anyway)."""
    if name not in MEASURES:
        raise choices_error("measure", name, MEASURES)
    return CountConfig() if name == "instructions" else MeasureConfig(timing_only=timing_only)


def valgrind_version() -> str | None:
    """`valgrind --version` (e.g. "valgrind-3.19.0"), None when valgrind is not on PATH."""
    if shutil.which("valgrind") is None:
        return None
    return subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=False).stdout.strip()


def read_instructions(path: Path) -> tuple[str, int]:
    """(part name, Ir) of one callgrind output file. The part name is what follows `Trigger: Client Request:`
    ("" for other dumps). Ir comes from the `totals:` line, else `summary:`, else the sum of the self-cost
    lines (the cost line after a `calls=` line is the call's inclusive cost and is not added)."""
    events, positions, totals, summary, name = None, 1, None, None, ""
    self_cost, after_calls = 0, False
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("events:"):
            events = line.split(":", 1)[1].split()
            if "Ir" not in events:
                raise ValueError(f"{path.name}: its `events:` line has no Ir")
        elif line.startswith("positions:"):
            positions = len(line.split(":", 1)[1].split())
        elif line.startswith(("totals:", "summary:")):
            values = [int(v) for v in line.split(":", 1)[1].split()]
            totals, summary = (values, summary) if line.startswith("totals:") else (totals, values)
        elif match := re.match(r"desc:\s*Trigger:\s*Client Request:\s*(\S+)", line):
            name = match.group(1)
        elif line.startswith("calls="):
            after_calls = True
        elif events and re.match(r"[0-9+\-*]", line):
            if not after_calls:
                costs = line.split()[positions:]
                self_cost += int(costs[events.index("Ir")]) if len(costs) > events.index("Ir") else 0
            after_calls = False
    if events is None:
        raise ValueError(f"{path.name}: no `events:` line (not a callgrind output file?)")
    values = totals or summary
    return name, (values[events.index("Ir")] if values else self_cost)


def count_case(case, config: CountConfig = CountConfig(), data_dir=None, download: bool = False,
               root: Path | None = None) -> CaseResult:
    """Count one case's training step and batch-1 forward in a child process under callgrind. A case that
    cannot be counted here is `skipped` (no valgrind, not a CPU case, several threads) or `error` (the
    child failed), with the reason. `root`: the source tree whose suite the child runs (default this one;
    `ab` counts each commit's own)."""
    skipped = lambda reason: CaseResult(case.id, case.as_dict(), "skipped", reason)  # noqa: E731
    ok, reason = availability(case)
    if not ok:
        return skipped(reason)
    if valgrind_version() is None:
        return skipped(f"instruction counts need valgrind on PATH ({INSTALL})")
    if importlib.util.find_spec("valgrind") is None:
        return skipped("instruction counts need the Python package valgrind (pip install -e '.[instructions]')")
    if case.device != "cpu" or case.world_size > 1:
        return skipped("instruction counts see one CPU process only (valgrind runs no GPU and no DDP ranks)")
    if case.threads not in (None, THREADS):
        return skipped(f"instruction counts run {THREADS} thread: valgrind runs threads one at a time and "
                       f"counts OpenMP's spin-waits, not work ({case.threads} threads asked)")
    with tempfile.TemporaryDirectory(prefix="tradeoff-instructions-") as tmp:
        try:
            parts, child = run_child(case, config, Path(tmp), data_dir, download, root)
        except (subprocess.TimeoutExpired, RuntimeError, ValueError) as exc:
            return CaseResult(case.id, case.as_dict(), "error", f"instruction count: {exc}".splitlines()[0])
    metrics = {"train_instructions_per_sample": parts["train"] / (config.train_steps * child["samples_per_step"]),
               "infer_instructions_per_call": parts["infer"] / config.forwards,
               "train_instructions": parts["train"], "infer_instructions": parts["infer"]}
    # The groups' rounds: wall seconds per counted call under callgrind (what counting cost, not the case's speed).
    samples = {"train": [child["train_seconds"] / config.train_steps],
               "infer": [child["infer_seconds"] / config.forwards]}
    return CaseResult(case.id, case.as_dict(), "ok", "", metrics, samples)


def run_child(case, config: CountConfig, tmp: Path, data_dir, download: bool,
              root: Path | None = None) -> tuple[dict, dict]:
    """({part: Ir}, the child's own report) of one case counted by a child process under callgrind."""
    import torch

    report, out, data = tmp / "child.json", tmp / "callgrind.out", tmp / "data.pt"
    # Loaded here, at native speed: under valgrind, importing scikit-learn for the digits took about 20 s of CPU.
    torch.save(load_dataset(case.dataset, data_dir, download), data)
    root = str(root or Path(__file__).resolve().parents[2])  # the child imports this same suite by default
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    request = {"case": case.as_dict(), "config": asdict(config), "data": str(data), "report": str(report)}
    command = ["valgrind", *FLAGS, f"--callgrind-out-file={out}", sys.executable, "-m", "suite.executors.instructions",
               json.dumps(request)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=config.timeout_s, check=False)
    if done.returncode != 0 or not report.is_file():
        tail = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("==")]
        raise RuntimeError(f"the child under valgrind exited {done.returncode}: {(tail or ['no output'])[-1]}")
    counts = dict(read_instructions(path) for path in sorted(tmp.glob("callgrind.out.*")))
    missing = [name for name in PARTS if name not in counts]
    if missing:
        raise RuntimeError(f"callgrind wrote no dump named {missing[0]} (found {sorted(counts)})")
    return {name: counts[name] for name in PARTS}, json.loads(report.read_text())


def child_main(request: dict) -> None:
    """In the child under callgrind: build the case, warm up uninstrumented, then count N steps and M forwards
    as the dumps "train" and "infer"; write samples per step and the counted regions' seconds to the report."""
    import torch
    import valgrind

    from suite.cases import make_case
    from suite.levers.precision import case_matmul_precision
    from suite.levers.threads import intra_op_threads

    case, config = make_case(request["case"]), CountConfig(**request["config"])
    with intra_op_threads(THREADS), case_matmul_precision(case):
        p = prepare(case, data=torch.load(request["data"], weights_only=False))  # the parent's own file
        step, per_step = train_step(p)
        forward = latency_call(p, copy.deepcopy(p.model))
        draw = getattr(step, "prepare", lambda calls: None)  # host work, as in the timed rounds: not counted
        draw(config.warmup_steps + config.train_steps)
        for _ in range(config.warmup_steps):
            step()
        for _ in range(config.warmup_forwards):
            forward()
        valgrind.callgrind_start_instrumentation()
        seconds = {}
        for name, fn, calls in (("train", step, config.train_steps), ("infer", forward, config.forwards)):
            start = time.perf_counter()
            torch._C._valgrind_toggle()  # collection on
            for _ in range(calls):
                fn()
            torch._C._valgrind_toggle()  # off
            seconds[f"{name}_seconds"] = time.perf_counter() - start
            valgrind.callgrind_dump_stats(name)
    Path(request["report"]).write_text(json.dumps({"samples_per_step": per_step, **seconds}))


if __name__ == "__main__":
    child_main(json.loads(sys.argv[1]))
    # Interpreter teardown, instrumented, took about 15 s of CPU and counts nothing (collection is off).
    os._exit(0)
