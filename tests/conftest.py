"""Shared fixtures: the real MNIST 10k split and tinyshakespeare corpus when present, tiny plans, and a CLI runner."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
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


ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# About 30 s or more of one worker each (`pytest -n 2 --durations=40`, 2 cores).
LONGEST_MODULES = ("test_ray_executor.py", "test_instructions.py", "test_hardening.py", "test_faults.py",
                   "test_keras_seed.py")


def pytest_configure(config):
    """Under pytest-xdist (`pytest -n 2`), before the workers start: send them whole modules (a module's fixtures
    then run once, and one worker starts the Ray cluster), and give them and what they start one OpenMP and MKL
    thread (recorded in each run's procedure, thread_env). Two workers of torch's default thread count on a 2-core
    machine wait at every parallel region for a thread the other holds: the load reached 3.5 and the run was slower
    than in one process. In a worker: what it starts is a plain run, not a worker (pytest-benchmark disables itself
    in a process that inherits PYTEST_XDIST_WORKER, and a child `pytest benchmarks` whose cases were all skipped
    wrote no JSON)."""
    if hasattr(config, "workerinput"):
        for key in [k for k in os.environ if k.startswith("PYTEST_XDIST_")]:
            del os.environ[key]
    elif config.pluginmanager.hasplugin("xdist") and config.getoption("numprocesses", None):
        for key, value in ONE_THREAD.items():
            os.environ.setdefault(key, value)
        if config.getoption("dist") == "load":  # what -n alone gives
            config.option.dist = "loadfile"


def pytest_collection_modifyitems(items):
    """The longest modules first (LONGEST_MODULES), in that order, the rest as collected: with whole modules sent
    to two workers, one started last would leave the other worker idle while it runs."""
    rank = {name: index for index, name in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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
    return {**(os.environ if env is None else env), **ONE_THREAD}


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


def run_shared_plan(plan: Path, folder: Path) -> dict:
    """Both front ends on PLAN at once, each in a subprocess (the runs are independent, and two processes use both
    cores of a small test machine): {"cli": [DIR, args, exit code, stdout, stderr], "bench": [FILE, ...]}.
    `tradeoff-bench run --plan PLAN --out DIR`, and `pytest benchmarks/test_cases.py --plan PLAN --set device=cpu
    --benchmark-json FILE` (the base case's device set to what it already is)."""
    out, bench_json = folder / "cli-run", folder / "bench-run.json"
    cli = start_cli("run", "--plan", plan, "--out", out, env=side_by_side())
    bench = start_bench("--plan", plan, "--benchmark-json", bench_json, "-rs", "--set", "device=cpu",
                        env=side_by_side())
    return {name: [str(path), proc.args, proc.returncode, proc.stdout, proc.stderr]
            for name, path, proc in [("cli", out, finished(cli)), ("bench", bench_json, finished(bench))]}


@pytest.fixture(scope="session")
def shared_runs(shared_plan, tmp_path_factory, request) -> dict:
    """The shared plan run once by both front ends (run_shared_plan): {"cli": (DIR, the finished process), "bench":
    (FILE, the finished process)}. Under pytest-xdist the first worker to need them runs them and records them in
    the test run's folder, which the workers share; the other waits for that record and reads it."""
    root = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):
        root = root.parent  # basetemp/popen-gwN: the run's folder above it
    with open(root / "shared-runs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        record = root / "shared-runs.json"
        if not record.is_file():
            record.write_text(json.dumps(run_shared_plan(shared_plan, root / "shared-runs")))
        runs = json.loads(record.read_text())
    return {name: (Path(path), subprocess.CompletedProcess(args, code, stdout, stderr))
            for name, (path, args, code, stdout, stderr) in runs.items()}


@pytest.fixture(scope="session")
def cli_run(shared_runs) -> tuple[Path, subprocess.CompletedProcess]:
    """`tradeoff-bench run` of the shared plan (shared_runs): (DIR, the finished process)."""
    return shared_runs["cli"]


@pytest.fixture(scope="session")
def bench_run(shared_runs) -> tuple[Path, subprocess.CompletedProcess]:
    """`pytest benchmarks` of the shared plan (shared_runs): (FILE, the finished process)."""
    return shared_runs["bench"]


@pytest.fixture(scope="session")
def ray_cluster() -> str:
    """One local Ray cluster for the session: a head node and a second node, one CPU each, the second with another
    allocator setting (so another environment fingerprint); its address. Every process it started is ended by pid
    at the end, and none of them listened off the loopback interface."""
    tmp = Path(tempfile.mkdtemp(prefix="ray-"))  # short: Ray's socket paths under it must fit AF_UNIX's 107 bytes
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
        shutil.rmtree(tmp, ignore_errors=True)
