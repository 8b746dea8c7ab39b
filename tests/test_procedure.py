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
