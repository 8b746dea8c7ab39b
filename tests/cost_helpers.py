"""Shared by the cost tests: a ceiling cache under tmp_path with a small GEMM, so tests stay fast and local."""

from __future__ import annotations

import pytest

from suite.measure import ceiling


@pytest.fixture
def ceiling_cache(tmp_path, monkeypatch):
    """Ceilings cached in tmp_path, measured on 256x256 matrices, none remembered from earlier tests."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(ceiling.CACHE_ENV, str(cache))
    monkeypatch.setattr(ceiling, "GEMM_SIZE", {"cpu": 256})
    monkeypatch.setattr(ceiling, "_measured", {})
    return cache
