"""The SQLite run history and the nightly gate: add, reopen, check against the runs before, the rule of
two consecutive violations, regressions kept out of the baseline until accepted, show, plot, change points."""

from __future__ import annotations

import json

import numpy as np
import pytest

from suite.cli import main
from suite.results.history import (
    add_run,
    baseline_entries,
    between_night_spreads,
    change_points,
    comparable_runs,
    file_digest,
    last_good_run,
    open_history,
    recent_runs,
)
from suite.results.schema import load_run
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


def test_add_reopen_and_build_the_baseline_from_run_medians(tmp_path, rng):
    db = tmp_path / "h.sqlite"
    paths = add_runs(tmp_path, rng, 3, db)
    with open_history(db) as conn:  # a fresh connection sees what the CLI stored
        runs = recent_runs(conn)
        assert [r["cases"] for r in runs] == [2, 2, 2] and {r["fingerprint"] for r in runs} == {"aaaaaaaaaaaa"}
        baseline, used = baseline_entries(conn, comparable_runs(conn, "aaaaaaaaaaaa", ""), 10)
    stored = [load_run(p) for p in paths]
    a = baseline["a"]
    # one value per run; raw rounds come from the newest run only, never pooled across runs
    assert used == [1, 2, 3] and len(a.samples["train"]) == 10 and len(a.run_values["train_samples_per_s"]) == 3
    expected = np.median([r.cases[0].metrics["train_samples_per_s"] for r in stored])
    assert a.metrics["train_samples_per_s"] == pytest.approx(expected)
    with open_history(db) as conn, pytest.raises(Exception, match="already in the history as run 1"):
        add_run(conn, stored[0], file_digest(paths[0]))


def night(tmp_path, rng, name, scale_a=1.0, accuracy_a=0.9):
    """A synthetic night of two cases whose per-run medians vary between runs by about 2% (a process shift)."""
    shift = 1 + 0.02 * rng.standard_normal()
    return write_run(tmp_path / f"{name}.json", [synthetic_case("a", rng, scale_a * shift, accuracy=accuracy_a),
                                                 synthetic_case("b", rng, shift)])


def gate(db, path, action="check"):
    return main(["history", action, str(path), "--db", str(db)])


def test_check_flags_a_slowdown_against_the_runs_before(tmp_path, rng, capsys):
    db = tmp_path / "h.sqlite"
    fresh = night(tmp_path, rng, "fresh")
    assert gate(db, fresh) == 0  # empty history: nothing to check
    assert "no earlier comparable runs" in capsys.readouterr().out
    for i in range(4):
        assert gate(db, night(tmp_path, rng, f"n{i}"), "add") == 0
    assert gate(db, night(tmp_path, rng, "same")) == 0
    slow = night(tmp_path, rng, "slow", scale_a=1.3)
    md = tmp_path / "check.md"
    assert main(["history", "check", str(slow), "--db", str(db), "--markdown", str(md)]) == 0  # first violation
    text = md.read_text()
    assert "| a " in text and "suspect" in text and "regressed if the next run confirms it" in text
    other = write_run(tmp_path / "other.json", [synthetic_case("a", rng)], cpu_brand="Other CPU",
                      fingerprint="cccccccccccc")
    assert gate(db, slow, "add") == 0
    assert main(["history", "check", str(other), "--db", str(db)]) == 2
    assert "cpu_brand 'Synthetic CPU' vs 'Other CPU'" in capsys.readouterr().err


def test_five_regressed_nights_keep_failing_until_accepted(tmp_path, rng, capsys):
    """check then add, as nightly.yml does: a slowed build is suspect on its first night, regressed from the
    second on, and never becomes the baseline; after `history accept` the new level passes."""
    db = tmp_path / "h.sqlite"
    for i in range(5):
        path = night(tmp_path, rng, f"good{i}")
        assert gate(db, path) == 0 and gate(db, path, "add") == 0
    exits = []
    for i in range(5):
        path = night(tmp_path, rng, f"slow{i}", scale_a=1.4)
        exits.append(gate(db, path))
        assert gate(db, path, "add") == 0
    assert exits == [0, 1, 1, 1, 1]
    out = capsys.readouterr().out
    assert "two consecutive violations" in out and "left out of later baselines until" in out
    assert main(["history", "accept", "6", "--db", str(db)]) == 0  # the first slowed night: the new level
    for i in range(3):
        path = night(tmp_path, rng, f"after{i}", scale_a=1.4)
        assert gate(db, path) == 0 and gate(db, path, "add") == 0
    assert main(["history", "accept", "99", "--db", str(db)]) == 2


