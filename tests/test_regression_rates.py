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


def test_simulated_nights_draw_processes_from_the_pool_through_the_ab_loop(tmp_path, capsys):
    """Ten processes per case with 2% noise (and one case whose processes move 40%): the steady cases give no false
    alarm, a 30% slower step is caught within two nights, the jumpy case is left out; counts likewise."""
    rng = np.random.default_rng(5)
    for index in range(1, 11):
        results = [synthetic_case(c, rng, float(np.exp(noise * rng.standard_normal())), noise=0.01)
                   for c, noise in (("a", 0.02), ("b", 0.02), ("jumpy", 0.4))]
        write_run(tmp_path / "pool" / f"run-{index:03d}" / "results.json", results)
    counts = []
    for index in range(3):
        results = [synthetic_case(c, rng) for c in ("a", "b")]
        for result in results:
            result.metrics |= {"train_instructions_per_sample": 1e5 * (1 + 0.001 * index),
                               "infer_instructions_per_call": 5e4}
        counts.append(str(write_run(tmp_path / f"counts-{index}.json", results)))
    for night in range(1, 12):  # real nights for the accuracy trials: the gate's 10 before each checked one
        synthetic_night(tmp_path / f"night-{night:03d}" / "results.json", rng, ["a", "b"])
    simulation = load_simulation()
    assert simulation.main(["simulate", "--out", str(tmp_path), "--nights", "12", "--trials", "6", "--slowdown", "0.3",
                            "--counts", *counts]) == 0
    text = (tmp_path / "simulated.md").read_text()
    assert "10 to 10 processes each" in text and "left out of the wall-clock verdict" in text and "jumpy (" in text
    assert "- wall-clock A/A: 0/12" in text
    assert "`regressed` within 2 nights in 6/6" in text
    assert "- counts A/A: 0/12" in text and "increase `regressed` the first night in 6/6" in text
    assert "- accuracy: a 2 pp drop in one case `regressed` the first night in 6/6" in text
