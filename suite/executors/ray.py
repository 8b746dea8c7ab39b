"""The Ray executor: each case one Ray task on a cluster, with a resource request that isolates it.

What a case reserves (`reservation`):
- a CPU case: its `threads` CPUs, else every CPU of a node (one measured case per node); it runs with as
  many intra-op threads as CPUs it reserved, whatever OMP_NUM_THREADS Ray set for the worker;
- a CUDA case: one GPU (and `threads` CPUs, else 1);
- a data-parallel case: `world_size` GPUs (CUDA) or `world_size` times its per-rank threads in CPUs, in one
  request: Ray places one task's whole request on one node, so its ranks share that node and nothing else.
`--cases-per-node N` packs N cases on a node instead (each case without `threads` reserves 1/N of the
node's CPUs, a CUDA case 1/N of a GPU): the throughput of the sweep, not isolated timings. The run's
procedure block then records `cases_per_node`, so its figures are never compared with isolated ones.

Before any case starts, one task per node checks that every plug-in module a case names
("package.module:attr" in `model` or `dataset`) imports there and that the data directory exists there
(the same absolute path on every node). A task whose worker process or node dies is retried once by Ray
(max_retries=1); a second death records the case as `error` with Ray's reason, and the run goes on.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import time
from pathlib import Path

from suite.plumbing.errors import ConfigError, shown

INSTALL = "--executor ray needs Ray, which is not installed: pip install -e '.[ray]'"
ATTEMPTS = 2  # the first try and one retry after a worker or node died
CHECK_TIMEOUT_S = 300  # a node check imports torch and the plug-ins in a fresh worker
GET_TIMEOUT_S = 120  # fetching a finished task's result
POLL_S = 0.2  # how often the driver looks at its stop flag while cases run
PLUGIN = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*)$")
MEMORY_MONITOR_ENV = "RAY_memory_monitor_refresh_ms"
TASK_PREFIX = "tradeoff-bench "  # a running case's worker is titled "ray::tradeoff-bench CASE_ID"


def plugin_names(cases) -> list[str]:
    """Every "package.module:attr" named by a case's model or dataset, sorted."""
    return sorted({value for c in cases for value in (c.model, c.dataset) if PLUGIN.match(str(value))})


