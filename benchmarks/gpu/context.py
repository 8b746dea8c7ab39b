"""What every check of a validation run shares: the device, the mode, the clock budget and the environment."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Context:
    """One validation run. `deadline` is a perf_counter time after which no further plan case starts."""

    out: Path
    quick: bool
    deadline: float
    machine_info: dict
    device: object = None  # torch.device("cuda") where there is one
    lever_ratios: list[dict] = field(default_factory=list)
    data_dir: Path | None = None  # --data-dir: tinyshakespeare/input.txt, cifar-10-batches-py/
    gpt2_rows: dict = field(default_factory=dict)  # the gpu-quick plan's GPT-2-small figures, for the targets

    @property
    def environment(self) -> dict:
        """The suite's environment block (suite.measure.environment.environment)."""
        return self.machine_info["tradeoff_bench"]

    def out_of_time(self) -> bool:
        """Whether the run's clock budget is spent."""
        return time.perf_counter() > self.deadline

    def measure_config(self):
        """The runner's MeasureConfig for auxiliary cases (and the plans under --quick): few rounds,
        the same code path."""
        from suite.runner import MeasureConfig

        return MeasureConfig(train_rounds=3, train_steps_per_round=2, train_warmup_rounds=1, train_spread_rounds=2,
                             latency_calls=10, latency_warmup=2, infer_rounds=3, compile_seconds=False)

    def plan_config(self):
        """The MeasureConfig of the plan checks: the runner's own, without the four extra compilations that time
        compilation apart (they would not fit the budget); under --quick, measure_config's few rounds."""
        from suite.runner import MeasureConfig

        return self.measure_config() if self.quick else MeasureConfig(compile_seconds=False)
