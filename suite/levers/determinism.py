"""The `deterministic` lever: torch.use_deterministic_algorithms(True) for the case, a lever with a cost (it changes
which kernels run), never a hidden default. The runner sets it with the seeds (suite.runner.seed_everything)."""

from __future__ import annotations

import os

from suite.levers.lever import Lever
from suite.plumbing.fields import CaseField, check_bool


class Determinism(Lever):
    """Deterministic algorithms; on CUDA they need cuBLAS's workspace setting before CUDA starts."""

    fields = (CaseField("deterministic", "bool", False, "torch.use_deterministic_algorithms(True) for the case"),)

    def validate(self, case) -> None:
        check_bool(case, "deterministic")

    def id_parts(self, case) -> list[str]:
        return ["det"] if case.deterministic else []

    def availability(self, case) -> tuple[bool, str]:
        """Without CUBLAS_WORKSPACE_CONFIG every CUDA matmul would raise
        (https://pytorch.org/docs/stable/notes/randomness.html)."""
        if case.deterministic and case.device == "cuda" and not os.environ.get("CUBLAS_WORKSPACE_CONFIG"):
            return False, "deterministic=true on CUDA needs CUBLAS_WORKSPACE_CONFIG=:4096:8 set before the run starts"
        return True, ""
