"""Quantized layers for quantization-aware training. They subclass the real torch layers (so a
CompressedModel's parameters look like the user's) and fake-quantize their weights on every
forward; activations are fake-quantized by :class:`ActQuantizer` at each tensor that gets its
own scale and zero point."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .ste import fake_quantize_activation, quantize_bias, quantize_weight, weight_scale


class _WeightQuant:
    weight_bits: int
    per_channel: bool
    dynamic: bool

    def quantized_weight(self):
        """(integer weight, scale): the integers are what the device stores."""
        s = weight_scale(self.weight, self.weight_bits, self.per_channel)
        return quantize_weight(self.weight, s, self.weight_bits), s

    def fake_params(self, in_scale: float | None):
        q, s = self.quantized_weight()
        w = q * s
        if self.dynamic or in_scale is None:
            return w, self.bias
        bscale = in_scale * s.reshape(-1)
        return w, quantize_bias(self.bias, bscale) * bscale


class QConv2d(nn.Conv2d, _WeightQuant):
    """Conv2d with fake-quantized weights and int32-grid bias; padding is explicit
    (top, bottom, left, right) so that a preceding ZeroPad2d can be merged into it."""

    def __init__(self, conv: nn.Conv2d, padding4, weight_bits, per_channel, dynamic):
        super().__init__(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                         padding=0, dilation=conv.dilation, groups=conv.groups, bias=True)
        with torch.no_grad():
            self.weight.copy_(conv.weight)
            self.bias.copy_(conv.bias if conv.bias is not None else torch.zeros(conv.out_channels))
        self.padding4 = tuple(int(p) for p in padding4)
        self.weight_bits, self.per_channel, self.dynamic = weight_bits, per_channel, dynamic

    def forward(self, x, in_scale: float | None = None):
        t, b, l, r = self.padding4
        if any(self.padding4):
            x = F.pad(x, (l, r, t, b))
        w, bias = self.fake_params(in_scale)
        return F.conv2d(x, w, bias, self.stride, 0, self.dilation, self.groups)


class QLinear(nn.Linear, _WeightQuant):
    def __init__(self, lin: nn.Linear, weight_bits, per_channel, dynamic):
        super().__init__(lin.in_features, lin.out_features, bias=True)
        with torch.no_grad():
            self.weight.copy_(lin.weight)
            self.bias.copy_(lin.bias if lin.bias is not None else torch.zeros(lin.out_features))
        self.weight_bits, self.per_channel, self.dynamic = weight_bits, per_channel, dynamic

    def forward(self, x, in_scale: float | None = None):
        w, bias = self.fake_params(in_scale)
        return F.linear(x, w, bias)


class ActQuantizer(nn.Module):
    """Observes a tensor's range and fake-quantizes it to unsigned ``bits``-bit codes.

    Calibration records the min/max over the calibration data (on float activations); during
    training the range follows an exponential moving average of batch ranges; in eval mode it
    is frozen. Zero is always exactly representable, so zero padding and ReLU stay exact.
    """

    def __init__(self, bits: int, momentum: float = 0.01):
        super().__init__()
        self.bits, self.momentum = bits, momentum
        self.register_buffer("min_val", torch.tensor(0.0))
        self.register_buffer("max_val", torch.tensor(0.0))
        self.register_buffer("initialized", torch.tensor(False))
        self.calibrating = False

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        lo, hi = x.min().float(), x.max().float()
        if self.calibrating or not bool(self.initialized):
            if not bool(self.initialized):
                self.min_val.copy_(lo)
                self.max_val.copy_(hi)
                self.initialized.fill_(True)
            else:
                self.min_val.copy_(torch.minimum(self.min_val, lo))
                self.max_val.copy_(torch.maximum(self.max_val, hi))
        else:
            self.min_val.lerp_(lo, self.momentum)
            self.max_val.lerp_(hi, self.momentum)

    def qparams(self) -> tuple[float, int]:
        """(scale, zero point) from the observed range, widened to include zero."""
        lo = min(float(self.min_val), 0.0)
        hi = max(float(self.max_val), 0.0)
        qmax = (1 << self.bits) - 1
        scale = (hi - lo) / qmax
        if not scale > 1e-12:          # never observed anything but zeros
            return 1.0, 0
        zp = int(min(max(round(-lo / scale), 0), qmax))
        return float(scale), zp

    def forward(self, x):
        if self.training or self.calibrating:
            self.observe(x)
        if self.calibrating:
            return x
        return self.apply_quant(x)

    def apply_quant(self, x):
        scale, zp = self.qparams()
        return fake_quantize_activation(x, scale, zp, self.bits)

    def extra_repr(self):
        return f"bits={self.bits}, range=[{float(self.min_val):.4g}, {float(self.max_val):.4g}]"
