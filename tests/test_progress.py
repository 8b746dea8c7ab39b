"""Progress inside a case (suite/plumbing/progress.py) and the last lines of `tradeoff-bench run`."""

from __future__ import annotations

import io

from suite.plumbing.progress import PLAIN_EVERY_S, CaseProgress


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_when_not_a_terminal_at_most_one_per_interval():
    stream, clock = io.StringIO(), FakeClock()
    progress = CaseProgress("[2/5] conv-d2", 10, stream, interactive=False, clock=clock)
    progress.phase("timing the training step")
    for epoch, seconds in enumerate([3.0, PLAIN_EVERY_S + 1, PLAIN_EVERY_S + 5, 2 * PLAIN_EVERY_S + 2], 1):
        clock.now = 100.0 + seconds
        progress.epoch({"epoch": epoch, "step": 22 * epoch, "train_loss": 1.0 / epoch})
    progress.close()
    assert stream.getvalue().splitlines() == ["  [2/5] conv-d2  training: epoch 2/10  step 44  loss 0.5000  (11.0 s)",
                                              "  [2/5] conv-d2  training: epoch 4/10  step 88  loss 0.2500  (22.0 s)"]


def test_one_updating_line_on_a_terminal_cleared_at_the_end():
    stream, clock = io.StringIO(), FakeClock()
    with CaseProgress("[1/1] dense", 3, stream, interactive=True, clock=clock) as progress:
        clock.now += 1.5
        progress.epoch({"epoch": 1, "step": 22, "train_loss": 0.75})
        clock.now += 1.5
        progress.phase("batch-1 latency")
    text = stream.getvalue()
    assert "\n" not in text.rstrip("\n")  # redrawn in place with carriage returns, never a new line
    assert "[1/1] dense  training: epoch 1/3  step 22  loss 0.7500  (1.5 s)" in text
    assert "[1/1] dense  batch-1 latency  (3.0 s)" in text
    assert text.endswith("\r") and not text.split("\r")[-2].strip()  # tqdm's leave=False clears the line: blank


class Recorder:
    """Records what run_case reports, as a CaseProgress would receive it."""

    def __init__(self):
        self.events = []

    def phase(self, name):
        self.events.append(name)

    def epoch(self, entry):
        self.events.append(f"epoch {entry['epoch']} step {entry['step']}")


def test_run_case_reports_each_phase_and_epoch():
    from suite.cases import Case
    from suite.runner import MeasureConfig, run_case

    recorder = Recorder()
    config = MeasureConfig(train_rounds=2, train_warmup_rounds=1, train_spread_rounds=2, latency_calls=20,
                           infer_rounds=2)
    result = run_case(Case(model="dense", depth=1, width=8, epochs=2), config, progress=recorder)
    assert result.status == "ok"
    steps = [h["step"] for h in result.metrics["history"]]
    assert recorder.events == ["timing the training step", "training", f"epoch 1 step {steps[0]}",
                               f"epoch 2 step {steps[1]}", "batch-1 latency", "batched inference"]

