"""The night simulation's replay (benchmarks/regression_rates.py rates) on synthetic nights with seeded noise:
it must count a clean history as clean, and catch a 30% slowdown and a 2 pp accuracy drop."""

from __future__ import annotations

import importlib.util
import json

import numpy as np

from tests.conftest import REPO
from tests.test_compare import synthetic_case, write_run


def load_simulation():
    spec = importlib.util.spec_from_file_location("regression_rates", REPO / "benchmarks" / "regression_rates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_night(path, rng, cases, slowed=None, scale=1.3):
    """One night: every case with 1% noise in its rounds and a 1.5% shift of the whole process."""
    shift = 1 + 0.015 * rng.standard_normal()
    results = [synthetic_case(c, rng, shift * (scale if c == slowed else 1.0)) for c in cases]
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_run(path, results)


def test_replay_counts_false_alarms_and_detections(tmp_path, capsys):
    rng = np.random.default_rng(11)
    cases = ["a", "b", "c"]
    for night in range(1, 9):
        synthetic_night(tmp_path / f"night-{night:03d}" / "results.json", rng, cases)
    trials = ["b", "c"]
    (tmp_path / "trials.json").write_text(json.dumps({"slowdown": 0.3, "cases": trials}))
    for index, case in enumerate(trials, 1):
        for night in (1, 2):
            synthetic_night(tmp_path / "injected" / f"trial-{index:03d}-night-{night}.json", rng, [case], case)
    simulation = load_simulation()
    assert simulation.main(["rates", "--out", str(tmp_path), "--base", "5"]) == 0
    rates = json.loads((tmp_path / "rates.json").read_text())
    assert rates["aa_checks"] == 8 and rates["aa_false_alarm_nights"] == 0
    assert rates["slowdown_flagged_within_2_nights"] == 2 and rates["accuracy_flagged_first_night"] == 2
    out = capsys.readouterr().out
    assert "- A/A: 0/8 (0%, 95% CI 0-37%)" in out and "suspect then regressed" in out
