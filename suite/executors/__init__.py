"""Executors: where a plan's cases run. One interface, one small module each.

    with make_executor("ray", request, address=None, cases_per_node=1) as executor:
        executor.check(cases)                       # before any case starts: plug-ins and data on every worker
        for result, seconds in executor.run(cases, stop=lambda: False):
            ...                                     # results come back as each case finishes

`local` (local.py) measures the cases one after another in this process, as `tradeoff-bench run` always
did; `ray` (ray.py) runs each case as one Ray task on a cluster, with a resource request that keeps
measured cases off each other's hardware. Both measure a case through node.measure_here, which calls the
runner (suite.runner.run_case) and records which node measured it; the runner knows nothing of executors.
With `--isolation process` measure_here hands each case to a fresh interpreter (isolated.py) under either executor.
The caller (suite/commands/run.py) owns the journal, the signals and the order of a study's phases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from suite.plumbing.errors import choices_error

EXECUTORS = {
    "local": "one case after another in this process (the default)",
    "ray": "each case a Ray task on a cluster (pip install -e '.[ray]'), one measured case per node by default",
}


@dataclass(frozen=True)
class MeasureRequest:
    """How every case of the run is measured, wherever it runs: the measurement settings and the data."""

    config: object  # suite.runner.MeasureConfig
    data_dir: str | None = None
    download: bool = False
    isolation: str = "none"  # "process": each case in a fresh interpreter (suite/executors/isolated.py)


class Executor(Protocol):
    """Runs cases and gives their results back as they finish."""

    procedure: dict  # what this executor adds to the run's procedure block (suite/procedure.py)

    def check(self, cases: list) -> None:
        """Refuse (ConfigError) before any case starts when the workers cannot run these cases."""

    def run(self, cases: list, stop: Callable[[], bool], progress=None) -> Iterator[tuple]:
        """Yield (CaseResult, seconds) per case as each finishes; once `stop()` is true, cancel what is in
        flight and return. Every case not yielded was not measured. `progress(case)` makes a case's progress
        display (suite.plumbing.progress) where the executor can show one (local: yes; Ray: no, its workers have no
        terminal)."""

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc) -> None: ...


def make_executor(name: str, request: MeasureRequest, address: str | None = None,
                  cases_per_node: int = 1) -> Executor:
    """The executor called `name`; ConfigError naming the choices for an unknown one, and for Ray's
    options given to the local executor."""
    if name not in EXECUTORS:
        raise choices_error("executor", name, EXECUTORS)
    if name == "local":
        from suite.executors.local import LocalExecutor
        from suite.plumbing.errors import ConfigError

        if address is not None or cases_per_node != 1:
            raise ConfigError("--ray-address and --cases-per-node need --executor ray")
        return LocalExecutor(request)
    from suite.executors.ray import RayExecutor

    return RayExecutor(request, address, cases_per_node)
