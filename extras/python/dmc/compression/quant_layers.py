"""Quantized layers for quantization-aware training. They subclass the real torch layers (so a
CompressedModel's parameters look like the user's) and fake-quantize their weights on every
forward; activations are fake-quantized by :class:`ActQuantizer` at each tensor that gets its
own scale and zero point."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .distributed import reduce_range
from .ste import fake_quantize_activation, quantize_bias, quantize_weight, round_ste, weight_scale


class _WeightQuant:
    weight_bits: int
    per_channel: bool
    dynamic: bool

    def masked_weight(self):
        """The weight with unstructured pruning applied (``weight_mask``, a buffer that
        :mod:`.weight_pruning` registers on pruned layers): pruned weights are exactly 0."""
        mask = getattr(self, "weight_mask", None)
        return self.weight if mask is None else self.weight * mask

    def quantized_weight(self):
        """(integer weight, scale): the integers are what the device stores. The scale is chosen
        on the masked weight and round(0 / s) = 0, so pruned weights stay exactly zero."""
        w = self.masked_weight()
        s = weight_scale(w, self.weight_bits, self.per_channel)
        return quantize_weight(w, s, self.weight_bits), s

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

    Calibration records the min/max over the calibration data (on float activations); with
    ``keep_samples`` it also keeps a fixed-size random sample of the values, from which
    :meth:`fit_range_mse` then picks the clipped range with the least quantization error (at
    4 bits a few outliers stretch a min/max range so far that most values share a handful of
    codes). During
    training the range then either follows an exponential moving average of batch ranges
    (``learn_range=False``) or is learned by gradient descent through the straight-through
    estimator (``learn_range=True``, as in LSQ/PACT: worth most at 4 bits). In eval mode it is
    frozen. Zero is always exactly representable, so zero padding and ReLU stay exact.
    """

    def __init__(self, bits: int, momentum: float = 0.01, learn_range: bool = False):
        super().__init__()
        self.bits, self.momentum, self.learn_range = bits, momentum, learn_range
        self.range = nn.Parameter(torch.zeros(2), requires_grad=learn_range)   # [min, max]
        self.register_buffer("initialized", torch.tensor(False))
        self.calibrating = False
        self.keep_samples = 0          # values kept per calibration batch for fit_range_mse
        self.samples: list[torch.Tensor] = []

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        lo, hi = reduce_range(x.min().float(), x.max().float())     # identical on every rank
        if self.calibrating and self.keep_samples:
            flat = x.detach().float().reshape(-1)
            if len(flat) > self.keep_samples:
                gen = torch.Generator().manual_seed(len(self.samples))   # the same sample on every run
                flat = flat[torch.randint(len(flat), (self.keep_samples,), generator=gen)]
            self.samples.append(flat)
        if not bool(self.initialized):
            self.range.copy_(torch.stack([lo, hi]))
            self.initialized.fill_(True)
        elif self.calibrating:
            self.range.copy_(torch.stack([torch.minimum(self.range[0], lo), torch.maximum(self.range[1], hi)]))
        elif not self.learn_range:
            self.range.lerp_(torch.stack([lo, hi]), self.momentum)

    @torch.no_grad()
    def fit_range_mse(self, steps: int = 40) -> None:
        """Shrink the calibrated range to the one of ``steps`` candidates (the range scaled by
        1/steps .. 1) whose fake quantization of the kept samples has the least squared error;
        the samples are then dropped."""
        if not self.samples or not bool(self.initialized):
            self.samples = []
            return
        x = torch.cat(self.samples)
        self.samples = []
        qmax = (1 << self.bits) - 1
        lo0, hi0 = min(float(self.range[0]), 0.0), max(float(self.range[1]), 0.0)
        best, best_range = None, (lo0, hi0)
        for k in range(1, steps + 1):
            lo, hi = lo0 * k / steps, hi0 * k / steps
            scale = (hi - lo) / qmax
            if not scale > 1e-12:
                continue
            zp = int(min(max(round(-lo / scale), 0), qmax))
            err = float(((fake_quantize_activation(x, scale, zp, self.bits) - x) ** 2).sum())
            if best is None or err < best:
                best, best_range = err, (lo, hi)
        self.range.copy_(torch.tensor(best_range, dtype=self.range.dtype))

    def qparams(self) -> tuple[float, int]:
        """(scale, zero point) from the range, widened to include zero."""
        lo = min(float(self.range[0].detach()), 0.0)
        hi = max(float(self.range[1].detach()), 0.0)
        qmax = (1 << self.bits) - 1
        scale = (hi - lo) / qmax
        if not scale > 1e-12:          # never observed anything but zeros
            return 1.0, 0
        zp = int(min(max(round(-lo / scale), 0), qmax))
        return float(scale), zp

    def forward(self, x):
        if self.calibrating or (self.training and not bool(self.initialized)) or \
                (self.training and not self.learn_range):
            self.observe(x)
        if self.calibrating:
            return x
        if self.training and self.learn_range:
            return self._learned_fake_quant(x)
        return self.apply_quant(x)

    def _learned_fake_quant(self, x):
        qmax = (1 << self.bits) - 1
        lo = torch.clamp(self.range[0], max=0.0)
        hi = torch.clamp(self.range[1], min=0.0)
        scale = torch.clamp((hi - lo) / qmax, min=1e-8)
        zp = torch.clamp(round_ste(-lo / scale), 0, qmax)
        q = torch.clamp(round_ste(x / scale) + zp, 0, qmax)
        return (q - zp) * scale

    def apply_quant(self, x):
        scale, zp = self.qparams()
        return fake_quantize_activation(x, scale, zp, self.bits)

    def extra_repr(self):
        lo, hi = (float(v) for v in self.range.detach())
        return (f"bits={self.bits}, range=[{lo:.4g}, {hi:.4g}]"
                + (", learned" if self.learn_range else ""))
