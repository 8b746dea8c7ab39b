"""The local executor: the cases one after another in this process (what `tradeoff-bench run` always did)."""

from __future__ import annotations

from contextlib import nullcontext

from suite.executors.node import measure_here


class LocalExecutor:
    """Measures each case here; a stop request takes effect after the case in flight."""

    procedure: dict = {}

    def __init__(self, request):
        self.request = request

    def check(self, cases: list) -> None:
        """Nothing to check beyond what the driver checked already: this process is the worker."""

    def run(self, cases: list, stop, progress=None):
        """Yield (CaseResult, seconds) per case, stopping before the next case once `stop()` is true;
        `progress(case)`, if given, makes the case's progress display (suite.plumbing.progress), closed before its
        yield."""
        for case in cases:
            if stop():
                return
            with progress(case) if progress is not None else nullcontext() as shown:
                measured = measure_here(case, self.request, progress=shown)
            yield measured

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc) -> None:
        pass
