"""The model registry: the dense (MLP) and conv (CNN) families, the reference seed CNN, the workloads under
suite/workloads/ (resnet, transformer) and plug-ins.

Two plain dicts keyed by the model name: MODELS holds the one-line descriptions (`tradeoff-bench list`, error
messages) and BUILDERS the builders, each `builder(case, input_shape, num_classes) -> nn.Module` on the CPU in
fp32, the signature a plug-in factory has too. A new family adds one entry to each. Plug-ins extend the
registry: entry-point names join MODELS (their factories are imported when a plan names them), and a
`package.module:factory` name is accepted by its form (suite/workloads/plugins.py).
"""

from __future__ import annotations

import torch
from torch import nn

from suite.plumbing.errors import ConfigError
from suite.plumbing.fields import CaseField, check_bool, check_int
from suite.workloads import plugins, transformer
from suite.workloads.blocks import Repeated
from suite.workloads.resnet import resnet_model

MODELS = {
    "dense": "MLP: input Linear(in, width)+ReLU, then `depth` Linear(width, width)+ReLU layers, linear classifier",
    "conv": "CNN: input 3x3 conv(in, width)+ReLU and 2x2 max-pool, then `depth` 3x3 conv(width, width)+ReLU "
    "blocks, linear classifier",
    "seed-cnn": "reference CNN conv32-pool-conv64-pool-conv64-dense64-dense10 "
    "(93,322 params on 28x28x1; 'same' padding below 20 px)",
    "resnet": "ResNet: conv-BN-ReLU stem and 2x2 max-pool, 3 stages of `depth` BasicBlocks (conv-BN-ReLU-conv-BN + "
    "identity) at width, 2x, 4x channels with stride-2 downsampling between, global average pool, linear "
    "classifier; shared: a stage's blocks share their convs, each keeps its BatchNorm",
    "transformer": "decoder-only GPT-style character LM (suite/workloads/transformer.py): depth = blocks, width = "
    "embedding size, heads, context; output head tied to the embedding by default",
}


CONV_MODELS = ("conv", "seed-cnn", "resnet")  # the families whose FLOPs are convolutions
FIELDS = (
    CaseField("model", "str", "conv", "the model family, or a plug-in's package.module:factory", MODELS),
    CaseField("depth", "int | None", 2, "repeated width->width layers (dense) or conv blocks (conv) after the stem"),
    CaseField("width", "int | None", 32, "units (dense) or channels (conv, resnet's first stage) of each layer"),
    CaseField("shared", "bool | None", False, "the repeated layers share one set of weights (tied)"),
)
FAMILY_FIELDS = ("depth", "width", "shared")  # seed-cnn fixes its own architecture: null there
# Families with case fields of their own (null for every other model): each module declares its FIELDS and has
# validate(case) and id_parts(case).
FAMILIES_WITH_FIELDS = (transformer,)
OWN_FIELDS = tuple(field for family in FAMILIES_WITH_FIELDS for field in family.FIELDS)


def validate_family(case) -> None:
    """Check depth, width and shared (seed-cnn sets them to null), then the fields of the families that have their
    own (called when a Case is made)."""
    if case.model == "seed-cnn":
        for name in FAMILY_FIELDS:
            object.__setattr__(case, name, None)
    else:
        check_int(case, "depth", 1)
        check_int(case, "width", 1)
        check_bool(case, "shared")
        if case.shared and case.depth < 2:
            raise ConfigError("shared=true needs depth >= 2 (one repeated block has nothing to share with)")
    for family in FAMILIES_WITH_FIELDS:
        family.validate(case)


def family_id_parts(case) -> list[str]:
    """`conv-d2-w32` style fragments: the model, its depth and width, `shared` when tied, then the fragments of a
    family's own fields (`h4-c64` for a transformer)."""
    parts = [case.model]
    if case.model != "seed-cnn":
        parts += [f"d{case.depth}", f"w{case.width}"] + (["shared"] if case.shared else [])
    return parts + [part for family in FAMILIES_WITH_FIELDS for part in family.id_parts(case)]


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


def _family(builder):
    """A (input_shape, num_classes, depth, width, shared) builder as a registry builder."""
    return lambda case, input_shape, num_classes: builder(input_shape, num_classes, case.depth, case.width,
                                                          case.shared)


BUILDERS = {
    "dense": _family(dense_model),
    "conv": _family(conv_model),
    "seed-cnn": lambda case, input_shape, num_classes: seed_cnn(input_shape, num_classes),
    "resnet": _family(resnet_model),
    "transformer": transformer.transformer_model,
}
MODELS.update(plugins.registered("model", exclude=BUILDERS))  # names that installed plug-ins register


def build_model(case, input_shape, num_classes: int) -> nn.Module:
    """The model a case names (a built-in or a plug-in), for inputs of shape `input_shape` ((C, H, W); a language
    model: (context,) token ids), on the CPU in fp32."""
    if case.model not in BUILDERS:
        return plugins.build_model(case, input_shape, num_classes)
    return BUILDERS[case.model](case, tuple(input_shape), num_classes)


def count_params(model: nn.Module) -> int:
    """Trainable parameters, shared ones counted once (`parameters()` yields each tensor once)."""
    return sum(p.numel() for p in model.parameters())
