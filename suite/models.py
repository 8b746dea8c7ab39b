"""Model variants: the dense (MLP) and conv (CNN) families, and the reference seed CNN."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

MODELS = {
    "dense": "MLP: input Linear(in, width)+ReLU, then `depth` Linear(width, width)+ReLU layers, linear classifier",
    "conv": "CNN: input 3x3 conv(in, width)+ReLU and 2x2 max-pool, then `depth` 3x3 conv(width, width)+ReLU "
    "blocks, linear classifier",
    "seed-cnn": "reference CNN conv32-pool-conv64-pool-conv64-dense64-dense10 "
    "(93,322 params on 28x28x1; 'same' padding below 20 px)",
    "transformer": "decoder-only GPT-style character LM (suite/workloads/transformer.py): depth = blocks, width = "
    "embedding size, heads, context; output head tied to the embedding by default",
}


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


def dense_model(input_shape, num_classes: int, depth: int, width: int, shared: bool) -> nn.Module:
    """MLP: flatten, Linear(in, width)+ReLU, then `depth` Linear(width, width)+ReLU (shareable)."""
    in_features = int(torch.tensor(input_shape).prod())
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, width),
        nn.ReLU(),
        Repeated(lambda: nn.Sequential(nn.Linear(width, width), nn.ReLU()), depth, shared),
        nn.Linear(width, num_classes),
    )


def conv_model(input_shape, num_classes: int, depth: int, width: int, shared: bool) -> nn.Module:
    """CNN: conv(in, width)+ReLU, 2x2 max-pool, `depth` conv(width, width)+ReLU (shareable), linear."""
    channels, height, width_px = input_shape
    features = nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        Repeated(lambda: nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU()), depth, shared),
        nn.Flatten(),
    )
    return nn.Sequential(features, nn.Linear(width * (height // 2) * (width_px // 2), num_classes))


def seed_cnn(input_shape, num_classes: int) -> nn.Module:
    """The reference CNN. 'valid' 3x3 convolutions on inputs of 20 px or more (28x28 MNIST gives
    exactly 93,322 parameters); 'same' padding on smaller ones, so 8x8 digits keep a 2x2 map at the
    end (72,842 parameters)."""
    channels, height, _ = input_shape
    pad = 0 if height >= 20 else 1
    features = nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=pad), nn.ReLU(), nn.Flatten(),
    )
    with torch.no_grad():
        flat = features(torch.zeros(1, *input_shape)).shape[1]
    return nn.Sequential(features, nn.Linear(flat, 64), nn.ReLU(), nn.Linear(64, num_classes))


def build_model(case, input_shape, num_classes: int) -> nn.Module:
    """The model a case names, for inputs of shape (C, H, W) (a language model: (context,) token ids), on the
    CPU in fp32."""
    if case.model == "seed-cnn":
        return seed_cnn(input_shape, num_classes)
    if case.model == "transformer":  # imported here: the module builds on Repeated above
        from suite.workloads.transformer import transformer_model

        return transformer_model(case, input_shape, num_classes)
    family = {"dense": dense_model, "conv": conv_model}[case.model]
    return family(input_shape, num_classes, case.depth, case.width, case.shared)


def count_params(model: nn.Module) -> int:
    """Trainable parameters, shared ones counted once (`parameters()` yields each tensor once)."""
    return sum(p.numel() for p in model.parameters())
