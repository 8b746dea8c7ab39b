"""What CI runs: the same lint as tox.ini, and real-data tests that fail under CI when their data is missing."""

import configparser
import re

import pytest

from tests.conftest import REPO, require_data

TEST_COMMAND = "pytest -n 2"  # the README's, in two worker processes


def test_ci_script_runs_tox_lint_command():
    tox = configparser.ConfigParser()
    tox.read(REPO / "tox.ini")
    lint = tox["testenv:lint"]["commands"].strip()
    assert lint == "ruff check suite benchmarks tests"
    script = (REPO / ".ci" / "run").read_text()
    assert script.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script  # a failing line stops it
    lines = [line.split("#")[0].strip() for line in script.splitlines()]
    assert lint in lines and lines.index(lint) < lines.index(TEST_COMMAND)  # its own line, not `|| true`, first


def test_ci_tox_and_the_readme_run_the_tests_the_same_way():
    tox = configparser.ConfigParser()
    tox.read(REPO / "tox.ini")
    assert tox["testenv:py"]["commands"].strip() == f"{TEST_COMMAND} {{posargs}}"
    setup = (REPO / "README.md").read_text().split("## Set up")[1].split("```")[1]
    assert TEST_COMMAND in [line.split("#")[0].strip() for line in setup.splitlines()]


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_missing_data_skips_outside_ci(ci, tmp_path, monkeypatch):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match=re.escape(f"input.txt not found in {tmp_path} (set X_DIR)")):
        require_data(tmp_path, "input.txt", "X_DIR")


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_data_fails_under_ci(ci, tmp_path, monkeypatch):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="input.txt not found in .*; CI is set, so missing test data "
                       "fails instead of skipping"):
        require_data(tmp_path / "absent", "input.txt", "X_DIR")


def test_present_data_is_returned_under_ci_and_not(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "input.txt").write_text("x")
    for ci in ("true", None):
        if ci is None:
            monkeypatch.delenv("CI", raising=False)
        else:
            monkeypatch.setenv("CI", ci)
        assert require_data(tmp_path, "sub/input.txt", "X_DIR") == tmp_path
    with pytest.raises(pytest.skip.Exception):  # a directory of that name is not the file
        require_data(tmp_path, "sub", "X_DIR")
