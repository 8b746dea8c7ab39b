"""The `fastest` plan and the report's first answer (suite/report/fastest.py), on runs whose answer is known by
construction."""

from __future__ import annotations

import dataclasses
import math

from suite.plans import load_plan
from suite.report.fastest import fastest_lines
from suite.results.ab_stats import ratio_interval
from suite.results.schema import CaseResult, Run

BASE = {"model": "seed-cnn", "depth": None, "width": None, "shared": None, "optimizer": "adam", "lr": 0.001,
        "schedule": "constant", "weight_decay": 0.0, "batch_size": 64, "epochs": 10, "dataset": "mnist",
        "device": "cpu", "precision": "fp32", "memory_format": "contiguous", "allocator": "glibc",
        "framework": "torch", "threads": None}
# The base trains at 1,000 samples/s and 98.0%; per seed the speeds wobble by the same factors on every side.
WOBBLE = (1.0, 1.02, 0.98)


def config(speed: float, accuracy: float, status: str = "ok", reason: str = "", **changes) -> list[CaseResult]:
    """Three seeds of a configuration: `changes` on the base, end-to-end speed and accuracy per seed."""
    cases = []
    for seed, factor in enumerate(WOBBLE):
        fields = {**BASE, **changes, "seed": seed}
        metrics = {"train_e2e_samples_per_s": speed * factor, "test_accuracy": accuracy} if status == "ok" else {}
        cases.append(CaseResult(f"{changes}-s{seed}", fields, status, reason, metrics))
    return cases


def run_of(cases: list[CaseResult], isolation: str | None = "process", cpu_flags=None) -> Run:
    info = {"tradeoff_bench": {"procedure": {"isolation": isolation} if isolation else {}}}
    if cpu_flags is not None:
        info["cpu"] = {"flags": cpu_flags, "brand_raw": "test cpu"}
    return Run("results.json", "fastest", info, {"id": "abc"}, "2026-01-01T00:00:00+00:00", cases)


def test_the_fastest_within_half_a_point_wins_with_its_interval_between_processes():
    cases = [*config(1000, 0.980), *config(2500, 0.9775, batch_size=256),
             *config(4000, 0.970, memory_format="channels_last"),
             *config(1800, 0.981, threads=1), *config(500, 0.981, framework="keras-torch"),
             *config(0, 0, "skipped", "allocator tcmalloc needs libtcmalloc_minimal.so.4: apt-get install x",
                     allocator="tcmalloc")]
    lines = fastest_lines(run_of(cases))
    r = ratio_interval([1000 * f for f in WOBBLE], [2500 * f for f in WOBBLE])
    assert math.isclose(r.ratio, 2.5) and r.low == r.high == 2.5  # the same wobble on both sides: no spread
    assert lines[0] == ("`seed-cnn`: the fastest configuration within 0.5 pp of its fp32 eager base's accuracy "
                        "(98.00%) is `batch_size 256`: 2,500 samples/s end to end, 97.75%, 2.50x (95% CI 2.50-2.50, "
                        "3 seeds between processes) the base's training throughput.")
    assert lines[1] == ("Against the seed's Keras model (`keras-torch`, 500 samples/s end to end): 5.00x (95% CI "
                        "5.00-5.00, 3 seeds between processes).")
    assert lines[2] == "Faster but outside the accuracy tolerance: `channels_last` (-1.00 pp)."
    assert lines[3].startswith("Not measured: `tcmalloc` (skipped 3/3: allocator tcmalloc needs")
    assert len(lines) == 4


def test_bf16_without_hardware_is_named_and_one_process_says_so():
    cases = [*config(1000, 0.980), *config(300, 0.980, precision="bf16"), *config(1200, 0.979, threads=1)]
    lines = fastest_lines(run_of(cases, isolation=None, cpu_flags=["avx2", "fma"]))
    assert "is `threads 1`" in lines[0] and "3 seeds between seeds of one process" in lines[0]
    assert "not shown to differ" not in lines[0]  # the same wobble on both sides: a tight interval above 1
    noisy = [*config(1000, 0.980), *[dataclasses.replace(c, metrics={**c.metrics, "train_e2e_samples_per_s": v})
                                     for c, v in zip(config(0, 0.980, threads=1), (900, 1300, 1150))]]
    assert "1.10x (95% CI 0.70-1.73, 3 seeds between processes" in fastest_lines(run_of(noisy))[0]
    assert fastest_lines(run_of(noisy))[0].endswith("; the interval holds 1: not shown to differ) the base's "
                                                    "training throughput.")
    assert lines[1] == "Ran without the hardware its lever needs, which is why it lost: `bf16` (bf16 ran emulated)."


def test_no_rivals_no_answer_and_an_unrelated_plan_gets_none():
    assert fastest_lines(run_of(config(1000, 0.98))) == []
    # another optimizer is not a lever: the quick plan's rows do not compete
    assert fastest_lines(run_of([*config(1000, 0.98), *config(2000, 0.98, optimizer="sgd")])) == []


def test_fastest_plan_expands_and_validates(mnist_dir):
    plan = load_plan("fastest")
    assert plan.isolation == "process"  # every case in its own process: intervals between processes
    assert len(plan.cases) == 75 and plan.seeds == 3 and [name for name, _ in plan.parts] == ["seed-cnn", "resnet"]
    ids = [c.id for c in plan.cases]
    assert sum("-keras-torch" in i for i in ids) == 3 and sum(i.endswith("-jemalloc") for i in ids) == 6
    assert {c.dataset for c in plan.cases} == {"digits"}
    assert {c.dataset for c in load_plan("fastest", data_dir=mnist_dir).cases} == {"mnist"}
