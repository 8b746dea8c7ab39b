"""What CI runs: the same lint as tox.ini."""

import configparser

from tests.conftest import REPO


def test_ci_script_runs_tox_lint_command():
    tox = configparser.ConfigParser()
    tox.read(REPO / "tox.ini")
    lint = tox["testenv:lint"]["commands"].strip()
    assert lint == "ruff check suite benchmarks tests"
    script = (REPO / ".ci" / "run").read_text()
    assert script.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script  # a failing line stops it
    lines = [line.split("#")[0].strip() for line in script.splitlines()]
    assert lint in lines and lines.index(lint) < lines.index("pytest")  # its own line, not `|| true`, before tests
