"""MicroSign-Edge backbones (edge_nano, edge_micro, edge_small) built from RSD blocks, their
reparameterization for deployment, and channel scaling to an SRAM budget.

An RSD (reparam shift depthwise) block, in its training form::

    x -> [1x1 expansion + BN + act]            (when expansion > 1)
      -> shift-mix                             (channel groups moved up/left/down/right, no FLOPs)
      -> depthwise 3x3 + BN  (+ BN(identity))  (the identity branch when the stride is 1) -> act
      -> grouped squeeze-excitation            (gap -> grouped 1x1 + BN + ReLU -> grouped 1x1 + BN
                                                -> hard-sigmoid gate, times the features)
      -> 1x1 projection + BN                   (+ x when stride 1 and the channels agree)

:func:`reparameterize` folds every BatchNorm and the identity branch away, leaving one
depthwise and one pointwise path per block: the form that :func:`dmc.compress` deploys. With
``sram_budget`` the builders shrink per-stage channels until the arena our planner computes
for the deployed integer model (not an estimate) fits the budget.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from ..compression.layers import ChannelShift
from ..compression.training import TrainableMixin
from ..errors import ConfigError

# Base widths per variant: the stem (channels, downsampling), then per stage (channels, stride,
# expansion, blocks). The stem is a 3x3 conv at full resolution; a downsampling of 2 is a 2x2 max
# pool after it, which the runtime fuses into the conv (the full-resolution map never exists in
# SRAM). Against a stride-2 stem it costs 4x the stem's MACs and buys 2-3 points of Fashion-MNIST
# accuracy for edge_nano at the same arena (the stride-2 conv sees a quarter of the pixels).
VARIANTS = {
    "edge_nano": {"stem": (12, 2), "stages": [(16, 2, 1, 1), (24, 1, 2, 1), (40, 2, 2, 1), (40, 1, 2, 1)],
                  "act": "relu"},
    "edge_micro": {"stem": (16, 2), "stages": [(24, 1, 2, 1), (32, 2, 2, 2), (64, 2, 2, 2)], "act": "relu"},
    "edge_small": {"stem": (24, 2), "stages": [(32, 1, 2, 1), (64, 2, 3, 2), (128, 2, 3, 2)], "act": "hardswish"},
}

# The deployment recipe the SRAM budget is measured with unless the caller passes another:
# 8-bit per-channel weights (flash is rarely the limit), 4-bit activations, 8-bit input, and a
# memory plan without convs written over their input (each layout that brings is an AVR kernel
# instantiation of its own: five more 1x1-conv copies would not fit an Uno's flash beside the
# weights; the plan packs the blocks' buffers within the bytes alive at once anyway).
EDGE_DEPLOY = {"quantize": {"scheme": "static", "bitwidth": 8, "granularity": "per_channel",
                            "activation_bitwidth": 4, "input_bitwidth": 8}, "overlap": "never"}

MIN_CHANNELS = 4


def deploy_recipe(model: nn.Module, pointwise_bits: int = 4, base: dict | None = None) -> dict:
    """The deployment config of a (reparameterized) backbone: ``base`` (default
    :data:`EDGE_DEPLOY`) with the 1x1 convs (expansion, projection and the grouped
    squeeze-excitation ones), which hold most of the weights, at ``pointwise_bits`` and the
    classifier's output (the logits) at 8-bit activations. With 4 the Uno-scaled edge_nano fits
    the Uno's flash beside the kernels."""
    layers = {name: {"bitwidth": pointwise_bits} for name, m in model.named_modules()
              if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)}
    # the logits at 8 bits: 16 levels would tie the top two classes on many images (10 bytes of
    # SRAM, and the one linear kernel stays one instantiation)
    heads = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if heads:
        layers[heads[-1]] = {"activation_bitwidth": 8}
    base = base or EDGE_DEPLOY
    q = dict(base["quantize"])
    q["layers"] = dict(q.get("layers", {}), **layers)
    return dict(base, quantize=q)


def _act(kind: str) -> nn.Module:
    if kind == "relu":
        return nn.ReLU()
    if kind == "hardswish":
        return nn.Hardswish()
    raise ConfigError(f"act must be 'relu' or 'hardswish', got {kind!r}")


