"""The transformer family: a decoder-only, GPT-style character language model (after nanoGPT's model.py).

    tokens -> token embedding + position embedding -> `depth` blocks -> LayerNorm -> output head (logits)
    block:      x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x))            (pre-norm, as GPT-2)
    attention:  causal multi-head self-attention, F.scaled_dot_product_attention(is_causal=True)
    MLP:        Linear(width, 4 width), GELU, Linear(4 width, width)

The seed's axes map onto it: `depth` = blocks, `width` = embedding size, `heads`, `context` = sequence length.
`tie_head` (default true) makes the output head's weight the token-embedding matrix (Press & Wolf 2017, as in
GPT-2 and nanoGPT): one tensor, counted once in `params`. `shared = true` applies ONE block `depth` times
(ALBERT's cross-layer sharing, Lan et al. 2020): its weights are counted once, its FLOPs `depth` times.
`bias = false` drops the biases of every Linear and LayerNorm; `dropout` acts on attention weights and on
the residual branches in training only. Initialisation is nanoGPT's: N(0, 0.02) for Linear and Embedding
weights, zero biases, N(0, 0.02 / sqrt(2 depth)) for the two projections into the residual stream.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from suite.plumbing.errors import ConfigError
from suite.plumbing.fields import CaseField, check_bool, check_int
from suite.workloads.blocks import Repeated
from suite.workloads.text import TEXT_DATASETS

FIELDS = (  # Case fields only this family has; null for every other model
    CaseField("heads", "int | None", None, "transformer: attention heads (width must be a multiple)"),
    CaseField("context", "int | None", None, "transformer: sequence length in tokens"),
    CaseField("bias", "bool | None", None, "transformer: biases in Linear and LayerNorm layers"),
    CaseField("tie_head", "bool | None", None, "transformer: output head weight = token embedding"),
    CaseField("dropout", "float | None", None, "transformer: dropout probability"),
)
DEFAULTS = {"heads": 4, "context": 64, "bias": True, "tie_head": True, "dropout": 0.0}
INIT_STD = 0.02  # nanoGPT's (and GPT-2's) initialisation scale


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: one Linear to queries, keys and values, SDPA, an output projection."""

    def __init__(self, width: int, heads: int, bias: bool, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width, bias=bias)
        self.proj = nn.Linear(width, width, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = (t.view(batch, length, self.heads, width // self.heads).transpose(1, 2)
                   for t in self.qkv(x).split(width, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(batch, length, width)))


class Block(nn.Module):
    """A pre-norm transformer block: attention then MLP, each added to the residual stream."""

    def __init__(self, width: int, heads: int, bias: bool, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(width, bias=bias)
        self.attn = CausalSelfAttention(width, heads, bias, dropout)
        self.ln2 = nn.LayerNorm(width, bias=bias)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width, bias=bias), nn.GELU(),
                                 nn.Linear(4 * width, width, bias=bias), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    """The language model: token ids (batch, length <= context) -> logits (batch, length, vocabulary)."""

    def __init__(self, vocab: int, context: int, depth: int, width: int, heads: int, shared: bool = False,
                 bias: bool = True, tie_head: bool = True, dropout: float = 0.0):
        super().__init__()
        self.context, self.depth, self.width = context, depth, width
        self.token = nn.Embedding(vocab, width)
        self.position = nn.Embedding(context, width)
        self.dropout = nn.Dropout(dropout)
        self.blocks = Repeated(lambda: Block(width, heads, bias, dropout), depth, shared)
        self.ln = nn.LayerNorm(width, bias=bias)
        self.head = nn.Linear(width, vocab, bias=False)  # registered last: structured pruning spares it
        if tie_head:
            self.head.weight = self.token.weight
        self.apply(_init)
        for block in self.blocks.blocks:
            for projection in (block.attn.proj, block.mlp[2]):
                nn.init.normal_(projection.weight, std=INIT_STD / math.sqrt(2 * depth))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.dropout(self.token(tokens) + self.position(positions))
        return self.head(self.ln(self.blocks(x)))

    def attention_flops(self, length: int) -> int:
        """Forward FLOPs of the attention products that no Linear layer holds, for one sequence of `length`:
        Q K^T and (attention weights) V, 2 T^2 width each per block. Causal masking does not halve it: this is
        the full T x T product, as FlopCounterMode's SDPA formula and nanoGPT's estimate_mfu (12 L H Q T per
        token for forward and backward) count it, though a causal kernel may skip the masked half."""
        return self.depth * 2 * (2 * length * length * self.width)


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=INIT_STD)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def transformer_model(case, input_shape, num_classes: int) -> nn.Module:
    """The case's transformer for windows of shape (context,) over a vocabulary of `num_classes` tokens."""
    return Transformer(num_classes, input_shape[0], case.depth, case.width, case.heads, case.shared, case.bias,
                       case.tie_head, case.dropout)


def find_transformer(model: nn.Module) -> Transformer | None:
    """The Transformer inside a model (itself, or wrapped by a lever such as autocast), or None."""
    return next((m for m in model.modules() if isinstance(m, Transformer)), None)


def validate(case) -> None:
    """Check the family's fields (called through models.validate_family): only a transformer has them, and it takes a
    text dataset; unset fields of a transformer get DEFAULTS. ConfigError names the field."""
    if (case.model == "transformer") != (case.dataset in TEXT_DATASETS):
        if case.model == "transformer":
            raise ConfigError(f"model 'transformer' needs a text dataset ({', '.join(TEXT_DATASETS)}), "
                              f"got dataset {case.dataset!r}")
        raise ConfigError(f"dataset {case.dataset!r} is text: it needs model 'transformer', got {case.model!r}")
    if case.model != "transformer":
        for name in (field.name for field in FIELDS):
            if getattr(case, name) is not None:
                raise ConfigError(f"field {name!r} applies to model 'transformer' only, got {name}="
                                  f"{getattr(case, name)!r} for model {case.model!r}")
        return
    for name, default in DEFAULTS.items():
        if getattr(case, name) is None:
            object.__setattr__(case, name, default)
    for name in ("heads", "context"):
        check_int(case, name, 1)
    for name in ("bias", "tie_head"):
        check_bool(case, name)
    if isinstance(case.dropout, bool) or not isinstance(case.dropout, (int, float)) or not 0 <= case.dropout < 1:
        raise ConfigError(f"field 'dropout' must be a number in [0, 1), got {case.dropout!r}")
    object.__setattr__(case, "dropout", float(case.dropout))
    if case.width % case.heads:
        raise ConfigError(f"field 'width' ({case.width}) must be a multiple of 'heads' ({case.heads})")
    if case.quantization == "static-int8":
        raise ConfigError("quantization static-int8 quantizes the input, and a transformer's input is token ids: "
                          "use dynamic-int8 (its Linear layers)")


def id_parts(case) -> list[str]:
    """Id fragments of the family's fields: heads and context always, the others when off their defaults."""
    if case.model != "transformer":
        return []
    parts = [f"h{case.heads}", f"c{case.context}"]
    parts += [] if case.tie_head else ["untied"]
    parts += [] if case.bias else ["nobias"]
    return parts + ([f"dropout{case.dropout:g}"] if case.dropout else [])
