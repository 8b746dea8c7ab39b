"""The child of `--isolation process`: measure one case in this fresh interpreter and write its result.

    python -P -m suite.executors.child REQUEST.json RESULT.json

REQUEST (suite.executors.isolated.child_request): {"case": {...}, "config": {MeasureConfig fields to set},
"data_dir", "download", "threads"}. RESULT: {"started": time.monotonic() when the case began (after the
interpreter started and imported torch and the suite), "seconds": the case's own time, "result": its
CaseResult's fields}. Anything else (a crash, a signal) the parent records from the exit status and the output.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

from suite.cases import make_case
from suite.executors import MeasureRequest
from suite.executors.node import measure_here
from suite.runner import MeasureConfig


def main(request_path: str, result_path: str) -> int:
    """Measure the requested case in this process and write the result file."""
    with open(request_path, encoding="utf-8") as f:
        message = json.load(f)
    started = time.monotonic()
    request = MeasureRequest(MeasureConfig(**message["config"]), message["data_dir"], message["download"])
    result, seconds = measure_here(make_case(message["case"]), request, message["threads"], own_process=True)
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump({"started": started, "seconds": seconds, "result": dataclasses.asdict(result)}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