def _se_groups(channels: int, want: int) -> int:
    """The largest group count <= want that divides the channels (1 when none does)."""
    for g in range(min(want, channels), 0, -1):
        if channels % g == 0:
            return g
    return 1


class GroupedSE(nn.Module):
    """Squeeze-excitation with grouped 1x1 convolutions and a hard-sigmoid gate."""

    def __init__(self, channels: int, ratio: float = 0.25, groups: int = 2):
        super().__init__()
        g = _se_groups(channels, groups)
        reduced = max(g, int(round(channels * ratio / g)) * g)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, reduced, 1, groups=g, bias=False)
        self.reduce_bn = nn.BatchNorm2d(reduced)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(reduced, channels, 1, groups=g, bias=False)
        self.expand_bn = nn.BatchNorm2d(channels)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        s = self.act(self.reduce_bn(self.reduce(self.pool(x))))
        return x * self.gate(self.expand_bn(self.expand(s)))


class RSDBlock(nn.Module):
    """Reparam shift depthwise block (see the module docstring)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, expansion: int = 1, act: str = "relu",
                 se_ratio: float = 0.25, se_groups: int = 2):
        super().__init__()
        mid = cin * expansion
        self.expand = nn.Conv2d(cin, mid, 1, bias=False) if expansion != 1 else None
        self.expand_bn = nn.BatchNorm2d(mid) if expansion != 1 else None
        self.expand_act = _act(act) if expansion != 1 else None
        self.shift = ChannelShift.for_channels(mid)
        self.dw = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=mid, bias=False)
        self.dw_bn = nn.BatchNorm2d(mid)
        self.id_bn = nn.BatchNorm2d(mid) if stride == 1 else None
        self.dw_act = _act(act)
        self.se = GroupedSE(mid, se_ratio, se_groups)
        self.project = nn.Conv2d(mid, cout, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = x
        if self.expand is not None:
            y = self.expand_act(self.expand_bn(self.expand(y)))
        y = self.shift(y)
        z = self.dw_bn(self.dw(y))
        if self.id_bn is not None:
            z = z + self.id_bn(y)
        y = self.se(self.dw_act(z))
        y = self.project_bn(self.project(y))
        return y + x if self.residual else y


class MicroSignEdge(TrainableMixin, nn.Module):
    """A MicroSign-Edge backbone with its classifier. ``config`` rebuilds it exactly:
    ``build(**model.config)``."""

    def __init__(self, arch: str, in_channels: int, input_size: int, num_classes: int, channels: list[int],
                 act: str):
        super().__init__()
        spec = VARIANTS[arch]
        self.config = {"arch": arch, "in_channels": in_channels, "input_size": input_size,
                       "num_classes": num_classes, "channels": list(channels), "act": act}
        stem_c, stem_down = channels[0], spec["stem"][1]
        self.stem = nn.Conv2d(in_channels, stem_c, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(stem_c)
        self.stem_act = _act(act)
        self.stem_pool = nn.MaxPool2d(stem_down) if stem_down > 1 else nn.Identity()
        blocks, cin = [], stem_c
        for cout, (_, stride, expansion, repeats) in zip(channels[1:], spec["stages"]):
            for r in range(repeats):
                blocks.append(RSDBlock(cin, cout, stride if r == 0 else 1, expansion, act))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.stem_pool(self.stem_act(self.stem_bn(self.stem(x))))
        return self.classifier(self.flatten(self.pool(self.blocks(x))))


def _check(arch, in_channels, input_size, num_classes):
    for key, v in (("in_channels", in_channels), ("input_size", input_size), ("num_classes", num_classes)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{arch}: {key} must be a positive integer, got {v!r}")
    if input_size < 8:
        raise ConfigError(f"{arch}: input_size {input_size} is too small (at least 8 pixels)")


def build(arch: str, in_channels: int = 3, input_size: int = 32, num_classes: int = 10,
          sram_budget: int | None = None, width: float = 1.0, channels=None, act: str | None = None,
          deploy_config: dict | None = None) -> MicroSignEdge:
    """A MicroSign-Edge backbone by name.

    ``width`` scales the base channels; ``channels`` (stem + one per stage) sets them outright.
    ``sram_budget`` (bytes) shrinks them, stage by stage, until the deployed model's activation
    arena, as planned for the C++ runtime under ``deploy_config`` (default :data:`EDGE_DEPLOY`),
    fits; the chosen channels are in ``model.config["channels"]``.
    """
    if arch not in VARIANTS:
        raise ConfigError(f"unknown architecture '{arch}'; known: {', '.join(VARIANTS)}")
    _check(arch, in_channels, input_size, num_classes)
    spec = VARIANTS[arch]
    act = act or spec["act"]
    _act(act)
    n_stages = 1 + len(spec["stages"])
    if channels is None:
        if not (isinstance(width, (int, float)) and width > 0):
            raise ConfigError(f"{arch}: width must be a positive number, got {width!r}")
        base = [spec["stem"][0]] + [s[0] for s in spec["stages"]]
        channels = [max(MIN_CHANNELS, int(round(c * width / 2)) * 2) for c in base]
    channels = list(channels)
    if len(channels) != n_stages or not all(isinstance(c, int) and c >= 1 for c in channels):
        raise ConfigError(f"{arch}: channels must be {n_stages} positive integers (stem + "
                          f"{n_stages - 1} stages), got {channels}")
    if sram_budget is not None:
        from .budget_scaling import fit_channels
        channels = fit_channels(lambda ch: MicroSignEdge(arch, in_channels, input_size, num_classes, ch, act),
                                channels, (1, in_channels, input_size, input_size), sram_budget,
                                deploy_config or EDGE_DEPLOY, MIN_CHANNELS, prepare=reparameterize)
    return MicroSignEdge(arch, in_channels, input_size, num_classes, channels, act)


def edge_nano(in_channels: int = 3, input_size: int = 32, num_classes: int = 10, sram_budget: int | None = None,
              **kwargs) -> MicroSignEdge:
    """The smallest backbone (Arduino Uno class): a pooled stem and four one-block stages."""
    return build("edge_nano", in_channels, input_size, num_classes, sram_budget, **kwargs)


def edge_micro(in_channels: int = 3, input_size: int = 32, num_classes: int = 10, sram_budget: int | None = None,
               **kwargs) -> MicroSignEdge:
    """The middle backbone: five blocks in three stages, expansion 2."""
    return build("edge_micro", in_channels, input_size, num_classes, sram_budget, **kwargs)


def edge_small(in_channels: int = 3, input_size: int = 32, num_classes: int = 10, sram_budget: int | None = None,
               **kwargs) -> MicroSignEdge:
    """The largest backbone (Cortex-M class): a 24-channel pooled stem, five blocks, hard-swish."""
    return build("edge_small", in_channels, input_size, num_classes, sram_budget, **kwargs)


# -- reparameterization -------------------------------------------------------------------------

def _bn_affine(bn: nn.BatchNorm2d):
    """(scale, shift) of an eval-mode BatchNorm: bn(x) = scale * x + shift per channel."""
    std = torch.sqrt(bn.running_var + bn.eps)
    gamma = bn.weight if bn.weight is not None else torch.ones_like(std)
    beta = bn.bias if bn.bias is not None else torch.zeros_like(std)
    scale = gamma / std
    return scale, beta - bn.running_mean * scale


def _fuse(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A copy of ``conv`` with ``bn`` folded in (with a bias)."""
    scale, shift = _bn_affine(bn)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    fused.bias.copy_(bias * scale + shift)
    return fused


