"""The `memory_format` lever: NCHW or NHWC (channels_last) for the conv models' weights and image inputs, set when
the model is built (https://pytorch.org/tutorials/intermediate/memory_format_tutorial.html)."""

from __future__ import annotations

import dataclasses

import torch

from suite.levers.lever import Lever
from suite.plumbing.errors import ConfigError
from suite.plumbing.fields import CaseField
from suite.workloads.models import BUILDERS, CONV_MODELS

MEMORY_FORMATS = {
    "contiguous": "NCHW tensors (torch.contiguous_format)",
    "channels_last": "NHWC tensors for the conv models' (and plug-in models') weights and inputs (torch.channels_last)",
}


def apply_memory_format(model: torch.nn.Module, data, memory_format: str):
    """(model, data) with the conv weights and the image tensors in channels_last when asked."""
    if memory_format != "channels_last":
        return model, data
    fmt = torch.channels_last
    images = {k: getattr(data, k).contiguous(memory_format=fmt) for k in ("x_train", "x_test")}
    return model.to(memory_format=fmt), dataclasses.replace(data, **images)


class MemoryFormat(Lever):
    """channels_last for the built model and the data (a plug-in model may take it too)."""

    fields = (CaseField("memory_format", "str", "contiguous", "tensor layout of a conv model", MEMORY_FORMATS),)

    def validate(self, case) -> None:
        if case.memory_format == "channels_last" and case.model not in CONV_MODELS and case.model in BUILDERS:
            raise ConfigError(f"memory_format channels_last needs a conv model ({', '.join(CONV_MODELS)}), "
                              f"got {case.model!r}")

    def id_parts(self, case) -> list[str]:
        return ["cl"] if case.memory_format == "channels_last" else []

    def build(self, case, model, data, device):
        return apply_memory_format(model, data, case.memory_format)
