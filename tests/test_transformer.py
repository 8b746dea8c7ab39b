"""The transformer family: exact parameter counts with and without shared blocks, causal attention, FLOPs
(attention by formula) against nanoGPT's estimate_mfu, and the family's case fields."""

from __future__ import annotations

import pytest
import torch

from suite.cases import Case
from suite.measure.timing import flops_per_sample
from suite.plumbing.errors import ConfigError
from suite.train import task_loss
from suite.workloads.lm import counter_counts_attention, flop_metrics
from suite.workloads.models import build_model, count_params
from suite.workloads.transformer import Transformer

VOCAB = 65  # tinyshakespeare's characters
BASE = dict(model="transformer", dataset="tinyshakespeare", width=128, heads=4, context=64, bias=False)


def lm(**fields) -> torch.nn.Module:
    case = Case(**{**BASE, **fields})
    return build_model(case, (case.context,), VOCAB)


@pytest.mark.parametrize("depth, shared, params", [
    # embeddings 65x128 + 64x128, block 128 + 3x128^2 + 128^2 + 128 + 2x4x128^2 = 196,864, final LayerNorm 128,
    # output head tied to the token embedding (no weights of its own)
    (4, False, 8_320 + 8_192 + 4 * 196_864 + 128),  # 804,096: nanoGPT's CPU recipe ("0.80M" without positions)
    (4, True, 8_320 + 8_192 + 196_864 + 128),  # 213,504: one block applied 4 times
    (8, False, 8_320 + 8_192 + 8 * 196_864 + 128),  # 1,591,552
    (8, True, 213_504),  # sharing: the count does not grow with depth
])
def test_params_are_counted_exactly_shared_blocks_once(depth, shared, params):
    assert count_params(lm(depth=depth, shared=shared)) == params


def test_tied_head_is_the_embedding_and_untying_adds_its_matrix():
    tied, untied = lm(depth=4), lm(depth=4, tie_head=False)
    assert tied.head.weight is tied.token.weight and untied.head.weight is not untied.token.weight
    assert count_params(untied) - count_params(tied) == VOCAB * 128
    # biases per block: LayerNorm 128, qkv 384, projection 128, LayerNorm 128, MLP 512 and 128; final LayerNorm 128
    assert count_params(lm(depth=4, bias=True)) - count_params(tied) == 4 * 1_408 + 128


def test_attention_is_causal():
    torch.manual_seed(0)
    model = lm(depth=2, width=32, context=16).eval()
    tokens = torch.randint(0, VOCAB, (1, 16))
    changed = tokens.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % VOCAB
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    assert torch.equal(a[0, :10], b[0, :10])  # positions before 10 never see tokens from 10 on
    assert not torch.allclose(a[0, 10:], b[0, 10:])


@pytest.mark.parametrize("shared", [False, True])
def test_flops_per_token_match_nanogpt_estimate_mfu(shared):
    depth, width, length = 3, 64, 32
    model = lm(depth=depth, width=width, context=length, shared=shared)
    x = torch.randint(0, VOCAB, (2, length))
    counted = flops_per_sample(model, x, x, task_loss)
    metrics = flop_metrics(model, x, counted)
    # Parameters that a matrix multiply uses per block application: qkv, proj, MLP up and down; plus the head.
    matmul = depth * 12 * width * width + VOCAB * width
    attention = 4 * depth * width * length  # Q K^T and A V per token forward: full T x T, causal mask not halved
    assert metrics["flops_per_token"] == 2 * matmul + attention
    assert metrics["train_flops_per_token"] == 6 * matmul + 3 * attention
    assert metrics["attention_flops_source"].startswith("formula" if not counter_counts_attention("cpu") else "Flop")
    # nanoGPT model.py estimate_mfu: 6N + 12 L H Q T per token, N = parameters without position embeddings (its
    # get_num_params), each block counted once per application. The only difference: its 6N also counts the
    # LayerNorm weights (2 per block and a final one), which multiply no matrix.
    n = count_params(lm(depth=depth, width=width, context=length)) - length * width
    nanogpt = 6 * n + 12 * depth * width * length
    assert nanogpt - metrics["train_flops_per_token"] == 6 * (2 * depth + 1) * width
    assert abs(metrics["train_flops_per_token"] - nanogpt) / nanogpt < 0.003
    if not shared:  # the figure printed beside the suite's: nanoGPT's own count of this model
        assert metrics["nanogpt_train_flops_per_token"] == nanogpt
    assert metrics["flops_per_sample"] == metrics["flops_per_token"] * length


def test_cpu_flop_counter_misses_sdpa_so_the_formula_adds_it():
    # torch 2.13 registers no FLOP formula for the CPU SDPA kernel; were one added, flop_metrics would stop
    # adding the formula (the exact totals above hold either way).
    model = lm(depth=1, width=32, context=8)
    x = torch.randint(0, VOCAB, (1, 8))
    counted = flops_per_sample(model, x, x, task_loss)
    linear_only = 2 * (12 * 32 * 32 + VOCAB * 32) * 8
    assert counted["flops_per_sample"] == linear_only + (4 * 32 * 8 * 8 if counter_counts_attention("cpu") else 0)


@pytest.mark.parametrize("fields, message", [
    ({"dataset": "digits"},
     "model 'transformer' needs a text dataset (tinyshakespeare, random-tokens), got dataset 'digits'"),
    ({"model": "conv"}, "dataset 'tinyshakespeare' is text: it needs model 'transformer', got 'conv'"),
    ({"heads": 3}, "field 'width' (128) must be a multiple of 'heads' (3)"),
    ({"context": 0}, "field 'context' must be an integer >= 1, got 0"),
    ({"dropout": 1.0}, "field 'dropout' must be a number in [0, 1), got 1.0"),
    ({"bias": "no"}, "field 'bias' must be true or false, got 'no'"),
    ({"quantization": "static-int8"}, "use dynamic-int8"),
])
def test_bad_family_fields_are_one_line_errors(fields, message):
    with pytest.raises(ConfigError) as error:
        Case(**{**BASE, **fields})
    assert message in str(error.value) and "\n" not in str(error.value)


def test_family_fields_belong_to_the_transformer_only_and_default_for_it():
    with pytest.raises(ConfigError, match="field 'heads' applies to model 'transformer' only"):
        Case(model="dense", heads=4)
    case = Case(model="transformer", dataset="tinyshakespeare")
    assert (case.heads, case.context, case.bias, case.tie_head, case.dropout) == (4, 64, True, True, 0.0)
    assert case.id.startswith("transformer-d2-w32-h4-c64-adam-")
    assert "-untied-nobias-dropout0.1-" in Case(**{**BASE, "tie_head": False, "dropout": 0.1}).id
    assert isinstance(lm(depth=2), Transformer)
