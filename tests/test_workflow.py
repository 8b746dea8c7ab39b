"""The nightly workflow: valid YAML, GitHub Actions' keys where GitHub expects them, and every
`tradeoff-bench` / `pytest benchmarks` command line in it accepted by the real parsers."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from suite.cli import build_parser

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "nightly.yml"
# Allowed keys from GitHub's "Workflow syntax for GitHub Actions" reference
# (https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions).
TOP_KEYS = {"name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"}
JOB_KEYS = {"name", "permissions", "needs", "if", "runs-on", "environment", "concurrency", "outputs", "env",
            "defaults", "steps", "timeout-minutes", "strategy", "continue-on-error", "container", "services"}
STEP_KEYS = {"id", "if", "name", "uses", "run", "shell", "with", "env", "continue-on-error", "timeout-minutes",
             "working-directory"}
EVENTS = {"schedule", "workflow_dispatch", "push", "pull_request", "workflow_call", "workflow_run"}


@pytest.fixture(scope="module")
def workflow() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads a bare `on` key as true
    return doc


def commands(workflow: dict) -> list[str]:
    """Every shell command line of every step, continuation lines joined."""
    lines = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            text = re.sub(r"\\\n\s*", " ", step.get("run", ""))
            lines += [line.strip() for line in text.splitlines() if line.strip()]
    return lines


def test_workflow_keys_follow_github_syntax(workflow):
    assert set(workflow) <= TOP_KEYS
    triggers = workflow["on"]
    assert set(triggers) <= EVENTS and "workflow_dispatch" in triggers
    cron = triggers["schedule"][0]["cron"]
    assert len(cron.split()) == 5
    for name, job in workflow["jobs"].items():
        assert set(job) <= JOB_KEYS and "runs-on" in job and job["steps"], name
        needs = job.get("needs", [])
        assert set([needs] if isinstance(needs, str) else needs) <= set(workflow["jobs"]) - {name}
        for step in job["steps"]:
            assert set(step) <= STEP_KEYS and ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step["uses"]), step["uses"]


def test_every_shard_runs_on_one_runner_and_hands_on_its_part(workflow):
    bench, check = workflow["jobs"]["bench"], workflow["jobs"]["check"]
    assert "strategy" not in bench  # one runner for every shard: the parts share a fingerprint
    run = "\n".join(step.get("run", "") for step in bench["steps"])
    assert 'for k in $(seq 1 "$SHARDS")' in run and "--set threads=1" in workflow["env"]["BENCH_SETS"]
    upload = next(step for step in bench["steps"] if step.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and check["if"] == "always()"


def test_history_is_checked_then_added_and_kept_on_a_data_branch(workflow):
    lines = commands(workflow)
    check = next(i for i, line in enumerate(lines) if line.startswith("tradeoff-bench history check"))
    add = next(i for i, line in enumerate(lines) if line.startswith("tradeoff-bench history add"))
    assert check < add
    assert any("git push origin" in line for line in lines) and workflow["env"]["DATA_BRANCH"]
    assert "actions/cache" not in WORKFLOW.read_text()  # a cache expires after a week unused


def test_every_command_parses(workflow):
    lines = commands(workflow)
    sets = workflow["env"]["BENCH_SETS"]
    cli = [shlex.split(line.split(" | ")[0].replace("$BENCH_SETS", sets))[1:] for line in lines
           if line.startswith("tradeoff-bench ")]
    assert {args[0] for args in cli} >= {"merge", "history", "report", "export", "ab"}
    assert any(args[:2] == ["history", "check"] for args in cli)
    assert all("--force" in args for args in cli if args[0] == "merge")  # merges what exists, names what is missing
    parser = build_parser()
    for args in cli:
        parser.parse_args(args)  # argparse exits (SystemExit) on an unknown option or subcommand
    bench = next(line for line in lines if line.startswith("pytest benchmarks"))
    for option in ("--plan", "--shard", "--benchmark-json"):
        assert option in bench
    text = WORKFLOW.read_text()
    for needed in ("GITHUB_STEP_SUMMARY", "actions/upload-artifact", "history.sqlite"):
        assert needed in text


def test_every_install_pins_the_cpu_torch_build_before_the_project(workflow):
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            lines = [line.strip() for line in step.get("run", "").splitlines()]
            project = [i for i, line in enumerate(lines) if "pip install -e" in line]
            if project:  # the CPU wheel first, so the resolver keeps it (as .ci/run and tox.ini do)
                torch = [i for i, line in enumerate(lines) if line.startswith("python -m pip install torch==2.13.0 "
                                                                             "--index-url https://download.pytorch.org/whl/cpu")]
                assert torch and torch[0] < project[0], step["name"]


def test_the_night_ab_tests_counts_and_wall_clock_against_the_last_good_commit(workflow):
    lines = [shlex.split(line) for line in commands(workflow) if line.startswith("tradeoff-bench ab ")]
    assert len(lines) == 2 and all(args[2:4] == ["${{ steps.good.outputs.commit }}", "HEAD"] for args in lines)
    counted, timed = sorted(lines, key=lambda args: "instructions" not in args)
    assert "--measure" in counted and "--history" in timed and "--previous" in timed
    good = "\n".join(step.get("run", "") for step in workflow["jobs"]["bench"]["steps"])
    assert "tradeoff-bench history last-good" in good and "fetch-depth" in WORKFLOW.read_text()


def test_no_night_passes_silently(workflow):
    restore = next(step["run"] for step in workflow["jobs"]["bench"]["steps"] if "ls-remote" in step.get("run", ""))
    assert 'elif [ "$found" = 2 ]' in restore and "exit 1" in restore  # only "no such branch" starts a history
    assert "|| echo" not in restore.split("git fetch")[1].split("\n")[0]  # a failed fetch is not waved through
    steps = workflow["jobs"]["check"]["steps"]
    merge = next(step["run"] for step in steps if step.get("id") == "merge")
    assert "incomplete=1" in merge and "GITHUB_STEP_SUMMARY" in merge
    final = steps[-1]
    assert final["if"] == "always()" and "steps.merge.outputs.incomplete" in final["run"]
    assert "ab-$ab.exit" in final["run"]
    summary = next(step["run"] for step in steps if "phases.md" in step.get("run", ""))
    assert "ab-count.md" in summary and "ab-time.md" in summary
