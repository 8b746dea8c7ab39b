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


def test_shard_matrix_covers_every_shard(workflow):
    shards = workflow["jobs"]["bench"]["strategy"]["matrix"]["shard"]
    assert sorted(shards) == list(range(1, int(workflow["env"]["SHARDS"]) + 1))


def test_every_command_parses(workflow):
    lines = commands(workflow)
    cli = [shlex.split(line)[1:] for line in lines if line.startswith("tradeoff-bench ")]
    assert {args[0] for args in cli} >= {"merge", "history", "report", "export"}
    assert any(args[:2] == ["history", "check"] for args in cli)
    parser = build_parser()
    for args in cli:
        parser.parse_args(args)  # argparse exits (SystemExit) on an unknown option or subcommand
    bench = next(line for line in lines if line.startswith("pytest benchmarks"))
    for option in ("--plan", "--shard", "--benchmark-json"):
        assert option in bench
    text = WORKFLOW.read_text()
    for needed in ("GITHUB_STEP_SUMMARY", "actions/cache/restore", "actions/upload-artifact", "history.sqlite"):
        assert needed in text
