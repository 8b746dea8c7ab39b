"""`--isolation process`: each case measured in a fresh interpreter, its result handed back as if measured here.

The parent writes the case and the measurement settings to a JSON request, starts

    python -P -m suite.executors.child REQUEST.json RESULT.json

and reads back the CaseResult that node.measure_here produced in the child (`-P`: the working directory is not
put on sys.path, so PYTHONPATH alone decides which tree's `suite` the child imports). A child that crashes, is
killed by a signal (the kernel's out-of-memory killer sends SIGKILL) or writes no result is the case's `error`,
with the exit code or signal and the last lines the child wrote to stderr; the run goes on.

`env` sets variables for the child before its interpreter starts, so before `import torch`: allocators preloaded
with LD_PRELOAD, CUBLAS_WORKSPACE_CONFIG, or PYTHONPATH pointing at another tree (`tradeoff-bench ab`).
Imports no torch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from suite.plumbing.errors import choices_error
from suite.results.schema import CaseResult

ISOLATIONS = {
    "none": "every case in the running process (the default)",
    "process": "each case in a fresh Python interpreter: no state carried from case to case; a crash of one "
               "case is its recorded error",
}
CHILD_MODULE = "suite.executors.child"
STDERR_LINES = 5  # of a failed child's output, kept in the case's reason
SUITE_ROOT = str(Path(__file__).resolve().parents[2])  # the tree whose `suite` this process runs


def check_isolation(name: str) -> str:
    """`name` when it is a known isolation, else ConfigError naming the choices."""
    if name not in ISOLATIONS:
        raise choices_error("isolation", name, ISOLATIONS)
    return name


def isolation_procedure(name: str) -> dict:
    """What an isolation adds to the run's procedure block: {"isolation": name}, nothing for "none" (so runs from
    before the option compare with in-process runs of today)."""
    return {} if check_isolation(name) == "none" else {"isolation": name}


def child_request(case, config_fields: dict, data_dir=None, download: bool = False, threads=None) -> dict:
    """The JSON request a child measures: the case's fields, the MeasureConfig fields to set (the child's defaults
    for the rest), the data settings and the intra-op thread count for a case that sets none."""
    return {"case": case.as_dict(), "config": config_fields,
            "data_dir": None if data_dir is None else str(Path(data_dir).resolve()), "download": download,
            "threads": threads}


def measure_in_child(case, request, threads: int | None = None, env: dict | None = None):
    """(CaseResult, seconds): `case` measured by a fresh interpreter under `request` (a MeasureRequest), the
    child's start-up cost (its start to the start of the case: interpreter, imports) in the result's metric
    `isolation_startup_s`; `env` is set for the child over this process's environment."""
    message = child_request(case, dataclasses.asdict(request.config), request.data_dir, request.download, threads)
    return run_child(case, message, env)


def run_child(case, message: dict, env: dict | None = None, cwd=None):
    """(CaseResult, seconds) of one child run of `message` (child_request); any failure of the child is an
    `error` result of `case`, never an exception."""
    with tempfile.TemporaryDirectory(prefix="tradeoff-bench-child-") as tmp:
        request_path, result_path, log_path = (Path(tmp) / name for name in ("request.json", "result.json", "log"))
        request_path.write_text(json.dumps(message), encoding="utf-8")
        start = time.monotonic()  # CLOCK_MONOTONIC: one system-wide clock, so the child's reading compares
        with open(log_path, "wb") as log:
            # a session of its own: a Ctrl-C on the terminal reaches the parent alone, which stops after the case
            child = subprocess.Popen([sys.executable, "-P", "-m", CHILD_MODULE, str(request_path), str(result_path)],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     env=child_environment(env), cwd=cwd, start_new_session=True)
            try:
                code = child.wait()
            finally:  # a second signal in the parent: the child must not outlive the case
                if child.poll() is None:
                    child.kill()
                    child.wait()
        seconds = time.monotonic() - start
        if code != 0 or not result_path.exists():
            return failed_result(case, code, tail(log_path)), seconds
        document = json.loads(result_path.read_text(encoding="utf-8"))
    result = CaseResult(**document["result"])
    result.metrics["isolation_startup_s"] = document["started"] - start
    return result, seconds


def child_environment(env: dict | None) -> dict:
    """This process's environment, PYTHONPATH led by this tree (the child imports the same `suite`), then `env`."""
    path = os.pathsep.join(p for p in (SUITE_ROOT, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **(env or {})}


def tail(log_path: Path, lines: int = STDERR_LINES) -> str:
    """The last non-empty lines a child wrote, joined with " | "."""
    text = log_path.read_bytes()[-20000:].decode("utf-8", errors="replace")
    return " | ".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])


def exit_text(code: int) -> str:
    """A child's exit status in words: "exit code 3", "killed by signal 9 (SIGKILL: ...)"."""
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "unknown signal"
    hint = ": the kernel's out-of-memory killer sends this" if -code == signal.SIGKILL else ""
    return f"killed by signal {-code} ({name}{hint})"


def failed_result(case, code: int, last_lines: str) -> CaseResult:
    """The `error` result of a child that ended without a result."""
    what = exit_text(code) if code != 0 else "exit code 0 but no result written"
    reason = f"isolated child process ended: {what}" + (f"; its last output: {last_lines}" if last_lines else "")
    return CaseResult(case.id, case.as_dict(), "error", reason, {"child_exit_code": code})
