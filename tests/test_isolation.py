"""`--isolation process` and `--timing-only`: a child that kills itself is its case's recorded error and the run
goes on; the other case is measured in a fresh interpreter, timing only, and both settings reach the procedure."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import textwrap

from suite import cli
from suite.cases import Case
from suite.executors.isolated import check_isolation, exit_text, failed_result, isolation_procedure
from suite.procedure import procedure_difference
from suite.results.schema import load_run
from suite.runner import MeasureConfig

KILLER = textwrap.dedent("""
    import math
    import os
    import signal
    import sys

    from torch import nn

    PARENT = {parent}

    def factory(case, input_shape, num_classes):
        if case.depth > 1 and os.getpid() != PARENT:  # the check before the run builds it in the parent
            print("building the deep model: about to be killed", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))
""")


def test_a_killed_child_is_the_cases_error_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the children's request and result files
    (tmp_path / "plugin_killer.py").write_text(KILLER.format(parent=os.getpid()))
    monkeypatch.syspath_prepend(str(tmp_path))  # the parent's check imports it; the children through PYTHONPATH
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    plan = tmp_path / "plan.toml"
    plan.write_text('isolation = "process"\n[base]\nmodel = "plugin_killer:factory"\ndataset = "digits"\nwidth = 8\n'
                    'epochs = 1\n[matrix]\ndepth = [2, 1]\n')  # the plan's isolation: no option needed
    out = tmp_path / "out"
    code = cli.main(["run", "--plan", str(plan), "--out", str(out), "--timing-only"])
    assert code == 1  # a case ended in error
    run = load_run(out / "results.json")
    killed, fine = sorted(run.cases, key=lambda c: -c.case["depth"])
    assert killed.status == "error"
    assert killed.reason == ("isolated child process ended: killed by signal 9 (SIGKILL: the kernel's "
                             "out-of-memory killer sends this); its last output: building the deep model: about "
                             "to be killed")
    assert fine.status == "ok" and fine.metrics["params"] == 64 * 10 + 10  # measured after the kill
    assert "test_accuracy" not in fine.metrics and set(fine.samples) == {"train", "infer", "infer_batch"}
    written = json.loads((out / "results.json").read_text())["benchmarks"]
    assert {(b["group"], b["extra_info"]["reason"]) for b in written if b["extra_info"]["case"]["depth"] == 1} \
        == {("train", "timing only: accuracy not measured"), ("infer", "timing only: accuracy not measured")}
    assert len(fine.samples["train"]) == 6  # the contiguous rounds only: no spread rounds, no training
    procedure = run.machine_info["tradeoff_bench"]["procedure"]
    assert (procedure["isolation"], procedure["timing_only"]) == ("process", True)
    printed = capsys.readouterr().out
    assert "[1/2]" in printed and "killed by signal 9" in printed
    assert "isolation " in printed.splitlines()[2]  # the fine case's line shows its start-up cost


def test_isolation_choices_and_exit_texts():
    assert isolation_procedure("none") == {} and isolation_procedure("process") == {"isolation": "process"}
    try:
        check_isolation("thread")
    except Exception as exc:  # noqa: BLE001 - the message is what is checked
        assert str(exc) == "unknown isolation 'thread'; valid choices: none, process"
    assert exit_text(3) == "exit code 3"
    assert exit_text(-signal.SIGSEGV) == "killed by signal 11 (SIGSEGV)"
    result = failed_result(Case(model="dense", depth=1, width=8), 0, "")
    assert (result.status, result.reason) == ("error", "isolated child process ended: exit code 0 but no result "
                                              "written")


def test_the_options_left_off_keep_the_procedure_of_older_runs():
    """A run without --timing-only and --isolation records the procedure it recorded before they existed, so
    `compare` and `history check` still accept older runs; with them, the procedures differ."""
    plain = MeasureConfig().procedure("cli") | isolation_procedure("none")
    assert "timing_only" not in plain and "isolation" not in plain
    timing = MeasureConfig(timing_only=True).procedure("cli") | isolation_procedure("process")
    assert procedure_difference(plain, timing) == ("measurement procedures differ (isolation None vs 'process'; "
                                                   "timing_only None vs True)")


def test_the_option_overrides_the_plans_isolation_and_a_bad_one_is_refused(tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    plan.write_text('isolation = "process"\n[base]\nmodel = "dense"\ndepth = 1\nwidth = 8\nepochs = 1\n')
    assert cli.main(["run", "--plan", str(plan), "--out", str(tmp_path / "a"), "--timing-only",
                     "--isolation", "none"]) == 0
    run = load_run(tmp_path / "a" / "results.json")
    assert "isolation" not in run.machine_info["tradeoff_bench"]["procedure"]
    assert "isolation_startup_s" not in run.cases[0].metrics  # measured in the run's own process
    plan.write_text('isolation = "thread"\n[base]\nmodel = "dense"\n')
    assert cli.main(["run", "--plan", str(plan), "--out", str(tmp_path / "b")]) == 2
    assert "unknown isolation 'thread'; valid choices: none, process" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
