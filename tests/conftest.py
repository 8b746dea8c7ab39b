"""Shared fixtures: the real MNIST 10k split and tinyshakespeare corpus when present, tiny plans, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    if not (path / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST t10k files not found in {path} (set {MNIST_ENV})")
    return path


@pytest.fixture(scope="session")
def text_data_dir() -> Path:
    """A data directory holding tinyshakespeare/input.txt: $TRADEOFF_BENCH_TEXT_DIR, else shared/data beside the
    repo."""
    path = Path(os.environ.get(TEXT_ENV, REPO.parent / "shared" / "data"))
    if not (path / "tinyshakespeare" / "input.txt").is_file():
        pytest.skip(f"tinyshakespeare/input.txt not found in {path} (set {TEXT_ENV})")
    return path


@pytest.fixture
def tiny_plan(tmp_path) -> Path:
    """A two-case plan file (dense and conv, 2 epochs on digits)."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_PLAN)
    return path


def run_cli(*args, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    """Run `tradeoff-bench ARGS` as a user would, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "suite.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)
