"""Reference architectures to compare against: MLPerf Tiny's ResNet-8 and DS-CNN, and MobileNetV2
with a width multiplier. Each takes the input channels, input size and number of classes, and
uses only layers the compression pipeline traces and deploys (Conv2d incl. depthwise, BatchNorm,
ReLU/ReLU6, residual add, global average pooling, Linear)."""
from __future__ import annotations

import torch.nn as nn

from ..errors import ConfigError


def _hw(input_size) -> tuple[int, int]:
    """(height, width) of an int (square) or a pair."""
    if isinstance(input_size, int) and not isinstance(input_size, bool):
        h = w = input_size
    elif isinstance(input_size, (tuple, list)) and len(input_size) == 2:
        h, w = (int(v) for v in input_size)
    else:
        raise ConfigError(f"input_size must be an int or (height, width), got {input_size!r}")
    if h < 1 or w < 1:
        raise ConfigError(f"input_size must be positive, got {input_size!r}")
    return h, w


def _check(in_channels: int, num_classes: int):
    if in_channels < 1:
        raise ConfigError(f"in_channels must be >= 1, got {in_channels}")
    if num_classes < 2:
        raise ConfigError(f"num_classes must be >= 2, got {num_classes}")


def _conv_bn(cin, cout, k, stride=1, groups=1, act: type[nn.Module] | None = nn.ReLU) -> list[nn.Module]:
    layers = [nn.Conv2d(cin, cout, k, stride, padding=k // 2 if isinstance(k, int) else tuple(v // 2 for v in k),
                        groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return layers + ([act()] if act is not None else [])


class ResidualBlock(nn.Module):
    """ResNet basic block: two 3x3 conv + BN, an identity or 1x1-conv shortcut, ReLU after the sum."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(cin, cout, 3, stride), *_conv_bn(cout, cout, 3, act=None))
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet8(nn.Module):
    """MLPerf Tiny's image-classification ResNet-8: a 3x3 stem of 16 channels, three residual
    stacks of 16, 32 and 64 channels (the last two with stride 2), global average pooling and a
    linear classifier (78k parameters at 3x32x32, 10 classes)."""

    def __init__(self, in_channels: int = 3, input_size=32, num_classes: int = 10, width: int = 16):
        super().__init__()
        _check(in_channels, num_classes)
        _hw(input_size)
        self.stem = nn.Sequential(*_conv_bn(in_channels, width, 3))
        self.stacks = nn.Sequential(ResidualBlock(width, width, 1), ResidualBlock(width, 2 * width, 2),
                                    ResidualBlock(2 * width, 4 * width, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        return self.classifier(self.flatten(self.pool(self.stacks(self.stem(x)))))


def resnet8(in_channels: int = 3, input_size=32, num_classes: int = 10, width: int = 16) -> ResNet8:
    return ResNet8(in_channels, input_size, num_classes, width)


def ds_cnn(in_channels: int = 1, input_size=(49, 10), num_classes: int = 12, width: int = 64,
           blocks: int = 4, first_kernel=None) -> nn.Sequential:
    """MLPerf Tiny's keyword-spotting DS-CNN (small): a strided first conv of ``width`` channels
    (10x4 on a 49x10 MFCC map, 3x3 on image-sized inputs), ``blocks`` depthwise-separable blocks
    (depthwise 3x3 + BN + ReLU, pointwise 1x1 + BN + ReLU), global average pooling and a linear
    classifier. Works on 1x28x28 images as well as on spectrograms."""
    _check(in_channels, num_classes)
    h, w = _hw(input_size)
    if first_kernel is None:
        first_kernel = (10, 4) if (h, w) == (49, 10) else (3, 3)
    k = tuple(int(v) for v in (first_kernel if isinstance(first_kernel, (tuple, list)) else (first_kernel,) * 2))
    if k[0] > h + 2 * (k[0] // 2) or k[1] > w + 2 * (k[1] // 2):
        raise ConfigError(f"ds_cnn: first_kernel {k} does not fit an input of {h}x{w}")
    layers = _conv_bn(in_channels, width, k, stride=2)
    for _ in range(blocks):
        layers += _conv_bn(width, width, 3, groups=width) + _conv_bn(width, width, 1)
    return nn.Sequential(*layers, nn.Dropout(0.4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))


def _divisible(v: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10% below ``v``."""
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion + ReLU6, depthwise 3x3 + ReLU6, linear 1x1 projection,
    residual when the stride is 1 and the channels match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers = _conv_bn(cin, hidden, 1, act=nn.ReLU6) if expand != 1 else []
        layers += _conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6)
        layers += _conv_bn(hidden, cout, 1, act=None)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


# (expansion, output channels, repeats, first stride) of MobileNetV2 (Sandler et al., 2018)
MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1))


class MobileNetV2(nn.Module):
    """MobileNetV2 with a width multiplier. Small inputs (<= 64 px) keep full resolution in the
    stem (stride 1, as CIFAR variants do) so that 28x28 and 32x32 images are not reduced to 1x1."""

    def __init__(self, in_channels: int = 3, input_size=32, num_classes: int = 10, width_mult: float = 1.0,
                 last_channels: int = 1280, dropout: float = 0.2):
        super().__init__()
        _check(in_channels, num_classes)
        h, w = _hw(input_size)
        if not 0 < width_mult <= 4:
            raise ConfigError(f"mobilenet_v2: width_mult must be in (0, 4], got {width_mult}")
        cin = _divisible(32 * width_mult)
        last = _divisible(last_channels * max(1.0, width_mult))
        layers = _conv_bn(in_channels, cin, 3, 1 if max(h, w) <= 64 else 2, act=nn.ReLU6)
        for t, c, n, s in MOBILENET_V2_STAGES:
            cout = _divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        layers += _conv_bn(cin, last, 1, act=nn.ReLU6)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x):
        return self.classifier(self.dropout(self.flatten(self.pool(self.features(x)))))


def mobilenet_v2(in_channels: int = 3, input_size=32, num_classes: int = 10, width_mult: float = 1.0,
                 last_channels: int = 1280) -> MobileNetV2:
    return MobileNetV2(in_channels, input_size, num_classes, width_mult, last_channels)
