"""The `threads` lever: torch's intra-op thread count for the case, set around its measurement and restored after
(unset: torch's default, which the run records as procedure.torch_threads_default)."""

from __future__ import annotations

import contextlib

import torch

from suite.levers.lever import Lever
from suite.plumbing.fields import CaseField, check_optional_int


@contextlib.contextmanager
def intra_op_threads(threads: int | None):
    """torch.set_num_threads(threads) for the duration (nothing when None), the previous count restored."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Threads(Lever):
    """CPU intra-op threads around the whole case."""

    fields = (CaseField("threads", "int | None", None, "CPU intra-op threads (unset: torch's default)"),)

    def validate(self, case) -> None:
        check_optional_int(case, "threads", 1)

    def id_parts(self, case) -> list[str]:
        return [f"t{case.threads}"] if case.threads is not None else []

    def scope(self, case):
        return intra_op_threads(case.threads)
