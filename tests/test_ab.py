"""`tradeoff-bench ab BASE HEAD` on a throwaway git repository of two commits, HEAD's step slower by a sleep.

The throwaway project is a stand-in for the suite that answers the child protocol of suite/executors/child.py
(request in, CaseResult fields out) by timing two functions of its own, without torch: each fresh process then
costs tens of milliseconds, and what is tested is what `ab` does, the checkouts, the alternation, the statistic
and the verdict. The real child answering the same protocol is tested in test_isolation.py.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import textwrap

from suite import cli
from suite.results import ab_stats

CHILD = textwrap.dedent('''
    """Stand-in child: times work.step and work.forward in rounds and answers as suite.executors.child does."""
    import json
    import sys
    import time

    from suite import work


    def rounds(fn, count=15):
        seconds = []
        for _ in range(count):
            start = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - start)
        return seconds


    def main(request_path, result_path):
        with open(request_path) as f:
            message = json.load(f)
        started = time.monotonic()
        assert message["config"] == {"timing_only": True}, message["config"]
        samples = {"train": rounds(work.step), "infer": rounds(work.forward)}
        result = {"case_id": "stand-in", "case": message["case"], "status": "ok", "reason": "",
                  "metrics": {}, "samples": samples, "node": {}}
        with open(result_path, "w") as f:
            json.dump({"started": started, "seconds": 0.0, "result": result}, f)


    if __name__ == "__main__":
        main(*sys.argv[1:])
''')
WORK = "import time\n\n\ndef step():\n    time.sleep(0.002){extra}\n\n\ndef forward():\n    time.sleep(0.002)\n"
PLAN = '[base]\nmodel = "dense"\ndepth = 1\nwidth = 8\nepochs = 1\ndataset = "digits"\n'


def git(repo, *args) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


def throwaway_repo(tmp_path):
    """A repository whose HEAD~1 steps in 2 ms and whose HEAD sleeps 1 ms more in the step."""
    repo = tmp_path / "repo"
    (repo / "suite" / "executors").mkdir(parents=True)
    (repo / "suite" / "__init__.py").write_text("")
    (repo / "suite" / "executors" / "__init__.py").write_text("")
    (repo / "suite" / "executors" / "child.py").write_text(CHILD)
    (repo / "suite" / "executors" / "instructions.py").write_text('"""Stand-in: the entry point ab checks for."""\n')
    (repo / "suite" / "work.py").write_text(WORK.format(extra=""))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    (repo / "suite" / "work.py").write_text(WORK.format(extra="\n    time.sleep(0.001)  # the injected slowdown"))
    git(repo, "commit", "-q", "-am", "slower step")
    return repo


def test_ab_calls_the_slower_step_regressed(tmp_path, monkeypatch, capsys):
    repo = throwaway_repo(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the two checkouts and the children's files
    plan = tmp_path / "one.toml"
    plan.write_text(PLAN)
    monkeypatch.chdir(repo)
    markdown, document = tmp_path / "ab.md", tmp_path / "ab.json"
    code = cli.main(["ab", "HEAD~1", "HEAD", "--plan", str(plan), "--markdown", str(markdown),
                     "--json", str(document)])
    assert code == 1  # a regression
    record = json.loads(document.read_text())
    assert record["head"]["commit"] == git(repo, "rev-parse", "HEAD")
    assert (record["confidence"], record["call_confidence"]) == (ab_stats.CONFIDENCE, ab_stats.CALL_CONFIDENCE)
    (case,) = record["cases"]
    step, latency = case["metrics"]["train_step"], case["metrics"]["latency"]
    assert step["verdict"] == "regressed" and 1.3 < step["ratio"] < 1.6 and step["low"] > 1
    assert step["confidence"] == ab_stats.CALL_CONFIDENCE  # a change is called on the wider interval
    assert latency["verdict"] == "unchanged" and 0.95 <= latency["low"] <= latency["high"] <= 1.05
    assert latency["confidence"] == ab_stats.CONFIDENCE
    assert 3 <= step["pairs"] <= case["pairs"] <= 15
    assert len(case["times"]["base"]["train_step"]) == case["pairs"]
    printed = capsys.readouterr().out
    assert "training step" in printed and "regressed" in printed
    assert "| dense-d1-w8" in markdown.read_text() and "regressed" in markdown.read_text()
    assert git(repo, "worktree", "list").count("\n") == 0  # the two checkouts are gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ab.json", "ab.md", "one.toml", "repo"]


def test_ab_refuses_an_unknown_ref_in_one_line(tmp_path, monkeypatch, capsys):
    repo = throwaway_repo(tmp_path)
    monkeypatch.chdir(repo)
    assert cli.main(["ab", "no-such-branch", "HEAD"]) == 2
    assert "tradeoff-bench: error: 'no-such-branch' names no commit of" in capsys.readouterr().err


def test_ab_counts_each_commit_in_its_own_tree_and_judges_the_change_by_the_threshold(tmp_path, monkeypatch, capsys):
    """The counting itself is tested in test_instructions.py; here each commit's count stands in for it: the
    instructions a tree's step and forward would execute, read from that tree's own source."""
    from suite.executors import instructions
    from suite.results.schema import CaseResult

    def count_in_tree(case, config, data_dir=None, download=False, root=None):
        work = (root / "suite" / "work.py").read_text()
        step, forward = work.split("def forward")
        metrics = {"train_instructions_per_sample": 1e6 * step.count("sleep"),
                   "infer_instructions_per_call": 1e5 * forward.count("sleep") + len(work) % 7}
        return CaseResult(case.id, case.as_dict(), "ok", "", metrics)

    repo = throwaway_repo(tmp_path)
    monkeypatch.setattr(instructions, "count_case", count_in_tree)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    plan = tmp_path / "one.toml"
    plan.write_text(PLAN)
    monkeypatch.chdir(repo)
    document = tmp_path / "ab.json"
    assert cli.main(["ab", "HEAD~1", "HEAD", "--plan", str(plan), "--measure", "instructions",
                     "--json", str(document)]) == 1
    (case,) = json.loads(document.read_text())["cases"]
    train, infer = case["metrics"]["train_instructions_per_sample"], case["metrics"]["infer_instructions_per_call"]
    assert train == {"verdict": "regressed", "ratio": 2.0, "low": 2.0, "high": 2.0, "pairs": 1}
    assert infer["verdict"] == "unchanged" and abs(infer["ratio"] - 1) < 0.015
    assert "train instr/sample" in capsys.readouterr().out
    assert cli.main(["ab", "HEAD~1", "HEAD~1", "--plan", str(plan), "--measure", "instructions"]) == 0


def test_a_wall_clock_regression_is_suspect_until_the_next_night_flags_it_too(tmp_path):
    from suite.commands.ab import previous_night, two_night_rule

    def night():
        return [{"case_id": "c", "metrics": {"train_step": {"verdict": "regressed"},
                                              "train_instructions_per_sample": {"verdict": "regressed"}}},
                {"case_id": "d", "metrics": {"train_step": {"verdict": "unchanged"}}}]

    first = night()
    two_night_rule(first, previous_night(tmp_path / "no-previous-night.json"))
    assert first[0]["metrics"]["train_step"]["verdict"] == "suspect"
    assert first[0]["metrics"]["train_instructions_per_sample"]["verdict"] == "regressed"  # counts: at once
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps({"cases": first}))
    second = night()
    two_night_rule(second, previous_night(previous))
    assert second[0]["metrics"]["train_step"]["verdict"] == "regressed"
    assert second[1]["metrics"]["train_step"]["verdict"] == "unchanged"


def test_cases_that_move_between_nights_are_left_out_of_the_wall_clock_verdict(tmp_path):
    from suite.cases import Case
    from suite.commands.ab import noisy_cases
    from suite.results.history import open_history

    steady, jumpy = Case(model="dense", width=8), Case(model="dense", width=16)
    db = tmp_path / "h.sqlite"
    with open_history(db) as conn:
        for night, (a, b) in enumerate([(100, 100), (101, 150), (99, 70), (100, 130), (102, 90)]):
            conn.execute("INSERT INTO runs (id, digest, run_time, fingerprint, plan) VALUES (?, ?, ?, 'f', 'p')",
                         (night + 1, f"d{night}", f"2026-12-0{night + 1}"))
            for case, value in ((steady, a), (jumpy, b)):
                conn.execute("INSERT INTO metrics VALUES (?, ?, 'train_samples_per_s', ?)", (night + 1, case.id, value))
    left_out = noisy_cases([steady, jumpy], db, 15.0)
    assert list(left_out) == [jumpy.id] and left_out[jumpy.id] > 15