def test_an_accuracy_drop_fails_the_first_night(tmp_path, rng):
    db = tmp_path / "h.sqlite"
    for i in range(3):
        assert gate(db, night(tmp_path, rng, f"good{i}"), "add") == 0
    assert gate(db, night(tmp_path, rng, "drop", accuracy_a=0.88)) == 1


def test_show_and_plot(tmp_path, rng, capsys):
    db = tmp_path / "h.sqlite"
    add_runs(tmp_path, rng, 4, db)
    assert main(["history", "show", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.count("| aaaaaaaaaaaa") == 4 and "train_samples_per_s on fingerprint" in out
    assert "(newest run vs the median of the 5 before it)" in out and "| vs median of 5 before " in out
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


def table_row(out: str, *first: str) -> list[str]:
    """The cells of the one Markdown table row of `out` whose first cells are `first`."""
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("|")]
    [row] = [r for r in rows if r[:len(first)] == list(first)]
    return row


def test_show_and_check_share_one_median(tmp_path, rng, capsys):
    """Over one history of four runs, `history check` prints as its baseline the median of the four (the mean of the
    middle two), and `history show` the newest run's change against that same figure."""
    db = tmp_path / "h.sqlite"
    paths = [write_run(tmp_path / f"run{i}.json", [synthetic_case("a", rng, scale)])
             for i, scale in enumerate((1.0, 1.2, 1.5, 2.0, 1.0))]
    for path in paths[:4]:
        assert main(["history", "add", str(path), "--db", str(db)]) == 0
    values = [load_run(p).cases[0].metrics["train_samples_per_s"] for p in paths]
    low, high = sorted(values[:4])[1:3]
    change = f"{(values[4] / ((low + high) / 2) - 1) * 100:+.1f}%"
    assert change not in {f"{(values[4] / m - 1) * 100:+.1f}%" for m in (low, high)}  # either half would differ
    capsys.readouterr()
    assert main(["history", "check", str(paths[4]), "--db", str(db), "--last", "4"]) == 0
    checked = table_row(capsys.readouterr().out, "a", "train_samples_per_s (samples/s)")
    assert checked[2:5] == [f"{(low + high) / 2:,.0f}", f"{values[4]:,.0f}", change]
    assert main(["history", "add", str(paths[4]), "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["history", "show", "--db", str(db), "--last", "4"]) == 0
    assert table_row(capsys.readouterr().out, "a")[3] == change


def test_history_plot_numbers_whole_runs():
    from suite.commands.history import history_figure

    lines = {"a": [(1, "t", 10.0), (2, "t", 11.0), (3, "t", 10.5)], "b": [(2, "t", 5.0), (3, "t", 5.2)]}
    figure = history_figure(lines, "train_samples_per_s", "aaaaaaaaaaaa")
    figure.canvas.draw()
    ticks = [t for t in figure.axes[0].get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)


def with_commit(path, commit: str):
    """The results file with another commit id (each synthetic night is its own commit)."""
    document = json.loads(path.read_text())
    document["commit_info"]["id"] = commit
    path.write_text(json.dumps(document))
    return path


def test_last_good_is_the_newest_run_nothing_was_flagged_in_or_accepted(tmp_path, rng, capsys):
    db = tmp_path / "h.sqlite"
    assert main(["history", "last-good", "--db", str(db)]) == 1
    assert "no run without a flagged verdict" in capsys.readouterr().err
    for i in range(4):
        assert gate(db, with_commit(night(tmp_path, rng, f"good{i}"), f"{i:040d}"), "add") == 0
    assert gate(db, with_commit(night(tmp_path, rng, "slow", scale_a=1.4), "f" * 40), "add") == 0  # suspect
    capsys.readouterr()
    assert main(["history", "last-good", "--db", str(db), "--plan", "synthetic"]) == 0
    assert capsys.readouterr().out.strip() == f"{3:040d}"  # the slowed night is flagged: the one before it
    assert main(["history", "accept", "5", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["history", "last-good", "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip() == "f" * 40
    with open_history(db) as conn:
        spreads = between_night_spreads(conn, "train_samples_per_s")
        assert last_good_run(conn, "another plan") is None
    # nights shift by about 2% (night()); case a's slowed night is one of five, so the median-based spread holds
    assert set(spreads) == {"a", "b"} and 0.002 < spreads["b"] < 0.06 and spreads["a"] < 0.1
