"""Whether this machine could time anything reliably during a run, in the way pyperf's `system` checks do.

Read at the start and at the end of a run: the load against the core count (the load averages, and the
runnable threads of other processes sampled for half a second: the averages lag by minutes and would
blame a run for the one before it), CPU steal time (time a hypervisor gave this VM's CPUs to someone
else, from /proc/stat), the frequency-scaling governor, and the share of the wall time this process
spent on the CPU (recorded only: Python's own work keeps intra-op threads idle part of the time). A warning line is
printed and recorded in `machine_info.tradeoff_bench.system` when timings cannot be trusted. Imports no torch.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

STEAL_WARN = 0.05  # more than 5% of CPU time stolen by the hypervisor
SAMPLES, SAMPLE_GAP_S = 10, 0.05  # runnable threads are sampled 10 times over half a second
GOVERNORS = Path("/sys/devices/system/cpu")


def cpu_times(stat_path: str = "/proc/stat") -> tuple[int, int] | None:
    """(total, steal) jiffies of all CPUs since boot, None where /proc/stat is not readable."""
    try:
        fields = Path(stat_path).read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    values = [int(v) for v in fields[1:]]
    return sum(values[:8]), values[7] if len(values) > 7 else 0


def runnable_others(stat_path: str = "/proc/stat") -> float | None:
    """Median count of runnable threads besides this one (procs_running in /proc/stat, minus the reader)."""
    counts = []
    for _ in range(SAMPLES):
        try:
            line = next(x for x in Path(stat_path).read_text().splitlines() if x.startswith("procs_running"))
        except (OSError, StopIteration):
            return None
        counts.append(int(line.split()[1]) - 1)
        time.sleep(SAMPLE_GAP_S)
    return float(sorted(counts)[len(counts) // 2])


def governors(root: Path = GOVERNORS) -> list[str]:
    """The distinct frequency-scaling governors of the CPUs (empty where cpufreq is not exposed, as in most VMs)."""
    return sorted({p.read_text().strip() for p in root.glob("cpu[0-9]*/cpufreq/scaling_governor") if p.is_file()})


def snapshot() -> dict:
    """What the machine looks like now."""
    load1, load5, _ = os.getloadavg()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"time": time.monotonic(), "load1": load1, "load5": load5, "cores": os.cpu_count() or 1,
            "others": runnable_others(), "cpu": cpu_times(), "process_cpu_s": usage.ru_utime + usage.ru_stime,
            "governors": governors()}


def assess(start: dict, end: dict, threads: int) -> dict:
    """The system block: loads, steal, governor, CPU share, and the warnings (empty when all is quiet).

    `threads` is how many CPUs the run's timed work used at most (torch's intra-op threads)."""
    wall = max(end["time"] - start["time"], 1e-9)
    cores = start["cores"]
    usable = min(threads, cores)
    share = (end["process_cpu_s"] - start["process_cpu_s"]) / (wall * usable)
    block = {"load1_start": round(start["load1"], 2), "load1_end": round(end["load1"], 2), "cores": cores,
             "runnable_others_start": start["others"], "runnable_others_end": end["others"], "threads": threads,
             "cpu_share": round(share, 3), "governors": ",".join(end["governors"]) or None}
    warnings = []
    for when, snap in (("start", start), ("end", end)):
        if snap["others"] is not None and snap["others"] >= max(1.0, cores / 2):
            warnings.append(f"{snap['others']:g} runnable threads of other processes on {cores} cores at the {when} "
                            f"(load average {snap['load1']:.2f})")
    if start["cpu"] and end["cpu"] and end["cpu"][0] > start["cpu"][0]:
        steal = (end["cpu"][1] - start["cpu"][1]) / (end["cpu"][0] - start["cpu"][0])
        block["steal"] = round(steal, 4)
        if steal > STEAL_WARN:
            warnings.append(f"{steal:.0%} of CPU time stolen by the hypervisor")
    if "powersave" in end["governors"]:
        warnings.append("CPU frequency governor 'powersave' (clocks vary with load)")
    block["warnings"] = "; ".join(warnings)  # one string: the results schema keeps environment values scalar
    return block


def warning_line(block: dict) -> str | None:
    """One line for the terminal and the report when timings cannot be trusted, else None."""
    if not block.get("warnings"):
        return None
    return f"warning: busy machine, timings may not be trustworthy: {block['warnings']}"


def finish(info: dict, start: dict, threads: int) -> str | None:
    """Record the system block (start against now) and the ceilings the run used in a machine_info;
    returns the warning line, if any."""
    from suite.measure.ceiling import used_ceilings

    block = assess(start, snapshot(), threads)
    info["tradeoff_bench"]["system"] = block
    info["tradeoff_bench"]["compute_ceilings"] = used_ceilings() or info["tradeoff_bench"].get("compute_ceilings", {})
    return warning_line(block)
