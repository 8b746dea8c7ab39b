"""The measurement procedure as recorded and as the report states it."""

from __future__ import annotations

from types import SimpleNamespace

from suite.report.header import procedure_line
from suite.runner import MeasureConfig


def test_the_procedure_line_says_what_each_timing_includes():
    block = MeasureConfig().procedure("cli")
    line = procedure_line([SimpleNamespace(machine_info={"tradeoff_bench": {"procedure": block}})])[0]
    assert "train samples/s times the training step alone (batches drawn outside the clock)" in line
    assert "train e2e samples/s is samples over the training phase's wall time" in line
    assert "1000 batch-1 calls (fewer where they would take over 10 s: then no p99)" in line


def test_after_the_procedure_bump_history_check_refuses_the_first_run_then_a_new_baseline_grows(tmp_path, capsys):
    """What the README says of a procedure change: the first run of the new procedure is refused by `history
    check` (exit 2, naming the difference) and stored by `history add`; later runs compare with it only."""
    import numpy as np

    from suite.cli import main
    from tests.test_compare import synthetic_case, write_run

    rng, db = np.random.default_rng(5), str(tmp_path / "h.sqlite")
    now = MeasureConfig().procedure("cli")
    before = {k: v for k, v in now.items() if k != "latency_bound_s"} | {"version": 2, "latency_calls": 200}
    old = write_run(tmp_path / "old.json", [synthetic_case("a", rng)], procedure=before)
    assert main(["history", "add", str(old), "--db", db]) == 0
    first = write_run(tmp_path / "first.json", [synthetic_case("a", rng)], procedure=now)
    capsys.readouterr()
    assert main(["history", "check", str(first), "--db", db]) == 2
    err = capsys.readouterr().err
    assert "latency_calls 200 vs 1000" in err and "version 2 vs 3" in err and "--force" in err
    assert main(["history", "check", str(first), "--db", db, "--force"]) == 0
    assert "no earlier comparable runs" in capsys.readouterr().out
    assert main(["history", "add", str(first), "--db", db]) == 0
    second = write_run(tmp_path / "second.json", [synthetic_case("a", rng)], procedure=now)
    capsys.readouterr()
    assert main(["history", "check", str(second), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "untested" in out and "1 baseline runs: a between-run spread needs 3" in out
