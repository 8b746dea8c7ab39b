"""Rows that ran without hardware support for their lever: bf16 on a CPU without bf16 instructions (autocast runs
it emulated, often slower than fp32), int8 quantization on a CPU without VNNI. Read from the results file's CPU
flags (machine_info.cpu.flags, suite.results.isa); imports no torch."""

from __future__ import annotations

from suite.results.isa import HARDWARE_FLAGS, isa_class, lacks_hardware
from suite.results.schema import CaseResult, Run

WHAT = {"bf16": "bf16 ran emulated", "int8": "int8 ran without VNNI dot-product instructions"}


def lever_of(case: dict) -> str | None:
    """The precision a CPU case needs special instructions for: "bf16", "int8" (a quantized case) or None."""
    if case.get("device", "cpu") != "cpu":
        return None
    if case.get("precision") == "bf16":
        return "bf16"
    return "int8" if case.get("quantization") not in (None, "none") else None


def unsupported(member: CaseResult, run: Run) -> str | None:
    """"bf16" or "int8" when a case needs those instructions and the run's CPU lacks them, else None. A case that
    another host measured (a Ray cluster's node) is not judged: only the run's own CPU flags are recorded. The host
    decides: files written before schema 5 hold the case's thread count in the node fingerprint."""
    host = (member.node or {}).get("host")
    if host and run.machine_info.get("node") and host != run.machine_info["node"]:
        return None
    lever = lever_of(member.case)
    return lever if lever and lacks_hardware(lever, run.machine_info.get("cpu")) else None


def mark(lever: str | None) -> str:
    """What a row's name carries when it ran without hardware support: " (no bf16 hardware)", or ""."""
    return f" (no {lever} hardware)" if lever else ""


def hardware_paragraphs(run: Run) -> list[str]:
    """One sentence per lever that some row of the run used without hardware support, naming the CPU's class and
    the flags it lacks."""
    levers = dict.fromkeys(lever for lever in (unsupported(m, run) for m in run.cases) if lever)
    cpu = run.machine_info.get("cpu")
    return [f"Rows marked \"{mark(lever).strip()}\" ran on a CPU of class {isa_class(cpu)} whose flags have none of "
            f"{', '.join(sorted(HARDWARE_FLAGS[lever]))}: {WHAT[lever]}, so their speed says little about a CPU "
            "that has them." for lever in levers]
