"""The `residual-mlp` model family: a tradeoff-bench model factory."""

from __future__ import annotations

from torch import nn


class ResidualBlock(nn.Module):
    """x + Linear(GELU(Linear(LayerNorm(x)))): a pre-norm MLP block with its own LayerNorm."""

    def __init__(self, mlp: nn.Sequential, width: int):
        super().__init__()
        self.norm, self.mlp = nn.LayerNorm(width), mlp

    def forward(self, x):
        return x + self.mlp(self.norm(x))


def residual_mlp(case, input_shape, num_classes: int) -> nn.Module:
    """Flatten, Linear(in, width), `case.depth` residual MLP blocks (hidden 2 x width), LayerNorm, classifier.

    tradeoff-bench calls this as factory(case, input_shape, num_classes); `case.shared` makes every block use
    the same two Linear layers (each keeps its LayerNorm), so the suite counts their weights once.
    """
    width, features = case.width, 1
    for size in input_shape:
        features *= size

    def mlp():
        return nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    mlps = [mlp() for _ in range(1 if case.shared else case.depth)]
    blocks = [ResidualBlock(mlps[0 if case.shared else i], width) for i in range(case.depth)]
    return nn.Sequential(nn.Flatten(), nn.Linear(features, width), *blocks, nn.LayerNorm(width),
                         nn.Linear(width, num_classes))
