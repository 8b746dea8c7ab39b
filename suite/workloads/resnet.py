"""The `resnet` family: residual BasicBlocks with batch normalization, in three stages.

The layout follows the CIFAR ResNets of He et al. 2016 ("Deep Residual Learning for Image Recognition",
section 4.2: three stages of `width`, 2 x `width` and 4 x `width` channels, BasicBlocks of two 3x3
convolutions each followed by BatchNorm, the identity added before the last ReLU, global average pooling and
one linear classifier), with two changes that keep it comparable with the suite's `conv` family:

- the stem is the conv family's: 3x3 conv(C, width) + BN + ReLU and a 2x2 max-pool, so both families start
  from the same 14x14 map on MNIST;
- a stage is downsampled by its own layer before its blocks (3x3 stride-2 conv + BN + ReLU, a separate
  downsampling layer as in ConvNeXt), so every block of a stage has the same shape: `depth` is exactly the
  number of BasicBlocks per stage (2 x 3 x depth convolutions in the blocks) and they can share weights.

`shared = true`: the blocks of a stage use the same two Conv2d modules (counted once in `params`); each
block keeps its own BatchNorm layers, weights and running statistics, because the activations it normalizes
differ from one application to the next (as Cooijmans et al. 2016, "Recurrent Batch Normalization", keep
separate statistics per time step of a weight-shared recurrence). Their few parameters (2 per channel and
block) count per block. Static int8 folds each BN into a copy of its block's convolution, so
the quantized model of a shared net holds one int8 convolution per block.

The residual addition goes through `FloatFunctional`, which torch.ao's eager int8 flow turns into a
quantized add; Conv-BN(-ReLU) runs sit in Sequentials, where suite.levers.compression fuses them.
"""

from __future__ import annotations

from torch import nn
from torch.ao.nn.quantized import FloatFunctional

STAGES = 3  # channel multipliers 1, 2, 4 (He et al.'s CIFAR ResNets)


def conv3x3(channels_in: int, channels_out: int, stride: int = 1) -> nn.Conv2d:
    """A bias-free 3x3 convolution (the BatchNorm after it has the bias)."""
    return nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)


def conv_bn_relu(channels_in: int, channels_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv + BN + ReLU: the stem and the downsampling layers."""
    return nn.Sequential(conv3x3(channels_in, channels_out, stride), nn.BatchNorm2d(channels_out), nn.ReLU())


class BasicBlock(nn.Module):
    """relu(x + bn2(conv2(relu(bn1(conv1(x)))))), with conv1 and conv2 given (so a stage can share them)."""

    def __init__(self, conv1: nn.Conv2d, conv2: nn.Conv2d):
        super().__init__()
        channels = conv1.out_channels
        self.branch = nn.Sequential(conv1, nn.BatchNorm2d(channels), nn.ReLU(), conv2, nn.BatchNorm2d(channels))
        self.skip = FloatFunctional()  # becomes a quantized add + ReLU under static int8

    def forward(self, x):
        return self.skip.add_relu(self.branch(x), x)


def stage(channels: int, depth: int, shared: bool) -> nn.Sequential:
    """`depth` BasicBlocks at `channels`: one pair of convolutions reused by every block when shared."""
    pairs = [(conv3x3(channels, channels), conv3x3(channels, channels)) for _ in range(1 if shared else depth)]
    return nn.Sequential(*[BasicBlock(*pairs[0 if shared else i]) for i in range(depth)])


def resnet_model(input_shape, num_classes: int, depth: int, width: int, shared: bool) -> nn.Module:
    """Stem, then STAGES stages of `depth` BasicBlocks at width, 2 x width, 4 x width channels (the later
    ones after a stride-2 downsampling layer), global average pool, linear classifier."""
    channels = input_shape[0]
    layers = [conv_bn_relu(channels, width), nn.MaxPool2d(2)]
    for s in range(STAGES):
        if s:
            layers.append(conv_bn_relu(width << (s - 1), width << s, stride=2))
        layers.append(stage(width << s, depth, shared))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width << (STAGES - 1), num_classes)]
    return nn.Sequential(*layers)
