"""The lever protocol (suite/levers/lever.py): the runner calls each phase's hook of every registered lever, in the
order a case meets them, and the after-training phase measures with the runner's own procedures."""

from __future__ import annotations

import contextlib

import pytest

from suite import levers
from suite.cases import DECLARED, FIELDS, Case
from suite.levers import LEVERS, Lever
from suite.runner import MeasureConfig, run_case

FAST = MeasureConfig(train_rounds=2, train_steps_per_round=2, train_warmup_rounds=1, train_spread_rounds=2,
                     latency_calls=20, latency_warmup=2, infer_rounds=2, compile_seconds=False)


class Recorder(Lever):
    """A lever that acts at no phase but records each call, and in after_training uses the tools it is given."""

    def __init__(self):
        self.calls, self.seen = [], {}

    def process_environment(self, case):
        self.calls.append("process_environment")
        return {}

    def build(self, case, model, data, device):
        self.calls.append("build")
        return model, data

    @contextlib.contextmanager
    def scope(self, case):
        self.calls.append("scope")
        yield
        self.calls.append("scope end")

    def training_model(self, case, model):
        self.calls.append("training_model")
        return model

    def after_training(self, case, model, outcome, tools):
        self.calls.append("after_training")
        self.seen = {"accuracy": tools.evaluate(model, tools.data.x_test, tools.data.y_test)[0],
                     "reported": outcome.test_accuracy, "p50": tools.latency_p50(model)}
        return model, outcome, {}

    def inference_model(self, case, model):
        self.calls.append("inference_model")
        return model


def test_the_runner_calls_each_phase_of_every_lever_in_order(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(levers, "LEVERS", (*LEVERS, recorder))
    result = run_case(Case(model="dense", depth=1, width=16, epochs=2, lr=0.01), FAST)
    assert result.status == "ok", result.reason
    phases = [name for i, name in enumerate(recorder.calls) if i == 0 or recorder.calls[i - 1] != name]
    assert phases == ["scope", "build", "training_model", "after_training", "inference_model", "scope end"]
    assert recorder.seen["accuracy"] == pytest.approx(recorder.seen["reported"]) and recorder.seen["accuracy"] > 0.8
    assert recorder.seen["p50"] > 0
    assert levers.process_environment(Case()) == {}  # no lever at its default needs a process of its own


def test_every_case_field_is_declared_once_with_its_help():
    names = [f.name for f in DECLARED]
    assert len(names) == len(set(names)) == len(FIELDS) == 45
    assert all(f.help for f in DECLARED)
    assert {f.name for lever in LEVERS for f in lever.fields} == {
        "precision", "matmul_precision", "compile", "memory_format", "quantization", "pruning", "finetune_epochs",
        "threads", "world_size", "runtime", "allocator", "omp_bind", "interop_threads", "deterministic"}
