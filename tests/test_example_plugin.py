"""The worked plug-in under examples/: installed (into a temporary directory) with its entry points, listed,
and run through both front ends."""

import os
import shutil
import subprocess
import sys

import pytest

from suite import cli
from suite.results.schema import load_run
from tests.conftest import REPO, finished, side_by_side, start_bench, start_cli

EXAMPLE = REPO / "examples" / "tradeoff_bench_example"


@pytest.fixture(scope="module")
def example_env(tmp_path_factory):
    """os.environ with the example installed by pip into a temporary target directory on PYTHONPATH (a copy is
    built, so the source tree stays clean; no network, no dependencies, the environment untouched)."""
    tmp = tmp_path_factory.mktemp("example")
    shutil.copytree(EXAMPLE, tmp / "src")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(tmp / "site"), str(tmp / "src")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp / "site"), str(REPO)])}


def test_list_shows_the_entry_points_with_their_package(example_env):
    proc = subprocess.run([sys.executable, "-m", "suite.cli", "list"], capture_output=True, text=True,
                          env=example_env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [line.split(None, 1) for line in proc.stdout.splitlines()]
    assert ["residual-mlp", "plug-in tradeoff_bench_example.models:residual_mlp (package tradeoff-bench-example "
            "0.1.0)"] in lines
    assert ["breast-cancer", "plug-in tradeoff_bench_example.data:breast_cancer (package tradeoff-bench-example "
            "0.1.0)"] in lines


def test_both_front_ends_run_the_example_plan(example_env, tmp_path):
    plan = EXAMPLE / "plan.toml"
    out, json_out = tmp_path / "run", tmp_path / "pytest.json"
    cli_proc = start_cli("run", "--plan", plan, "--out", out, env=side_by_side(example_env))  # both at once
    bench_proc = start_bench("--plan", plan, "--benchmark-json", json_out, env=side_by_side(example_env))
    proc = finished(cli_proc)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    cli_run = {c.case_id: c for c in load_run(out / "results.json").cases}
    assert len(cli_run) == 3 and all(c.status == "ok" for c in cli_run.values())
    shared, unshared = (cli_run[f"residual-mlp-d2-w32{s}-adam-lr0.001-constant-breast-cancer-cpu-b32-e5-s0"]
                        for s in ("-shared", ""))
    assert unshared.metrics["params"] - shared.metrics["params"] == 32 * 64 + 64 + 64 * 32 + 32  # one MLP
    assert all(c.metrics["test_accuracy"] > 0.9 for c in cli_run.values())  # 114 test samples, 2 classes
    proc = finished(bench_proc)
    assert proc.returncode == 0, proc.stdout[-2000:]
    pytest_run = {c.case_id: c for c in load_run(json_out).cases}
    assert pytest_run.keys() == cli_run.keys()
    for case_id, case in pytest_run.items():  # same seeds, same deterministic CPU training
        assert case.metrics["test_accuracy"] == cli_run[case_id].metrics["test_accuracy"]
        assert case.metrics["params"] == cli_run[case_id].metrics["params"]


def test_without_the_package_its_names_are_unknown(tmp_path, capsys):
    assert cli.main(["run", "--plan", str(EXAMPLE / "plan.toml"), "--out", str(tmp_path)]) == 2
    assert "unknown model 'residual-mlp'; valid choices: dense, conv, seed-cnn, resnet" in capsys.readouterr().err
