"""Language-model figures: held-out loss per token and bits per character, tokens/s, and FLOPs per token with
attention counted by formula.

FLOPs. torch's FlopCounterMode counts matrix multiplies, and on CPU (torch 2.13) 0 FLOPs for
`scaled_dot_product_attention`: the CPU kernel (`_scaled_dot_product_flash_attention_for_cpu`) has no FLOP
formula registered, while the CUDA kernels have. So where a probe on the device counts nothing, the attention
products Q K^T and (weights) V are added by formula: 4 T^2 width per block per sequence forward, 3 times that
for forward and backward. Causal masking does NOT halve the figure: it is the full T x T product, as
FlopCounterMode's own SDPA formula and nanoGPT's estimate_mfu count it (PaLM appendix B likewise). The training
total then matches nanoGPT's 6 N + 12 L H Q T per token (tests/test_transformer.py), N counting the parameters
each matrix multiply uses and H Q = width.
"""

from __future__ import annotations

import functools
import math

import torch
from torch.utils.flop_counter import FlopCounterMode

from suite.metrics import TRAIN_RATE
from suite.workloads.text import TASK
from suite.workloads.transformer import find_transformer

ATTENTION_BY_FORMULA = ("formula: Q K^T and A V, 4 T^2 width per block forward, added to FlopCounterMode's count, "
                        "which has no formula for this device's SDPA kernel")
ATTENTION_COUNTED = "FlopCounterMode: its SDPA formula counts the attention products"


@functools.cache
def counter_counts_attention(device_type: str) -> bool:
    """Whether FlopCounterMode counts any FLOPs for a causal scaled_dot_product_attention on this device type."""
    q = torch.ones(1, 1, 4, 8, device=device_type)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
    return counter.get_total_flops() > 0


def flop_metrics(model: torch.nn.Module, x: torch.Tensor, counted: dict) -> dict:
    """For a transformer: `flops_per_sample` and `train_flops_per_sample` (one window) with the attention FLOPs
    added where FlopCounterMode missed them, the same per token, and `attention_flops_source` saying which
    counted them; {} for any other model."""
    net = find_transformer(model)
    if net is None:
        return {}
    length = x.shape[1]
    attention = net.attention_flops(length)
    added = 0 if counter_counts_attention(x.device.type) else attention
    forward, train = counted["flops_per_sample"] + added, counted["train_flops_per_sample"] + 3 * added
    return {"flops_per_sample": forward, "train_flops_per_sample": train, "flops_per_token": forward // length,
            "train_flops_per_token": train // length, "attention_flops_per_token": attention // length,
            "attention_flops_source": ATTENTION_BY_FORMULA if added else ATTENTION_COUNTED,
            "nanogpt_train_flops_per_token": nanogpt_flops_per_token(net)}


def nanogpt_flops_per_token(net) -> int:
    """Training FLOPs per token as nanoGPT's estimate_mfu (model.py) counts them, printed beside the suite's own
    count: 6 N + 12 L H Q T, N the parameters without the position embedding (its get_num_params), L blocks,
    H Q the width and T the context (the full context, whatever length a window has)."""
    params = sum(p.numel() for p in net.parameters()) - net.position.weight.numel()
    return 6 * params + 12 * net.depth * net.width * net.context


def derived_metrics(data, metrics: dict) -> dict:
    """For a language-modelling dataset (the built-in corpora and plug-ins of that task alike): `val_loss` (the
    held-out loss, nats per token), `bits_per_char` (the same in bits: one token is one character) and
    `train_tokens_per_s` (training samples/s x tokens per window), from what `metrics` holds; {} for other tasks."""
    if data.task != TASK:
        return {}
    out = {}
    if "test_loss" in metrics:
        loss = metrics["test_loss"]
        out |= {"val_loss": loss, "bits_per_char": None if loss is None else loss / math.log(2)}
    if metrics.get(TRAIN_RATE) is not None:
        out["train_tokens_per_s"] = metrics[TRAIN_RATE] * data.x_train.shape[1]
    return out
