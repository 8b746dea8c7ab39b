"""`tradeoff-bench export`: github-action-benchmark's custom JSON, written beside the results file by default."""

from __future__ import annotations

import json
import shutil

from suite.cli import main
from suite.results.schema import load_run
from tests.test_report import FIXTURE


def test_export_writes_both_directions_beside_the_results_file(tmp_path, capsys):
    results = tmp_path / "run" / "results.json"
    results.parent.mkdir()
    shutil.copy(FIXTURE, results)
    assert main(["export", str(results)]) == 0
    bigger = json.loads((results.parent / "github-action-benchmark-bigger.json").read_text())
    smaller = json.loads((results.parent / "github-action-benchmark-smaller.json").read_text())
    base = load_run(FIXTURE).cases[0]
    entry = next(e for e in bigger if e["name"] == f"{base.case_id} train_samples_per_s")
    assert entry["unit"] == "samples/s" and entry["value"] == base.metrics["train_samples_per_s"]
    assert any(e["name"] == f"{base.case_id} infer_latency_ms_p50" and e["unit"] == "ms" for e in smaller)
    assert capsys.readouterr().out.count(f"wrote {results.parent}") == 2


def test_end_to_end_throughput_is_exported_without_a_round_count():
    from suite.results.export import github_action_benchmark

    run = load_run(FIXTURE)
    case = run.cases[0]
    case.metrics |= {"train_e2e_samples_per_s": 1234.0, "infer_latency_samples": 1000}
    entry = next(e for e in github_action_benchmark(run, "bigger")
                 if e["name"] == f"{case.case_id} train_e2e_samples_per_s")
    assert entry["value"] == 1234.0 and "rounds" not in entry["extra"]  # one figure, not the latency calls