def _fuse_depthwise_identity(conv: nn.Conv2d, bn: nn.BatchNorm2d, id_bn: nn.BatchNorm2d | None) -> nn.Conv2d:
    """depthwise 3x3 + BN plus BN(identity) as one depthwise conv: the identity is the centre tap."""
    fused = _fuse(conv, bn)
    if id_bn is not None:
        scale, shift = _bn_affine(id_bn)
        kh, kw = conv.kernel_size
        fused.weight[:, 0, kh // 2, kw // 2] += scale
        fused.bias += shift
    return fused


@torch.no_grad()
def reparameterize(model: nn.Module, equalize: bool = True, calibration: torch.Tensor | None = None) -> nn.Module:
    """A deployment copy of ``model``: in every RSD block the depthwise conv, its BatchNorm and
    the identity branch become one depthwise conv, and every other conv + BatchNorm (stem,
    expansion, squeeze-excitation, projection) one conv with a bias. Outputs equal the training
    form's in eval mode (up to float rounding); the original is not modified.

    ``equalize`` also evens out the ranges of the channels that enter each depthwise conv
    (:func:`_equalize`), which per-tensor activation quantization needs: without it a trained
    edge_nano's stem channels span 0.2 to 8.7, and at 4-bit activations the narrow ones are
    rounded to nothing. The ranges are measured on ``calibration`` inputs when given (the 99.9th
    percentile of each channel), else estimated from the BatchNorm statistics."""
    deployed = copy.deepcopy(model).eval()
    pairs = []                                  # (producer conv, depthwise conv, estimated ranges)
    for m in deployed.modules():
        if isinstance(m, MicroSignEdge):
            ranges = _relu_ranges(m.stem_bn) if isinstance(m.stem_act, nn.ReLU) else None
            m.stem, m.stem_bn = _fuse(m.stem, m.stem_bn), nn.Identity()
            first = m.blocks[0] if len(m.blocks) else None
            if ranges is not None and first is not None and first.expand is None:
                pairs.append((m, "stem", first, ranges))
        elif isinstance(m, RSDBlock):
            ranges = None
            if m.expand is not None:
                ranges = _relu_ranges(m.expand_bn) if isinstance(m.expand_act, nn.ReLU) else None
                m.expand, m.expand_bn = _fuse(m.expand, m.expand_bn), nn.Identity()
            m.dw = _fuse_depthwise_identity(m.dw, m.dw_bn, m.id_bn)
            m.dw_bn, m.id_bn = nn.Identity(), None
            if ranges is not None:
                pairs.append((m, "expand", m, ranges))
            m.project, m.project_bn = _fuse(m.project, m.project_bn), nn.Identity()
        elif isinstance(m, GroupedSE):
            m.reduce, m.reduce_bn = _fuse(m.reduce, m.reduce_bn), nn.Identity()
            m.expand, m.expand_bn = _fuse(m.expand, m.expand_bn), nn.Identity()
    if equalize and pairs:
        measured = _measured_ranges(deployed, [block.dw for _, _, block, _ in pairs], calibration)
        for (owner, attr, block, ranges), seen in zip(pairs, measured):
            _equalize(getattr(owner, attr), block.dw, ranges if seen is None else seen)
    return deployed


def _measured_ranges(model: nn.Module, convs: list[nn.Conv2d], calibration) -> list:
    """Per conv, the 99.9th percentile of each input channel over ``calibration`` (None each
    when there is no calibration data)."""
    if calibration is None:
        return [None] * len(convs)
    seen: dict[int, torch.Tensor] = {}
    hooks = [c.register_forward_pre_hook(lambda mod, args, i=i: seen.__setitem__(i, args[0].detach()))
             for i, c in enumerate(convs)]
    try:
        model(torch.as_tensor(calibration, dtype=torch.float32))
    finally:
        for h in hooks:
            h.remove()
    out = []
    for i in range(len(convs)):
        x = seen[i].transpose(0, 1).reshape(seen[i].shape[1], -1)
        k = max(1, int(round(0.999 * x.shape[1])))
        out.append(x.kthvalue(k, dim=1).values.clamp_min(0))
    return out


def _relu_ranges(bn: nn.BatchNorm2d) -> torch.Tensor:
    """Per channel, the top of the range of ReLU(bn(x)) on the training data: the BatchNorm's
    output is distributed with mean beta and deviation |gamma| there, so beta + 3 |gamma|."""
    gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_mean)
    beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_mean)
    return (beta + 3 * gamma.abs()).clamp_min(0)


def _equalize(producer: nn.Conv2d, depthwise: nn.Conv2d, ranges: torch.Tensor, spread: float = 64.0) -> None:
    """Scale output channel i of ``producer`` by s_i and input channel i of ``depthwise`` by
    1 / s_i, s_i = max(ranges) / ranges_i (at most ``spread``: a channel that is almost always 0
    stays small), so that every channel reaches the same range. Exact in float: between them lie
    only ReLU, max pooling and the channel shift, which commute with a positive per-channel scale;
    each conv is quantized per output channel, so the scaled weights lose nothing."""
    top = float(ranges.max())
    if top <= 0:
        return
    s = top / ranges.clamp_min(top / spread)
    producer.weight.mul_(s.reshape(-1, 1, 1, 1))
    producer.bias.mul_(s)
    depthwise.weight.div_(s.reshape(-1, 1, 1, 1))
