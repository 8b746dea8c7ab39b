"""The levers through `pytest benchmarks`: the same runner functions give the same figures in extra_info."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from suite.results.schema import load_run
from tests.conftest import REPO

PLAN = """
description = "a pruned and quantized tiny conv model, on one thread"
[base]
model = "conv"
depth = 1
width = 16
epochs = 1
threads = 1
[sweep]
pruning = ["l1-unstructured:0.5"]
quantization = ["dynamic-int8"]
"""


def test_pytest_benchmarks_measure_the_compressed_model(tmp_path):
    plan, out = tmp_path / "levers.toml", tmp_path / "out.json"
    plan.write_text(PLAN)
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/test_cases.py", "--plan", str(plan),
                           "-p", "no:cacheprovider", "--benchmark-json", str(out), "-q"],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:]
    cases = {c.case_id: c for c in load_run(out).cases}
    pruned = next(c for i, c in cases.items() if "prune-l1-unstructured0.5-ft1" in i)
    quantized = next(c for i, c in cases.items() if "dynamic-int8" in i)
    assert pruned.metrics["params_sparsity"] > 0.45 and pruned.metrics["params_nonzero"] < pruned.metrics["params"]
    for result in (pruned, quantized):
        assert result.status == "ok"
        kept = result.metrics["test_accuracy"] / result.metrics["test_accuracy_uncompressed"]
        assert result.metrics["accuracy_kept"] == kept
        assert result.metrics["infer_latency_ms_p50_uncompressed"] > 0
        assert set(result.samples) == {"train", "infer", "infer_batch", "accuracy"}
    doc = json.loads(out.read_text())
    assert {b["extra_info"]["case"]["threads"] for b in doc["benchmarks"]} == {1}
