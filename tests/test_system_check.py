"""The busy-machine check: warnings from runnable threads of other processes, steal time and the governor,
recorded in the results and shown at the top of the report."""

from __future__ import annotations

from suite.measure import system_check
from suite.report.header import busy_warnings
from suite.results.schema import load_run
from tests.test_compare import rng as rng  # noqa: F401  (fixture)
from tests.test_compare import synthetic_case, write_run


def snap(time, others, total, steal, load1=0.1, governors=()):
    return {"time": time, "load1": load1, "load5": load1, "cores": 2, "others": others, "cpu": (total, steal),
            "process_cpu_s": time / 2, "governors": list(governors)}


def test_a_quiet_machine_gives_no_warning():
    block = system_check.assess(snap(0, 0.0, 1000, 0), snap(60, 0.0, 13000, 10), threads=2)
    assert block["warnings"] == "" and system_check.warning_line(block) is None and block["steal"] < 0.01


def test_another_process_steal_and_powersave_are_named():
    block = system_check.assess(snap(0, 2.0, 1000, 0, load1=2.4), snap(60, 1.0, 13000, 1200, governors=["powersave"]),
                                threads=2)
    line = system_check.warning_line(block)
    assert line.startswith("warning: busy machine, timings may not be trustworthy: ")
    assert "2 runnable threads of other processes on 2 cores at the start" in line
    assert "10% of CPU time stolen" in line and "powersave" in line and "\n" not in line


def test_the_report_header_carries_the_warning(tmp_path, rng):  # noqa: F811
    env = {"system": system_check.assess(snap(0, 2.0, 1000, 0), snap(60, 2.0, 13000, 0), threads=2)}
    run = load_run(write_run(tmp_path / "busy.json", [synthetic_case("c", rng)], **env))
    (line,) = busy_warnings([run])
    assert "busy machine during busy.json" in line and "runnable threads of other processes" in line


def test_runnable_threads_are_read_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3 4 5 6 7 8 0 0\nprocs_running 3\nprocs_blocked 0\n")
    assert system_check.runnable_others(str(stat)) == 2.0  # the reader itself is one of them
    assert system_check.cpu_times(str(stat)) == (36, 8)
