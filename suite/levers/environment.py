"""The environment levers: settings a process takes when it starts, so a case that sets one runs in a process of its
own whatever the run's `--isolation` (suite.executors.node.measure_here).

- `allocator`: the memory allocator, preloaded with LD_PRELOAD (the dynamic loader picks malloc when the process
  loads; a running process cannot change it);
- `omp_bind`: OpenMP's thread binding, OMP_PROC_BIND and OMP_PLACES (read once, when the OpenMP runtime starts);
- `interop_threads`: torch's inter-op thread pool, set by torch.set_num_interop_threads before any inter-op work
  (after that torch refuses to change it).

Their variables are set for the child before its interpreter starts (`variables`), the inter-op count right after
it starts (`apply_in_process`), and the child checks that each setting reached it (`check_applied`: the allocator's
library in /proc/self/maps) and records what it found (`process_evidence`) in the case's `node`.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import torch

from suite.levers.lever import Lever
from suite.measure.devices import allocator_info
from suite.plumbing.errors import ConfigError
from suite.plumbing.fields import CaseField, check_optional_int

ALLOCATORS = {
    "glibc": "the C library's malloc: no allocator preloaded (a case of its own process drops one the run preloads)",
    "jemalloc": "jemalloc preloaded (libjemalloc.so.2; Debian: apt-get install libjemalloc2)",
    "tcmalloc": "tcmalloc preloaded (libtcmalloc_minimal.so.4; Debian: apt-get install libtcmalloc-minimal4)",
}
# allocator -> (the shared library preloaded, the Debian package that installs it)
LIBRARIES = {"jemalloc": ("libjemalloc.so.2", "libjemalloc2"),
             "tcmalloc": ("libtcmalloc_minimal.so.4", "libtcmalloc-minimal4")}
OMP_BINDS = {
    "none": "OpenMP's defaults: threads not bound to cores (the run's own OMP_* settings pass through)",
    "close": "OMP_PROC_BIND=close, OMP_PLACES=cores: each OpenMP thread bound to a core, next to each other",
    "spread": "OMP_PROC_BIND=spread, OMP_PLACES=cores: each OpenMP thread bound to a core, spread over the machine",
}
OMP_VARIABLES = ("OMP_PROC_BIND", "OMP_PLACES")
# A case that sets one of these runs in a process of its own; `framework`: Keras reads its backend at import.
DEFAULTS = {"allocator": "glibc", "omp_bind": "none", "interop_threads": None, "framework": "torch"}


def id_parts(case) -> list[str]:
    """Id fragments of the environment levers that differ from their defaults."""
    parts = [case.allocator] if case.allocator != "glibc" else []
    parts += [f"bind-{case.omp_bind}"] if case.omp_bind != "none" else []
    return parts + ([f"iop{case.interop_threads}"] if case.interop_threads is not None else [])


def needs_own_process(case) -> bool:
    """Whether the case sets an environment lever or another framework (so it is measured in a fresh interpreter)."""
    return any(getattr(case, name) != default for name, default in DEFAULTS.items())


def library_path(allocator: str) -> Path | None:
    """Where the allocator's shared library is installed, or None (glibc: nothing to preload)."""
    if allocator not in LIBRARIES:
        return None
    multiarch = sysconfig.get_config_var("MULTIARCH")  # x86_64-linux-gnu on Debian
    folders = ([f"/usr/lib/{multiarch}", f"/lib/{multiarch}"] if multiarch else []) + \
        ["/usr/lib64", "/usr/lib", "/usr/local/lib"]
    found = (Path(folder) / LIBRARIES[allocator][0] for folder in folders)
    return next((path for path in found if path.is_file()), None)


def availability(case) -> tuple[bool, str]:
    """(True, "") when the case's allocator library is installed (or none is asked for), else the apt command."""
    if case.allocator != "glibc" and library_path(case.allocator) is None:
        library, package = LIBRARIES[case.allocator]
        return False, f"allocator {case.allocator} needs {library}: apt-get install {package}"
    return True, ""


def variables(case, environ: dict | None = None) -> dict:
    """The variables to set for the case's process, over `environ` (default this process's): LD_PRELOAD with the
    allocator's library first and any other allocator's removed, and the OMP_* binding variables; {} for a case
    that sets no environment lever."""
    if not needs_own_process(case):
        return {}
    environ = os.environ if environ is None else environ
    others = [name for name in ALLOCATORS if name != "glibc"]
    kept = [p for p in environ.get("LD_PRELOAD", "").split() if not any(name in p for name in others)]
    preload = [str(library_path(case.allocator))] if case.allocator != "glibc" else []
    result = {"LD_PRELOAD": " ".join(preload + kept)}
    if case.omp_bind != "none":
        result |= {"OMP_PROC_BIND": case.omp_bind, "OMP_PLACES": "cores"}
    if case.framework.startswith("keras-"):
        result["KERAS_BACKEND"] = case.framework.removeprefix("keras-")
    return result


def apply_in_process(case) -> None:
    """What a case's own process sets after it starts: the inter-op thread count (before any inter-op work)."""
    if case.interop_threads is not None:
        torch.set_num_interop_threads(case.interop_threads)


def process_evidence() -> dict:
    """What this process runs with: the allocator mapped into it, OpenMP's binding variables and torch's inter-op
    thread count (recorded in each case's `node` as `process_*`)."""
    return {"allocator": allocator_info()["name"], **{k.lower(): os.environ.get(k) for k in OMP_VARIABLES},
            "interop_threads": torch.get_num_interop_threads()}


def check_applied(case, evidence: dict) -> None:
    """ConfigError when a lever the case sets did not reach this process (a library the loader could not preload,
    for one: the loader only warns and goes on)."""
    wanted = {"allocator": case.allocator, "interop_threads": case.interop_threads}
    if case.omp_bind != "none":
        wanted["omp_proc_bind"] = case.omp_bind
    for name, value in wanted.items():
        if value is not None and evidence.get(name) != value:
            raise ConfigError(f"{name} {value!r} did not reach the case's process "
                              f"(it runs with {evidence.get(name)!r})")


class Environment(Lever):
    """The process-start levers: variables set before the case's interpreter starts, the inter-op count right after."""

    fields = (CaseField("allocator", "str", "glibc", "the memory allocator (LD_PRELOAD)", ALLOCATORS),
              CaseField("omp_bind", "str", "none", "OpenMP thread binding (OMP_PROC_BIND)", OMP_BINDS),
              CaseField("interop_threads", "int | None", None, "torch's inter-op threads (unset: torch's default)"))

    def validate(self, case) -> None:
        check_optional_int(case, "interop_threads", 1)

    def id_parts(self, case) -> list[str]:
        return id_parts(case)

    def availability(self, case) -> tuple[bool, str]:
        return availability(case)

    def process_environment(self, case) -> dict[str, str]:
        return variables(case)

    def in_process(self, case) -> None:
        apply_in_process(case)
