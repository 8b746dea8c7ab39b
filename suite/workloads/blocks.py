"""Building blocks the model families share: `Repeated`, blocks of equal shape applied in sequence, shareable."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class Repeated(nn.Module):
    """`count` blocks of equal shape applied in sequence.

    With shared=True there is ONE block applied `count` times, so its parameters exist once
    (and `model.parameters()` counts them once).
    """

    def __init__(self, make_block: Callable[[], nn.Module], count: int, shared: bool):
        super().__init__()
        self.count = count
        self.shared = shared
        self.blocks = nn.ModuleList([make_block() for _ in range(1 if shared and count else count)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.count):
            x = self.blocks[0 if self.shared else i](x)
        return x