def reservation(case, node_cpus: int, cases_per_node: int = 1) -> tuple[dict, int | None]:
    """(Ray resource request, intra-op threads or None for the ranks' own) of one case, on nodes of
    `node_cpus` CPUs shared by `cases_per_node` cases."""
    share = max(1, node_cpus // cases_per_node)
    if case.device == "cuda":
        gpus = case.world_size if case.world_size > 1 else 1 / cases_per_node
        cpus = (case.threads or 1) * case.world_size
        return {"num_cpus": cpus, "num_gpus": gpus}, cpus if case.world_size == 1 else None
    if case.world_size > 1:
        return {"num_cpus": (case.threads or max(1, share // case.world_size)) * case.world_size, "num_gpus": 0}, None
    cpus = case.threads or share
    return {"num_cpus": cpus, "num_gpus": 0}, cpus


def node_check(plugins: list[str], data_dir: str | None) -> dict:
    """On one node: its host name and what stops it from running the cases (plug-ins, data)."""
    import importlib

    problems = []
    for name in plugins:
        module, attr = PLUGIN.match(name).groups()
        try:
            getattr(importlib.import_module(module), attr)
        except Exception as exc:  # ImportError, AttributeError, or whatever the plug-in raises at import
            problems.append(f"plug-in {name!r} does not import ({type(exc).__name__}: {exc})".splitlines()[0])
    if data_dir is not None and not os.path.isdir(data_dir):
        problems.append(f"data directory {data_dir} does not exist")
    return {"host": socket.gethostname(), "problems": problems}


def measure_task(case, request, threads):
    """A case measured on the worker this Ray task runs in (suite.executors.node)."""
    from suite.executors.node import measure_here

    return measure_here(case, request, threads)


def probe(address: str, timeout: float = 5.0) -> None:
    """ConfigError when nothing accepts a connection at a host:port address (Ray itself would retry for
    minutes before giving up)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", "local": Ray finds the cluster itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc} "
                          "(start one with `ray start --head`, or check --ray-address)") from None


def first_line(exc: BaseException) -> str:
    """An exception's first non-empty line, cut to 300 characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


class RayExecutor:
    """Runs each case as a Ray task; see the module docstring."""

    def __init__(self, request, address: str | None = None, cases_per_node: int = 1):
        if cases_per_node < 1:
            raise ConfigError(f"--cases-per-node {cases_per_node}: must be at least 1")
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError(INSTALL) from None
        data_dir = request.data_dir or os.environ.get("TRADEOFF_BENCH_DATA")
        # workers have their own working directory: the same absolute path on every node
        self.request = dataclasses.replace(request, data_dir=str(Path(data_dir).resolve()) if data_dir else None)
        self.address, self.cases_per_node = address, cases_per_node
        self.procedure = {"cases_per_node": cases_per_node} if cases_per_node > 1 else {}
        self._pending: dict = {}
        self._remote = None

    def __enter__(self) -> RayExecutor:
        import logging

        import ray

        if self.address or os.environ.get("RAY_ADDRESS"):
            probe(self.address or os.environ["RAY_ADDRESS"])
        # A cluster this run starts: without Ray's memory monitor, which reads every process's memory four
        # times a second and slowed the measured cases of a 2-core node by a third (README, "Beyond one
        # machine"). Nodes started with `ray start` take the same variable from their environment.
        os.environ.setdefault(MEMORY_MONITOR_ENV, "0")
        try:
            ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot connect to the Ray cluster at {self.address or 'this machine'}: "
                              f"{first_line(exc)}") from None
        self._remote = ray.remote(measure_task)
        return self

    def __exit__(self, *exc) -> None:
        import ray

        self._cancel()
        ray.shutdown()

    def nodes(self) -> list[dict]:
        """The alive nodes: {"id", "host", "cpus", "gpus"}."""
        import ray

        return [{"id": n["NodeID"], "host": n.get("NodeManagerHostname") or n.get("NodeManagerAddress"),
                 "cpus": int(n["Resources"].get("CPU", 0)), "gpus": int(n["Resources"].get("GPU", 0))}
                for n in ray.nodes() if n.get("Alive")]

    def node_cpus(self, cases) -> int:
        """The CPU count of the nodes that run cases; ConfigError when they differ and a CPU case sets no
        `threads` (every CPU of a node would be a different reservation on each)."""
        counts = sorted({n["cpus"] for n in self.nodes() if n["cpus"] > 0})
        if not counts:
            raise ConfigError("the Ray cluster has no node with CPUs to run cases on")
        if len(counts) > 1 and any(c.threads is None and c.device != "cuda" for c in cases):
            raise ConfigError(f"the Ray cluster's nodes have different CPU counts ({', '.join(map(str, counts))}): "
                              "give the cases `threads` (--set threads=N) so each reserves the same CPUs everywhere")
        return counts[0]

    def check(self, cases: list) -> None:
        """Before any case starts: the nodes' CPU counts agree where they must, and on every node each
        plug-in module imports and the data directory exists."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.node_cpus(cases)
        check = ray.remote(node_check)
        plugins = plugin_names(cases)
        refs = [check.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["id"], soft=False))
                .remote(plugins, self.request.data_dir) for n in self.nodes()]
        try:
            answers = ray.get(refs, timeout=CHECK_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise ConfigError(f"the Ray cluster's nodes did not answer the pre-run check in {CHECK_TIMEOUT_S} s") \
                from None
        except ray.exceptions.RayError as exc:  # e.g. the suite itself does not import on a node
            raise ConfigError(f"a Ray node cannot run the suite: {first_line(exc)} (every node needs the same "
                              "environment: the project and its plug-ins installed)") from None
        for answer in answers:
            for problem in answer["problems"]:
                raise ConfigError(f"node {answer['host']}: {problem} (every node needs the same environment, and "
                                  "the data at the same --data-dir path)")

    def run(self, cases: list, stop, progress=None):
        """Submit every case, then yield (CaseResult, seconds) as each finishes; once `stop()` is true,
        cancel the tasks in flight and return. `progress` is not shown: a case's result line is its progress."""
        import ray

        node_cpus = self.node_cpus(cases)
        nodes = self.nodes()
        for case in cases:
            request, threads = reservation(case, node_cpus, self.cases_per_node)
            unfit = self._unfit(request, nodes)
            if unfit:
                yield self._not_run(case, "skipped", unfit), 0.0
                continue
            ref = self._remote.options(**request, max_retries=ATTEMPTS - 1, retry_exceptions=False,
                                       name=f"{TASK_PREFIX}{case.id}").remote(case, self.request, threads)
            self._pending[ref] = (case, time.perf_counter())
        while self._pending:
            if stop():
                self._cancel()
                return
            ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=POLL_S)
            for ref in ready:
                case, start = self._pending.pop(ref)
                yield self._result(ref, case, start)

    def _result(self, ref, case, start: float) -> tuple:
        import ray

        try:
            return ray.get(ref, timeout=GET_TIMEOUT_S)
        except ray.exceptions.RayTaskError as exc:  # the task itself raised (run_case catches a case's errors)
            reason = f"{type(exc.cause).__name__}: {first_line(exc.cause)}"
        except ray.exceptions.RayError as exc:  # the worker process or the node died, twice
            reason = f"{type(exc).__name__} (tried {ATTEMPTS} times): {first_line(exc)}"
        return self._not_run(case, "error", reason), time.perf_counter() - start

    @staticmethod
    def _not_run(case, status: str, reason: str):
        from suite.results.schema import CaseResult

        return CaseResult(case.id, case.as_dict(), status, reason)

    @staticmethod
    def _unfit(request: dict, nodes: list[dict]) -> str:
        """Why no node could ever take `request` (Ray would wait forever), else ""."""
        if any(n["cpus"] >= request["num_cpus"] and n["gpus"] >= request["num_gpus"] for n in nodes):
            return ""
        need = f"{request['num_cpus']} CPUs" + (f" and {request['num_gpus']:g} GPUs" if request["num_gpus"] else "")
        have = ", ".join(f"{n['cpus']} CPUs/{n['gpus']} GPUs" for n in nodes)
        return f"no node of the Ray cluster has {need} (nodes: {shown(have, 200)})"

    def _cancel(self) -> None:
        """Cancel every task in flight (its worker is killed); their cases stay unrecorded."""
        import ray

        for ref in self._pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished or its worker already gone: nothing left to stop
                pass
        self._pending.clear()
