import pytest
import torch

from suite.cases import Case
from suite.workloads.models import build_model, count_params


def params(input_shape=(1, 8, 8), **fields):
    return count_params(build_model(Case(**fields), input_shape, 10))


def test_seed_cnn_has_93322_params_on_28x28():
    assert params((1, 28, 28), model="seed-cnn") == 93_322


def test_seed_cnn_on_digits_uses_same_padding():
    # conv 320 + 18,496 + 36,928; dense 64*2*2*64+64 = 16,448; 650
    assert params((1, 8, 8), model="seed-cnn") == 72_842


def test_dense_params_exact():
    # 64*32+32 (in) + 2 * (32*32+32) (depth 2) + 32*10+10 (head)
    assert params(model="dense", depth=2, width=32) == 2080 + 2 * 1056 + 330


def test_shared_weights_are_counted_once():
    dense_shared = params(model="dense", depth=4, width=32, shared=True)
    assert dense_shared == 2080 + 1056 + 330
    # conv: 1*32*9+32 (in) + depth * (32*32*9+32) + 32*4*4*10+10 (head)
    assert params(model="conv", depth=4, width=32) == 320 + 4 * 9248 + 5130
    assert params(model="conv", depth=4, width=32, shared=True) == 320 + 9248 + 5130


@pytest.mark.parametrize("model", ["dense", "conv", "seed-cnn"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28)])
def test_forward_gives_logits(model, shape):
    net = build_model(Case(model=model, depth=3, shared=True if model != "seed-cnn" else None), shape, 10)
    assert net(torch.zeros(5, *shape)).shape == (5, 10)


def test_shared_model_reuses_one_module():
    net = build_model(Case(model="dense", depth=3, shared=True), (1, 8, 8), 10)
    repeated = net[3]
    assert len(repeated.blocks) == 1 and repeated.count == 3
