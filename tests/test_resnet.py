"""The resnet family: its layout and parameter count, shared convolutions with per-block BatchNorm, and the
levers on it (static int8 with conv-BN folded, channels_last, bf16, structured pruning)."""

import pytest
import torch
from torch import nn

from suite.cases import Case
from suite.levers import compression
from suite.measure.timing import flops_per_sample
from suite.plans import load_plan
from suite.runner import MeasureConfig, run_case
from suite.train import task_loss
from suite.workloads.models import build_model, count_params

FAST = MeasureConfig(train_rounds=2, train_steps_per_round=2, train_warmup_rounds=1, train_spread_rounds=2,
                     latency_calls=10, latency_warmup=2, infer_rounds=2)


def expected_params(depth: int, width: int, shared: bool, channels=1, classes=10) -> int:
    """By hand: bias-free 3x3 convs (9 c_in c_out), 2 BatchNorm parameters per channel, the classifier."""
    conv_bn = lambda c_in, c_out: 9 * c_in * c_out + 2 * c_out  # noqa: E731
    widths = [width, 2 * width, 4 * width]
    total = conv_bn(channels, width) + conv_bn(widths[0], widths[1]) + conv_bn(widths[1], widths[2])
    for c in widths:  # per block: two convs (once when shared) and two BatchNorms (always per block)
        total += (1 if shared else depth) * 2 * 9 * c * c + depth * 2 * 2 * c
    return total + widths[2] * classes + classes


# Exactly as counted at width 16 on MNIST (1x28x28, 10 classes): the README quotes these figures.
PARAMS = {(1, False): 121_274, (2, False): 218_490, (4, False): 412_922, (4, True): 122_618, (8, False): 801_786,
          (8, True): 124_410}


def test_parameter_count_matches_the_layout_and_counts_shared_convs_once():
    for (depth, shared), count in PARAMS.items():
        model = build_model(Case(model="resnet", depth=depth, width=16, shared=shared), (1, 28, 28), 10)
        assert count_params(model) == count == expected_params(depth, 16, shared), (depth, shared)
    # sharing saves exactly the convolutions of all blocks but one per stage: 2 x 9 x c^2 each
    assert PARAMS[8, False] - PARAMS[8, True] == 7 * 2 * 9 * (16**2 + 32**2 + 64**2)


def test_shared_blocks_reuse_their_convs_and_keep_their_own_batchnorm():
    model = build_model(Case(model="resnet", depth=3, width=8, shared=True), (1, 8, 8), 10)
    convs = {id(m) for m in model.modules() if isinstance(m, nn.Conv2d)}
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == 3 + 3 * 2  # stem, 2 downsampling layers, one pair per stage
    assert len(norms) == 3 + 3 * 3 * 2  # every block normalizes on its own
    model.train()(torch.randn(8, 1, 8, 8))
    stage = model[2]
    assert stage[0].branch[0] is stage[2].branch[0]  # the same conv module in every block of the stage
    assert not torch.equal(stage[0].branch[1].running_mean, stage[2].branch[1].running_mean)


@pytest.mark.parametrize("shape, side", [((1, 8, 8), 1), ((1, 28, 28), 4)])
def test_three_stages_halve_the_map_after_the_stem(shape, side):
    model = build_model(Case(model="resnet", depth=1, width=4), shape, 10).eval()
    features = model[:-3](torch.zeros(2, *shape))  # before pooling, flatten and classifier
    assert features.shape == (2, 16, side, side)
    assert model(torch.zeros(2, *shape)).shape == (2, 10)


def test_flop_count_works_on_1x1_maps_and_leaves_batchnorm_statistics_alone():
    model = build_model(Case(model="resnet", depth=1, width=4), (1, 8, 8), 10)
    x, y = torch.randn(4, 1, 8, 8), torch.zeros(4, dtype=torch.int64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flops = flops_per_sample(model, x, y, task_loss)
    assert flops["train_flops_per_sample"] > 2 * flops["flops_per_sample"] > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_static_int8_folds_batchnorm_into_a_conv_copy_per_block():
    model = build_model(Case(model="resnet", depth=2, width=8, shared=True), (1, 28, 28), 10)
    x = torch.randn(32, 1, 28, 28)
    model.train()(x)  # BatchNorm statistics that are not the identity
    model.eval()
    quantized = compression.quantize(model, "static-int8", [x])
    kinds = [type(m).__name__ for m in quantized.modules()]
    assert "BatchNorm2d" not in kinds and kinds.count("QFunctional") == 6  # one quantized add per block
    assert kinds.count("ConvReLU2d") == 3 + 6 and kinds.count("Conv2d") == 6  # conv-BN-ReLU and conv-BN fused
    stage = quantized.module[2]
    assert stage[0].branch[0] is not stage[1].branch[0]  # BN folding gave each block its own int8 conv
    assert model[2][0].branch[0] is model[2][1].branch[0]  # the float model keeps its shared convs
    with torch.inference_mode():
        reference, result = model(x), quantized(x)
    assert (result - reference).abs().max() < 0.1 * reference.abs().max()


@pytest.mark.parametrize("levers", [{"memory_format": "channels_last", "precision": "bf16"},
                                    {"pruning": "ln-structured:0.5", "quantization": "static-int8"}])
def test_levers_train_and_measure_the_resnet(levers):
    result = run_case(Case(model="resnet", depth=1, width=8, epochs=2, **levers), FAST)
    assert result.status == "ok", result.reason
    m = result.metrics
    assert m.get("test_accuracy_uncompressed", m["test_accuracy"]) > 0.8  # digits, 2 epochs
    if "pruning" in levers:  # output channels of every conv zeroed, then the pruned net quantized
        assert 0.4 < m["params_sparsity"] < 0.5 and m["accuracy_kept"] == pytest.approx(
            m["test_accuracy"] / m["test_accuracy_uncompressed"])
        assert m["params_state_dict_bytes"] < m["params_state_dict_bytes_uncompressed"] / 2


def test_resnet_plan_crosses_plain_and_residual_depth_and_sweeps_the_levers():
    plan = load_plan("resnet")
    assert (plan.base.model, plan.base.depth, plan.base.dataset) == ("resnet", 2, "digits")
    crossed = {(c.model, c.depth, c.optimizer) for c in plan.cases}
    assert {(m, d, o) for m in ("conv", "resnet") for d in (1, 2, 4, 8) for o in ("adam", "momentum")} <= crossed
    assert len(plan.cases) == 22
    assert load_plan("resnet", data_dir="anything").base.dataset == "mnist"
