"""The measurement procedure: the settings that decide how every case of a run is timed. Imports no torch.

Both front ends (`tradeoff-bench run` and `pytest benchmarks`) measure a case through the same function
(suite.runner.run_case) with the same settings; every results file records them in
`machine_info.tradeoff_bench.procedure`. Only settings go in, never measured values. Two files whose
procedures differ measured different things: `compare`, `history check` and `merge` refuse to mix them
unless forced. Which front end or executor ran the cases is recorded too but is not a difference; cases
packed several per node on a cluster (`cases_per_node`, present only then: suite/executors/ray.py) are.
"""

from __future__ import annotations

import os

# Bump when the way a case is measured changes in a way that moves its figures (history is re-baselined
# then: `history check` compares only runs with an equal procedure). 3: 1,000 latency calls (fewer past a 10 s
# bound), the step's batch drawing kept out of the timed rounds, every ceiling measurement bounded to 5 s.
PROCEDURE_VERSION = 3
NOT_A_DIFFERENCE = ("front_end", "executor")
# Recorded from a later version on; a run recorded before it measured no case these settings describe.
COMPARED_WHEN_BOTH_RECORD = ("runtimes",)  # suite/levers/runtime.py: ONNX Runtime and OpenVINO settings
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def procedure_block(settings: dict, front_end: str, executor: str = "local") -> dict:
    """The procedure record: measurement settings (rounds, warm-up, spread, latency calls, GC), the
    process's thread settings and CPU affinity, and who ran it (front end, executor)."""
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"version": PROCEDURE_VERSION, **settings,
            "thread_env": {name: os.environ.get(name) for name in THREAD_ENV},
            "cpu_affinity": ",".join(map(str, affinity)) if affinity is not None else None,
            "front_end": front_end, "executor": executor}


def run_procedure(machine_info: dict) -> dict | None:
    """The procedure block of a run's machine_info, None for files written before it was recorded."""
    block = (machine_info.get("tradeoff_bench") or {}).get("procedure")
    return block if isinstance(block, dict) else None


def procedure_difference(baseline: dict | None, candidate: dict | None) -> str | None:
    """None when two runs were measured by the same procedure, else what differs, in words."""
    if baseline is None or candidate is None:
        side = "baseline" if baseline is None else "candidate"
        return f"the {side} records no measurement procedure (a results file of schema 1)" \
            if baseline is not candidate else None
    keys = sorted((set(baseline) | set(candidate)) - set(NOT_A_DIFFERENCE))
    keys = [k for k in keys if k not in COMPARED_WHEN_BOTH_RECORD or (k in baseline and k in candidate)]
    parts = [f"{k} {baseline.get(k)!r} vs {candidate.get(k)!r}" for k in keys if baseline.get(k) != candidate.get(k)]
    return "measurement procedures differ (" + "; ".join(parts) + ")" if parts else None
