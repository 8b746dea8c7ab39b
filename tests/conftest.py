"""Shared fixtures: the real MNIST 10k split and tinyshakespeare corpus when present, tiny plans, and a CLI runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ray_helpers import RAY_ENV, STORE, not_loopback, ray_pids

REPO = Path(__file__).resolve().parent.parent
MNIST_ENV = "TRADEOFF_BENCH_MNIST_DIR"
TEXT_ENV = "TRADEOFF_BENCH_TEXT_DIR"
CACHE_ENV = "TRADEOFF_BENCH_CACHE"
TINY_PLAN = """
description = "two tiny cases for tests"
[base]
model = "dense"
depth = 1
width = 16
optimizer = "adam"
epochs = 2
dataset = "digits"
[matrix]
model = ["dense", "conv"]
"""


def in_ci() -> bool:
    """Whether the tests run under CI: the environment variable CI is set to anything but "", "0" or "false"."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def require_data(path: Path, needed: str, env: str) -> Path:
    """PATH when PATH/NEEDED is a file. Otherwise the test skips with the reason, or fails under CI (in_ci()),
    where a missing data set would silently leave the real-data tests out."""
    if (path / needed).is_file():
        return path
    reason = f"{needed} not found in {path} (set {env})"
    if in_ci():
        pytest.fail(f"{reason}; CI is set, so missing test data fails instead of skipping", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def ceiling_cache(tmp_path_factory):
    """Keep the measured compute ceilings of the test session out of the user's cache (subprocesses too)."""
    path = tmp_path_factory.mktemp("cache")
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(path)
    yield path
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The MNIST t10k IDX files: $TRADEOFF_BENCH_MNIST_DIR, else shared/data/mnist-t10k beside the repo."""
    path = Path(os.environ.get(MNIST_ENV, REPO.parent / "shared" / "data" / "mnist-t10k"))
    return require_data(path, "t10k-images-idx3-ubyte.gz", MNIST_ENV)


@pytest.fixture(scope="session")
def text_data_dir() -> Path:
    """A data directory holding tinyshakespeare/input.txt: $TRADEOFF_BENCH_TEXT_DIR, else shared/data beside the
    repo."""
    path = Path(os.environ.get(TEXT_ENV, REPO.parent / "shared" / "data"))
    return require_data(path, "tinyshakespeare/input.txt", TEXT_ENV)


@pytest.fixture
def tiny_plan(tmp_path) -> Path:
    """A two-case plan file (dense and conv, 2 epochs on digits)."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_PLAN)
    return path


def start_cli(*args, cwd=None, env=None) -> subprocess.Popen:
    """Start `tradeoff-bench ARGS` as a user would, in a subprocess whose output is captured as text."""
    return subprocess.Popen([sys.executable, "-m", "suite.cli", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_bench(*args, env=None) -> subprocess.Popen:
    """Start `pytest benchmarks/test_cases.py -q -p no:cacheprovider ARGS` from the repository root, in a subprocess
    whose output is captured as text."""
    return subprocess.Popen([sys.executable, "-m", "pytest", "benchmarks/test_cases.py", "-q", "-p", "no:cacheprovider",
                             *map(str, args)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def side_by_side(env: dict | None = None) -> dict:
    """The environment (default: this process's) for one of two runs started at once: one OpenMP and MKL thread,
    recorded in each run's procedure (thread_env). Two runs of torch's default thread count on a 2-core machine
    would each wait at every parallel region for a thread the other run holds: a tiny model's batch-1 call then
    took over 10 ms in CI, past the latency bound, and its p99 was left out."""
    return {**(os.environ if env is None else env), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def finished(proc: subprocess.Popen, timeout: float = 600) -> subprocess.CompletedProcess:
    """The Popen's outcome as subprocess.run returns it (text output); killed after `timeout` seconds."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def run_cli(*args, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    """Run `tradeoff-bench ARGS` as a user would, in a subprocess."""
    return finished(start_cli(*args, cwd=cwd), timeout)


# The tiny plan and a case on MPS (skipped where MPS is absent), run once per session by each front end:
# tests of the CLI, of pytest benchmarks, of reproducibility and of skipped devices assert on the same two runs.
SHARED_PLAN = TINY_PLAN + '[sweep]\ndevice = ["mps"]\n'


@pytest.fixture(scope="session")
def shared_plan(tmp_path_factory) -> Path:
    """SHARED_PLAN as a file."""
    path = tmp_path_factory.mktemp("shared-plan") / "tiny.toml"
    path.write_text(SHARED_PLAN)
    return path


@pytest.fixture(scope="session")
def shared_runs(shared_plan, tmp_path_factory) -> dict:
    """The shared plan run by both front ends at once, each in a subprocess (the runs are independent, and two
    processes use both cores of a small test machine): {"cli": (DIR, process), "bench": (FILE, process)}.
    `tradeoff-bench run --plan SHARED_PLAN --out DIR`, and `pytest benchmarks/test_cases.py --plan SHARED_PLAN
    --set device=cpu --benchmark-json FILE` (the base case's device set to what it already is)."""
    out = tmp_path_factory.mktemp("cli-run") / "out"
    bench_json = tmp_path_factory.mktemp("bench-run") / "out.json"
    cli = start_cli("run", "--plan", shared_plan, "--out", out, env=side_by_side())
    bench = start_bench("--plan", shared_plan, "--benchmark-json", bench_json, "-rs", "--set", "device=cpu",
                        env=side_by_side())
    return {"cli": (out, finished(cli)), "bench": (bench_json, finished(bench))}


@pytest.fixture(scope="session")
def cli_run(shared_runs) -> tuple[Path, subprocess.CompletedProcess]:
    """`tradeoff-bench run` of the shared plan (shared_runs): (DIR, the finished process)."""
    return shared_runs["cli"]


@pytest.fixture(scope="session")
def bench_run(shared_runs) -> tuple[Path, subprocess.CompletedProcess]:
    """`pytest benchmarks` of the shared plan (shared_runs): (FILE, the finished process)."""
    return shared_runs["bench"]


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory) -> str:
    """One local Ray cluster for the session: a head node and a second node, one CPU each, the second with another
    allocator setting (so another environment fingerprint); its address. Every process it started is ended by pid
    at the end, and none of them listened off the loopback interface."""
    tmp = tmp_path_factory.mktemp("ray")
    saved = {k: os.environ.get(k) for k in [*RAY_ENV, "RAY_TMPDIR"]}
    os.environ.update(RAY_ENV, RAY_TMPDIR=str(tmp))
    from ray import cluster_utils  # after the environment: Ray reads it when imported

    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "object_store_memory": STORE})
    cluster.add_node(num_cpus=1, object_store_memory=STORE, env_vars={"MALLOC_ARENA_MAX": "2"})
    try:
        yield cluster.address
        assert not_loopback(ray_pids(str(tmp)) + ray_pids("ray::")) == []  # the daemons
    finally:
        cluster.shutdown()
        for pid in ray_pids(str(tmp)):  # whatever outlived the shutdown (agents ignore SIGTERM)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
