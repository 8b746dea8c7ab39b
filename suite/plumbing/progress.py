"""Progress inside one case of `tradeoff-bench run`: the phase, the epoch and global step, the last train loss and
the elapsed time, so a case that trains for minutes is not silent until it ends.

On a terminal it is one line that tqdm rewrites in place and clears when the case ends (its result line follows).
Elsewhere (CI logs, a pipe) it prints plain lines, indented under the case's result line to come and at most one
every PLAIN_EVERY_S seconds, so short cases add nothing to a log. Every update is made between timed regions, never
inside one: the runner calls `phase` before its measurements and `epoch` after an epoch's evaluation and spread
rounds, outside both clocks (suite/train.py, suite/runner.py). tqdm's monitor thread is not started (it would wake
during timed rounds).
"""

from __future__ import annotations

import sys
import time

PLAIN_EVERY_S = 10.0  # the shortest gap between two plain progress lines of one case


class CaseProgress:
    """Progress of one case: `phase(name)` and `epoch(entry)` update it, `close()` ends it."""

    def __init__(self, prefix: str, epochs: int, stream=None, interactive: bool | None = None,
                 clock=time.monotonic):
        self.prefix, self.epochs, self.stream, self.clock = prefix, epochs, stream or sys.stdout, clock
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.start = self.last_plain = clock()
        self.state = "preparing"
        self.bar = None
        if self.interactive:
            from tqdm import tqdm

            tqdm.monitor_interval = 0  # no background thread waking up while rounds are timed
            self.bar = tqdm(total=None, file=self.stream, leave=False, dynamic_ncols=True, bar_format="{desc}")
            self._show()

    def text(self) -> str:
        """The line as it reads now: "[3/8] CASE  epoch 4/10  step 120  loss 0.3121  (12.3 s)"."""
        return f"{self.prefix}  {self.state}  ({self.clock() - self.start:.1f} s)"

    def phase(self, name: str) -> None:
        """A new phase of the case: "timing the training step", "batch-1 latency"..."""
        self.state = name
        self._show()

    def epoch(self, entry: dict) -> None:
        """After an epoch: its number, the global step and the epoch's mean train loss (a history entry)."""
        loss = entry.get("train_loss")
        loss_text = f"  loss {loss:.4f}" if isinstance(loss, (int, float)) else ""
        of = f"/{self.epochs}" if self.epochs else ""  # a steps budget has no epoch count
        self.state = f"training: epoch {entry.get('epoch')}{of}  step {entry.get('step')}{loss_text}"
        self._show()

    def _show(self) -> None:
        if self.bar is not None:
            self.bar.set_description_str(self.text())
        elif self.clock() - self.last_plain >= PLAIN_EVERY_S:
            self.last_plain = self.clock()
            print(f"  {self.text()}", file=self.stream, flush=True)  # indented: a case's result line starts with "["

    def close(self) -> None:
        """Clear the terminal line (the case's result line takes its place)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> CaseProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def case_progress(index: int, total: int, case) -> CaseProgress:
    """The progress of the `index`-th of `total` cases, on stdout."""
    return CaseProgress(f"[{index}/{total}] {case.id}", case.epochs)
