"""Verdicts of `compare` on synthetic runs with a fixed seed: regression, improvement, noise, missing
cases, accuracy and seed spread, exact metrics, fingerprints, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from suite.cli import main
from suite.metrics import METRICS
from suite.plumbing.errors import ConfigError
from suite.plumbing.fileio import write_json_atomic
from suite.results.compare import between_run_test, compare_runs, parse_thresholds
from suite.results.schema import CaseResult, load_run, run_document

STEP_S = 1e-3  # seconds per training step of the synthetic baseline
ENV = {"cpu_brand": "Synthetic CPU", "cpu_cores": 2, "torch": "2.3.0", "torch_threads": 2, "cuda": None,
       "gpus": [], "allocator": {"name": "glibc"}, "fingerprint": "aaaaaaaaaaaa"}
CASE = {"model": "dense", "depth": 1, "width": 16, "shared": False, "optimizer": "adam", "lr": 0.001,
        "schedule": "constant", "weight_decay": 0.0, "batch_size": 64, "epochs": 1, "dataset": "digits",
        "device": "cpu", "seed": 0}


def synthetic_case(case_id: str, rng, train_scale=1.0, noise=0.01, accuracy=0.9, params=1000, seed=0, width=None):
    """A CaseResult whose raw samples are seeded normal draws around a known step time."""
    train = list(STEP_S * train_scale * (1 + noise * rng.standard_normal(10)))
    infer = list(1e-4 * (1 + 0.01 * rng.standard_normal(30)))
    metrics = {"train_samples_per_s": float(np.median([64 / s for s in train])),
               "infer_latency_ms_p50": float(np.median(infer) * 1000), "test_accuracy": accuracy,
               "params": params, "flops_per_sample": 2 * params}
    case = {**CASE, "width": width or 1 + sum(map(ord, case_id)), "seed": seed}  # one width per configuration
    return CaseResult(case_id, case, "ok", "", metrics, {"train": train, "infer": infer, "accuracy": [0.01]})


def write_run(path, results, plan="synthetic", **env_changes):
    """A results document of the given CaseResults, in the given environment."""
    env = {**ENV, **env_changes}
    document = run_document(results, plan, {"tradeoff_bench": env}, {"id": "0123456789abcdef"})
    write_json_atomic(path, document)
    return path


def verdicts(comparison, metric):
    """case id -> verdict of one metric."""
    return {r.case_id: r.verdict for r in comparison.rows if r.metric == metric}


QUIET = {"train_samples_per_s": 0.02}  # a quiet machine's between-process spread, for tests of other rules
QUIET_ARGS = ["--process-spread", "train_samples_per_s=2"]


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)


def test_slowdown_is_regressed_and_speedup_improved(tmp_path, rng, capsys):
    base = write_run(tmp_path / "a.json", [synthetic_case("slow", rng), synthetic_case("fast", rng)])
    cand = write_run(tmp_path / "b.json", [synthetic_case("slow", rng, train_scale=1.3),
                                           synthetic_case("fast", rng, train_scale=0.7)])
    comparison = compare_runs(load_run(base), load_run(cand), process_spread=QUIET)
    assert verdicts(comparison, "train_samples_per_s") == {"slow": "regressed", "fast": "improved"}
    assert verdicts(comparison, "infer_latency_ms_p50") == {"slow": "unchanged", "fast": "unchanged"}
    slow = next(r for r in comparison.rows if r.case_id == "slow" and r.metric == "train_samples_per_s")
    assert slow.change == pytest.approx(-23, abs=3) and "Mann-Whitney" in slow.test and "one run each side" in slow.test
    assert main(["compare", str(base), str(cand), "--markdown", str(tmp_path / "c.md"), *QUIET_ARGS]) == 1
    assert "| slow " in capsys.readouterr().out
    assert "**regressed**" in (tmp_path / "c.md").read_text()


def test_large_but_noisy_change_is_noise_and_small_change_unchanged(tmp_path, rng):
    base = write_run(tmp_path / "a.json", [synthetic_case("noisy", rng, noise=0.4), synthetic_case("tiny", rng)])
    cand = write_run(tmp_path / "b.json", [synthetic_case("noisy", rng, train_scale=1.1, noise=0.4),
                                           synthetic_case("tiny", rng, train_scale=1.02)])
    comparison = compare_runs(load_run(base), load_run(cand))
    row = next(r for r in comparison.rows if r.case_id == "noisy" and r.metric == "train_samples_per_s")
    assert abs(row.change) > 5 and row.verdict == "noise"
    assert verdicts(comparison, "train_samples_per_s")["tiny"] == "unchanged"
    assert comparison.exit_code() == 0


def test_threshold_override_absorbs_a_slowdown(tmp_path, rng):
    base = write_run(tmp_path / "a.json", [synthetic_case("c", rng)])
    cand = write_run(tmp_path / "b.json", [synthetic_case("c", rng, train_scale=1.3)])
    assert main(["compare", str(base), str(cand), *QUIET_ARGS]) == 1
    assert main(["compare", str(base), str(cand), "--threshold", "train_samples_per_s=30", *QUIET_ARGS]) == 0


def test_missing_cases_are_listed(tmp_path, rng, capsys):
    base = write_run(tmp_path / "a.json", [synthetic_case("both", rng), synthetic_case("gone", rng)])
    cand = write_run(tmp_path / "b.json", [synthetic_case("both", rng), synthetic_case("new", rng)])
    comparison = compare_runs(load_run(base), load_run(cand))
    assert comparison.only_baseline == ["gone"] and comparison.only_candidate == ["new"]
    assert {r.case_id for r in comparison.rows} == {"both"}
    assert main(["compare", str(base), str(cand)]) == 1  # a case that vanished is not a pass
    out = capsys.readouterr().out
    assert "only in the baseline (1)" in out and "- `gone`" in out and "- `new`" in out
    assert "1 baseline cases are missing from the candidate" in out
    assert main(["compare", str(base), str(cand), "--allow-missing"]) == 0


def test_accuracy_drop_params_change_and_status(tmp_path, rng):
    base = write_run(tmp_path / "a.json", [synthetic_case("drop", rng, accuracy=0.90),
                                           synthetic_case("wobble", rng, accuracy=0.90),
                                           synthetic_case("grown", rng, params=1000)])
    cand_results = [synthetic_case("drop", rng, accuracy=0.88), synthetic_case("wobble", rng, accuracy=0.897),
                    synthetic_case("grown", rng, params=1001)]
    cand = write_run(tmp_path / "b.json", cand_results)
    comparison = compare_runs(load_run(base), load_run(cand))
    assert verdicts(comparison, "test_accuracy") == {"drop": "regressed", "wobble": "unchanged", "grown": "unchanged"}
    drop = next(r for r in comparison.rows if r.case_id == "drop" and r.metric == "test_accuracy")
    assert drop.change == pytest.approx(-2.0)
    assert verdicts(comparison, "params")["grown"] == "regressed"
    assert verdicts(comparison, "flops_per_sample")["grown"] == "regressed"
    cand_results[1].status, cand_results[1].reason = "diverged", "loss not finite at step 3"
    comparison = compare_runs(load_run(base), load_run(write_run(tmp_path / "c.json", cand_results)))
    assert verdicts(comparison, "status") == {"wobble": "regressed"}
    skipped = CaseResult("s", CASE, "skipped", "CUDA is not available")
    errored = CaseResult("s", CASE, "error", "RuntimeError: boom")
    comparison = compare_runs(load_run(write_run(tmp_path / "d.json", [skipped])),
                              load_run(write_run(tmp_path / "e.json", [errored])))
    assert verdicts(comparison, "status") == {"s": "regressed"} and comparison.exit_code() == 1


def test_accuracy_drop_within_the_seed_spread_is_noise(tmp_path, rng):
    seeds = [synthetic_case(f"c-s{s}", rng, accuracy=acc, seed=s, width=8) for s, acc in enumerate((0.90, 0.93, 0.91))]
    base = write_run(tmp_path / "a.json", seeds)
    lowered = [synthetic_case(r.case_id, rng, accuracy=r.metrics["test_accuracy"] - 0.02, seed=r.case["seed"],
                              width=8) for r in seeds]
    comparison = compare_runs(load_run(base), load_run(write_run(tmp_path / "b.json", lowered)))
    rows = [r for r in comparison.rows if r.metric == "test_accuracy"]
    assert [r.verdict for r in rows] == ["noise"] * 3 and "3.00 pp" in rows[0].note
    assert compare_runs(load_run(base), load_run(base), {"test_accuracy": 0.5}).exit_code() == 0


def test_different_fingerprints_exit_2_unless_forced(tmp_path, rng, capsys):
    base = write_run(tmp_path / "a.json", [synthetic_case("c", rng)])
    cand = write_run(tmp_path / "b.json", [synthetic_case("c", rng)], torch="2.4.0", torch_threads=4,
                     fingerprint="bbbbbbbbbbbb")
    assert main(["compare", str(base), str(cand)]) == 2
    err = capsys.readouterr().err
    assert "torch '2.3.0' vs '2.4.0'" in err and "torch_threads 2 vs 4" in err and "cpu_brand" not in err
    assert err.count("\n") == 1
    assert main(["compare", str(base), str(cand), "--force"]) == 0
    assert "compared despite: environments differ" in capsys.readouterr().out


def test_different_procedures_exit_2_naming_the_setting_unless_forced(tmp_path, rng, capsys):
    from suite.procedure import procedure_block

    settings = {"train_rounds": 6, "latency_calls": 200}
    cli = write_run(tmp_path / "a.json", [synthetic_case("c", rng)], procedure=procedure_block(settings, "cli"))
    same = write_run(tmp_path / "b.json", [synthetic_case("c", rng)], procedure=procedure_block(settings, "pytest"))
    other = write_run(tmp_path / "c.json", [synthetic_case("c", rng)],
                      procedure=procedure_block({**settings, "latency_calls": 100}, "pytest"))
    assert main(["compare", str(cli), str(same)]) == 0  # the front end is recorded, not a difference
    assert main(["compare", str(cli), str(other)]) == 2
    err = capsys.readouterr().err
    assert "measurement procedures differ (latency_calls 200 vs 100)" in err and err.count("\n") == 1
    assert main(["compare", str(cli), str(other), "--force"]) == 0
    assert main(["merge", str(cli), str(other), "--out", str(tmp_path / "m.json")]) == 2
    assert "measurement procedures differ" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--threshold", "speed=3"], "unknown metric 'speed'; valid choices: test_accuracy, val_loss, train_samples_per_s"),
    (["--threshold", "train_samples_per_s=fast"], "'fast' is not a number"),
    (["--threshold", "train_samples_per_s=-1"], "must be a finite number >= 0"),
    (["--threshold", "params=1"], "params compares exactly"),
    (["--threshold", "test_accuracy"], "expected metric=value"),
    (["--alpha", "1.5"], "alpha 1.5 must be between 0 and 1"),
])
def test_bad_options_exit_2(tmp_path, rng, capsys, args, message):
    path = write_run(tmp_path / "a.json", [synthetic_case("c", rng)])
    assert main(["compare", str(path), str(path), *args]) == 2
    assert message in capsys.readouterr().err


def test_bad_files_exit_2(tmp_path, rng, capsys):
    good = write_run(tmp_path / "a.json", [synthetic_case("c", rng)])
    (tmp_path / "broken.json").write_text('{"benchmarks": [')
    (tmp_path / "other.json").write_text(json.dumps({"results": []}))
    for bad, message in ((tmp_path / "missing.json", "no such file"), (tmp_path / "broken.json", "not valid JSON"),
                         (tmp_path / "other.json", "no 'benchmarks' list")):
        assert main(["compare", str(good), str(bad)]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(ConfigError):
        parse_thresholds(["infer_latency_ms_p50=nan"])


def test_one_run_each_side_needs_a_change_beyond_the_between_process_spread(tmp_path, rng, capsys):
    """Rounds within one process cannot see a shift between processes: a 13% slowdown whose rounds differ
    clearly is still `noise` at the default between-process spread of this machine class, `regressed` at 2%."""
    base = write_run(tmp_path / "a.json", [synthetic_case("c", rng)])
    cand = write_run(tmp_path / "b.json", [synthetic_case("c", rng, train_scale=1.15)])
    row = next(r for r in compare_runs(load_run(base), load_run(cand)).rows if r.metric == "train_samples_per_s")
    assert row.verdict == "noise" and "needs > 143%" in row.test
    assert main(["compare", str(base), str(cand)]) == 0
    assert main(["compare", str(base), str(cand), "--process-spread", "train_samples_per_s=2"]) == 1
    assert "needs > 7%" in capsys.readouterr().out
    assert main(["compare", str(base), str(cand), "--process-spread", "params=2"]) == 2


def test_between_run_test_uses_the_spread_of_run_medians():
    runs = [100.0, 101.0, 99.0, 100.5, 99.5]
    metric = METRICS["train_samples_per_s"]
    p_far, text = between_run_test(runs, 90.0, metric, None)
    assert p_far < 1e-6 and "vs 5 runs" in text
    assert between_run_test(runs, 100.2, metric, None)[0] > 0.3
    # a pooled spread of 10% (other cases are that noisy) floors this case's 0.7%: 90 is then no surprise
    assert between_run_test(runs, 90.0, metric, 0.10)[0] > 0.1
    assert METRICS["infer_samples_per_s"].rounds == "infer_batch"  # its raw rounds (infer_batch_seconds)


def test_injected_slowdown_hook_adds_proportional_work(monkeypatch):
    import time

    import torch

    from suite.train import INJECT_SLOWDOWN_ENV, with_injected_slowdown

    def step():
        time.sleep(0.02)
        return "loss"

    monkeypatch.delenv(INJECT_SLOWDOWN_ENV, raising=False)
    assert with_injected_slowdown(step, torch.device("cpu")) is step
    monkeypatch.setenv(INJECT_SLOWDOWN_ENV, "0.5")
    slowed = with_injected_slowdown(step, torch.device("cpu"))
    start = time.perf_counter()
    assert slowed() == "loss"
    assert time.perf_counter() - start >= 0.02 * 1.5


def with_batched(result: CaseResult, seconds_per_batch: float, rng) -> CaseResult:
    """The case with batched-inference rounds kept as raw samples, as run_case keeps them."""
    rounds = list(seconds_per_batch * (1 + 0.01 * rng.standard_normal(10)))
    result.metrics |= {"infer_samples_per_s": float(np.median([64 / s for s in rounds])), "infer_batch_seconds": rounds}
    return result


def test_batched_inference_is_tested_on_its_raw_rounds_and_untested_without_them(tmp_path, rng, capsys):
    base = write_run(tmp_path / "a.json", [with_batched(synthetic_case("c", rng), 1e-3, rng)])
    slower = write_run(tmp_path / "b.json", [with_batched(synthetic_case("c", rng), 6e-3, rng)])
    assert load_run(base).cases[0].samples["infer_batch"] == load_run(base).cases[0].metrics["infer_batch_seconds"]
    row = next(r for r in compare_runs(load_run(base), load_run(slower)).rows if r.metric == "infer_samples_per_s")
    assert row.verdict == "regressed" and row.change == pytest.approx(-83.3, abs=2) and "Mann-Whitney" in row.test
    old = json.loads(base.read_text())  # a file written before the raw rounds were kept
    for bench in old["benchmarks"]:
        bench["extra_info"].pop("infer_batch_seconds", None)
    (tmp_path / "old.json").write_text(json.dumps(old))
    row = next(r for r in compare_runs(load_run(tmp_path / "old.json"), load_run(slower)).rows
               if r.metric == "infer_samples_per_s")
    assert (row.verdict, row.test) == ("untested", "no raw samples")


def test_compare_header_follows_the_argument_order_and_numbers_read_as_in_the_report(tmp_path, rng, capsys):
    base = write_run(tmp_path / "a.json", [synthetic_case("c", rng, params=23946)])
    cand = write_run(tmp_path / "b.json", [synthetic_case("c", rng, params=23946)])
    main(["compare", str(base), str(cand)])
    out = capsys.readouterr().out
    assert out.startswith(f"## baseline {base} vs candidate {cand}\n")
    assert "| 23,946 " in out and "| 47,892 " in out and "e+0" not in out
