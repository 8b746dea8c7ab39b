"""The SQLite run history: add, reopen, check against a rolling baseline, show, plot, change points."""

from __future__ import annotations

import numpy as np
import pytest

from suite.cli import main
from suite.history import add_run, change_points, file_digest, open_history, recent_runs, rolling_baseline
from suite.results import load_run
from tests.test_compare import synthetic_case, write_run


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def add_runs(tmp_path, rng, count, db, scale=1.0):
    """`count` synthetic runs of two cases added through the CLI; their paths."""
    paths = []
    for index in range(count):
        path = write_run(tmp_path / f"run{index}.json", [synthetic_case("a", rng, scale), synthetic_case("b", rng)])
        assert main(["history", "add", str(path), "--db", str(db)]) == 0
        paths.append(path)
    return paths


def test_add_reopen_and_pool_the_baseline(tmp_path, rng):
    db = tmp_path / "h.sqlite"
    paths = add_runs(tmp_path, rng, 3, db)
    with open_history(db) as conn:  # a fresh connection sees what the CLI stored
        runs = recent_runs(conn)
        assert [r["cases"] for r in runs] == [2, 2, 2] and {r["fingerprint"] for r in runs} == {"aaaaaaaaaaaa"}
        baseline = rolling_baseline(conn, [r["id"] for r in runs])
    stored = [load_run(p) for p in paths]
    a = baseline["a"]
    assert len(a.samples["train"]) == 30 and len(a.run_values["train_samples_per_s"]) == 3
    expected = np.median([r.cases[0].metrics["train_samples_per_s"] for r in stored])
    assert a.metrics["train_samples_per_s"] == pytest.approx(expected)
    with open_history(db) as conn, pytest.raises(Exception, match="already in the history as run 1"):
        add_run(conn, stored[0], file_digest(paths[0]))


def test_check_flags_a_slowdown_against_the_rolling_median(tmp_path, rng, capsys):
    db = tmp_path / "h.sqlite"
    fresh = write_run(tmp_path / "fresh.json", [synthetic_case("a", rng)])
    assert main(["history", "check", str(fresh), "--db", str(db)]) == 0  # empty history: nothing to check
    assert "no earlier runs" in capsys.readouterr().out
    add_runs(tmp_path, rng, 3, db)
    same = write_run(tmp_path / "same.json", [synthetic_case("a", rng), synthetic_case("b", rng)])
    assert main(["history", "check", str(same), "--db", str(db), "--last", "2"]) == 0
    assert "median of runs 3, 2" in capsys.readouterr().out
    slow = write_run(tmp_path / "slow.json", [synthetic_case("a", rng, 1.2), synthetic_case("b", rng)])
    md = tmp_path / "check.md"
    assert main(["history", "check", str(slow), "--db", str(db), "--markdown", str(md)]) == 1
    text = md.read_text()
    assert "| a " in text and "**regressed**" in text and "1 regressed" in text
    other = write_run(tmp_path / "other.json", [synthetic_case("a", rng)], cpu_brand="Other CPU",
                      fingerprint="cccccccccccc")
    assert main(["history", "check", str(other), "--db", str(db)]) == 2
    assert "cpu_brand 'Synthetic CPU' vs 'Other CPU'" in capsys.readouterr().err


def test_show_and_plot(tmp_path, rng, capsys):
    db = tmp_path / "h.sqlite"
    add_runs(tmp_path, rng, 4, db)
    assert main(["history", "show", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.count("| aaaaaaaaaaaa") == 4 and "train_samples_per_s on fingerprint" in out
    png = tmp_path / "plot.png"
    assert main(["history", "plot", "--db", str(db), "--case", "a", "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
    assert main(["history", "plot", "--db", str(db), "--metric", "nope", "--out", str(png)]) == 2


def test_bad_database_and_missing_fingerprint(tmp_path, rng, capsys):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    assert main(["history", "show", "--db", str(junk)]) == 2
    assert "not a history database" in capsys.readouterr().err
    bare = write_run(tmp_path / "bare.json", [synthetic_case("a", rng)], fingerprint="")
    assert main(["history", "add", str(bare), "--db", str(tmp_path / "h.sqlite")]) == 2
    assert "no environment fingerprint" in capsys.readouterr().err


def test_change_points_find_a_level_shift_and_not_noise():
    rng = np.random.default_rng(3)
    level = np.r_[np.full(8, 100.0), np.full(8, 85.0)] + rng.normal(0, 1.0, 16)
    assert change_points(level) == [8]
    assert change_points(100 + rng.normal(0, 1.0, 16)) == []
    assert change_points([5.0, 5.0, 5.0]) == []
