"""Randomly generated models for the C++ parity tests: random op sequences (incl. residual adds,
depthwise convs, pads, pools, dilation and strides), odd channel counts and spatial sizes, and
random per-layer bit widths and granularities."""
from __future__ import annotations

import random

import torch
import torch.nn as nn


class RandomNet(nn.Module):
    def __init__(self, kinds, blocks):
        super().__init__()
        self.kinds = list(kinds)
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for kind, block in zip(self.kinds, self.blocks):
            if kind == "res":
                x = x + block(x)
            elif kind == "res_relu":
                x = torch.relu(block(x) + x)
            else:
                x = block(x)
        return x


def _randomize(model, rng: random.Random):
    g = torch.Generator().manual_seed(rng.randrange(1 << 30))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.2)
    return model.eval()


def _act(rng):
    return rng.choice([[nn.ReLU()], [nn.ReLU6()], []])


def random_cnn(seed: int):
    """(model, input_shape, config) for a random CNN."""
    rng = random.Random(seed)
    c = rng.randint(1, 4)
    h, w = rng.randint(6, 13), rng.randint(6, 13)
    input_shape = (1, c, h, w)
    kinds, blocks = [], []
    for _ in range(rng.randint(2, 5)):
        choice = rng.choice(["conv", "conv", "dw", "res", "pool", "avgpool", "pad", "relu_after_pool"])
        if choice == "conv":
            k = rng.choice([k for k in (1, 3, 5) if k <= min(h, w)])
            d = rng.choice([1, 2]) if (k - 1) * 2 + 1 <= min(h, w) and k > 1 else 1
            s = rng.choice([1, 1, 2])
            p = rng.randint(0, k // 2 * d)
            oc = rng.randint(1, 9)
            layers = [nn.Conv2d(c, oc, k, stride=s, padding=p, dilation=d, bias=rng.random() < 0.7)]
            layers += [nn.BatchNorm2d(oc)] if rng.random() < 0.5 else []
            layers += _act(rng)
            h = (h + 2 * p - d * (k - 1) - 1) // s + 1
            w = (w + 2 * p - d * (k - 1) - 1) // s + 1
            c = oc
            kinds.append("seq")
            blocks.append(nn.Sequential(*layers))
        elif choice == "dw":
            layers = [nn.Conv2d(c, c, 3, padding=1, groups=c)] + ([nn.BatchNorm2d(c)] if rng.random() < 0.5 else [])
            kinds.append("seq")
            blocks.append(nn.Sequential(*layers, *_act(rng)))
        elif choice == "res":
            inner = [nn.Conv2d(c, c, 3, padding=1)] + ([nn.BatchNorm2d(c)] if rng.random() < 0.5 else [])
            kinds.append(rng.choice(["res", "res_relu"]))
            blocks.append(nn.Sequential(*inner))
        elif choice in ("pool", "relu_after_pool") and min(h, w) >= 3:
            if rng.random() < 0.5:
                layers, h, w = [nn.MaxPool2d(2)], h // 2, w // 2
            else:
                layers, h, w = [nn.MaxPool2d(3, stride=2, padding=1)], (h - 1) // 2 + 1, (w - 1) // 2 + 1
            if choice == "relu_after_pool":
                layers.append(nn.ReLU())
            kinds.append("seq")
            blocks.append(nn.Sequential(*layers))
        elif choice == "avgpool" and min(h, w) >= 3:
            if rng.random() < 0.5:
                layers, h, w = [nn.AvgPool2d(2)], h // 2, w // 2
            else:
                layers = [nn.AvgPool2d(3, stride=1, padding=1)]
            kinds.append("seq")
            blocks.append(nn.Sequential(*layers))
        elif choice == "pad":
            t, b, l, r = (rng.randint(0, 2) for _ in range(4))
            pad = nn.ZeroPad2d((l, r, t, b)) if rng.random() < 0.5 else nn.ConstantPad2d((l, r, t, b), 0.25)
            h, w = h + t + b, w + l + r
            kinds.append("seq")
            with_conv = rng.random() < 0.5 and min(h, w) >= 3
            blocks.append(nn.Sequential(pad, nn.Conv2d(c, c, 3)) if with_conv else nn.Sequential(pad))
            if len(blocks[-1]) == 2:
                h, w = h - 2, w - 2
        if min(h, w) < 1:
            raise AssertionError("generator bug: empty spatial size")
    n_out = rng.randint(2, 11)
    if rng.random() < 0.5:
        head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, n_out)]
    else:
        hidden = rng.randint(3, 17)
        head = [nn.Flatten(), nn.Linear(c * h * w, hidden), *_act(rng), nn.Linear(hidden, n_out)]
    kinds.append("seq")
    blocks.append(nn.Sequential(*head))
    model = _randomize(RandomNet(kinds, blocks), rng)
    return model, input_shape, random_config(rng, model)


def random_conv_pool(seed: int):
    """(model, input_shape, config) for a LeNet-like CNN: one or two stride-1 convs each followed
    by a 2x2 max pool (the shape of the M4's plane kernel, kernels/arm/conv2d_dsp.h), then a
    linear head; kernel sizes 3 and 5, padding, odd sizes, bit widths 8 and 4 (some 2)."""
    rng = random.Random(seed)
    c = rng.randint(1, 3)
    h, w = rng.randint(8, 15), rng.randint(8, 15)
    input_shape = (1, c, h, w)
    layers = []
    for i in range(rng.randint(1, 2)):
        k = (3, 5)[seed % 2] if i == 0 else rng.choice([k for k in (3, 5) if k <= min(h, w) - 1])
        p = rng.randint(0, k // 2)
        oc = rng.randint(1, 7)
        layers += [nn.Conv2d(c, oc, k, padding=p, bias=rng.random() < 0.7)]
        layers += [nn.BatchNorm2d(oc)] if rng.random() < 0.5 else []
        layers += _act(rng) + [nn.MaxPool2d(2)]
        c, h, w = oc, (h + 2 * p - k + 1) // 2, (w + 2 * p - k + 1) // 2
        if min(h, w) < 4:
            break
    layers += [nn.Flatten(), nn.Linear(c * h * w, rng.randint(2, 11))]
    model = _randomize(nn.Sequential(*layers), rng)
    cfg = random_config(rng, model)
    for spec in cfg["quantize"]["layers"].values():   # mostly the widths the DSP kernels take
        spec["bitwidth"] = rng.choice([8, 8, 4, 4, 2])
        spec["activation_bitwidth"] = (8, 4)[seed // 2 % 2]
    cfg["quantize"]["bitwidth"] = rng.choice([8, 4])
    cfg["quantize"]["activation_bitwidth"] = (8, 4)[seed // 2 % 2]
    return model, input_shape, cfg


def random_mlp(seed: int):
    rng = random.Random(seed)
    f = rng.randint(1, 12)
    layers, width = [], f
    for _ in range(rng.randint(1, 3)):
        nxt = rng.randint(2, 20)
        layers += [nn.Linear(width, nxt)] + ([nn.BatchNorm1d(nxt)] if rng.random() < 0.3 else []) + _act(rng)
        width = nxt
    layers.append(nn.Linear(width, rng.randint(1, 6)))
    model = _randomize(nn.Sequential(*layers), rng)
    return model, (1, f), random_config(rng, model)


def random_config(rng: random.Random, model) -> dict:
    n_conv = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    n_lin = sum(isinstance(m, nn.Linear) for m in model.modules())
    names = [f"conv2d_{i}" for i in range(n_conv)] + [f"linear_{i}" for i in range(n_lin)]
    layers = {}
    for n in names:
        if rng.random() < 0.7:
            layers[n] = {"bitwidth": rng.choice([8, 4, 2]),
                         "granularity": rng.choice(["per_tensor", "per_channel"]),
                         "activation_bitwidth": rng.choice([8, 4])}
    return {"quantize": {"scheme": "static", "bitwidth": rng.choice([8, 4, 2]),
                         "granularity": rng.choice(["per_tensor", "per_channel"]),
                         "activation_bitwidth": rng.choice([8, 4]), "input_bitwidth": rng.choice([8, 4]),
                         "layers": layers}}


# -- the ops of the MicroSign-Edge blocks ---------------------------------------------------------

class RandomSE(nn.Module):
    """Squeeze-excitation with (possibly grouped) 1x1 convs and a hard-sigmoid gate; the product
    is written gate * x or x * gate."""

    def __init__(self, c, reduced, groups, gate_first, functional_gate):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(c, reduced, 1, groups=groups)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(reduced, c, 1, groups=groups)
        self.gate = nn.Identity() if functional_gate else nn.Hardsigmoid()
        self.gate_first, self.functional_gate = gate_first, functional_gate

    def forward(self, x):
        s = self.expand(self.act(self.reduce(self.pool(x))))
        s = torch.nn.functional.hardsigmoid(s) if self.functional_gate else self.gate(s)
        return s * x if self.gate_first else x * s


class HardSwishFn(nn.Module):
    def forward(self, x):
        return torch.nn.functional.hardswish(x)


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def random_edge_cnn(seed: int):
    """(model, input_shape, config) for a random CNN of channel shifts, grouped convs, squeeze-
    excitation (global pool, grouped 1x1, hard-sigmoid, channel multiply) and hard-swish."""
    from dmc.compression.layers import ChannelShift
    rng = random.Random(seed)
    c = rng.randint(2, 8)
    h, w = rng.randint(3, 9), rng.randint(3, 9)
    input_shape = (1, c, h, w)
    kinds, blocks = [], []
    for _ in range(rng.randint(3, 6)):
        choice = rng.choice(["shift", "gconv", "se", "hswish", "hsig", "dw_res"])
        if choice == "shift":
            left = c
            groups = []
            for _ in range(4):
                groups.append(rng.randint(0, left))
                left -= groups[-1]
            kinds.append("seq")
            blocks.append(ChannelShift(c, groups))
        elif choice == "gconv":
            g = rng.choice([d for d in _divisors(c) if d > 1] or [1])
            oc = g * rng.randint(1, 4)
            k = rng.choice([1, 3]) if min(h, w) >= 3 else 1
            layers = [nn.Conv2d(c, oc, k, padding=k // 2 * rng.randint(0, 1), groups=g, bias=rng.random() < 0.5)]
            if layers[0].padding[0] == 0:
                h, w = h - k + 1, w - k + 1
            layers += [nn.BatchNorm2d(oc)] if rng.random() < 0.5 else []
            layers += rng.choice([[nn.ReLU()], [nn.Hardswish()], []])
            c = oc
            kinds.append("seq")
            blocks.append(nn.Sequential(*layers))
        elif choice == "se":
            g = rng.choice(_divisors(c))
            kinds.append("seq")
            blocks.append(RandomSE(c, g * rng.randint(1, 3), g, rng.random() < 0.5, rng.random() < 0.5))
        elif choice == "hswish":
            kinds.append("seq")
            blocks.append(rng.choice([nn.Hardswish(), HardSwishFn()]))
        elif choice == "hsig":
            kinds.append("seq")
            blocks.append(nn.Hardsigmoid())
        else:
            kinds.append(rng.choice(["res", "res_relu"]))
            blocks.append(nn.Sequential(ChannelShift.for_channels(c), nn.Conv2d(c, c, 3, padding=1, groups=c),
                                        nn.BatchNorm2d(c)))
    n_out = rng.randint(2, 7)
    head = ([nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, n_out)] if rng.random() < 0.5 else
            [nn.Flatten(), nn.Linear(c * h * w, n_out)])
    kinds.append("seq")
    blocks.append(nn.Sequential(*head))
    model = _randomize(RandomNet(kinds, blocks), rng)
    return model, input_shape, random_config(rng, model)


def random_edge_backbone(seed: int):
    """(model, input_shape, config): a MicroSign-Edge variant with random width, input and trained-
    looking BatchNorm statistics, reparameterized for deployment."""
    from dmc.zoo import edge_micro, edge_nano, edge_small, reparameterize
    rng = random.Random(seed)
    build = [edge_nano, edge_micro, edge_small][seed % 3]
    c, size = rng.choice([(1, 12), (3, 10), (2, 9)])
    model = build(in_channels=c, input_size=size, num_classes=rng.randint(2, 10), width=rng.choice([0.25, 0.5]),
                  act=rng.choice(["relu", "hardswish"]))
    model = reparameterize(_randomize(model, rng))
    return model, (1, c, size, size), random_config(rng, model)


# -- 1x1 convs (the kernels' pointwise loop) -------------------------------------------------------

# (in_c, out_c, height, width, weight bits, input bits, output bits): odd and even planes (4-bit
# columns whose nibble flips per channel), one pixel, and channel counts that cross the int16
# chunks of every weight x input width (16 at 4x8, 17 at 8x4, 64 at 2x8, 1 at 8x8)
POINTWISE_CASES = [(40, 5, 7, 7, 4, 4, 4), (20, 6, 3, 5, 8, 4, 4), (33, 3, 4, 4, 4, 8, 8), (7, 4, 1, 1, 8, 8, 8),
                   (18, 5, 5, 3, 8, 4, 8), (65, 3, 3, 3, 2, 8, 4), (9, 7, 2, 3, 2, 4, 4), (76, 4, 4, 4, 4, 4, 4),
                   (3, 2, 5, 5, 8, 8, 4)]


def pointwise_model(i: int, case):
    """(model, input_shape, config): a 1x1 conv, stride 1, no padding, then a linear head that
    reads its output (so it stays CHW in every plan)."""
    c, oc, h, w, wb, ib, ob = case
    g = torch.Generator().manual_seed(300 + i)
    net = nn.Sequential(nn.Conv2d(c, oc, 1, bias=i % 2 == 0), nn.BatchNorm2d(oc), nn.ReLU(), nn.Flatten(),
                        nn.Linear(oc * h * w, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    _randomize(net, random.Random(i))
    cfg = {"quantize": {"scheme": "static", "bitwidth": 8, "granularity": ("per_channel", "per_tensor")[i % 2],
                        "activation_bitwidth": 8, "input_bitwidth": ib,
                        "layers": {"conv2d_0": {"bitwidth": wb, "activation_bitwidth": ob}}}}
    return net, (1, c, h, w), cfg


def pointwise_models():
    """The 1x1-conv cases (model_zoo.POINTWISE_CASES), quantized; each conv is a plain-layout
    1x1, stride 1, unpadded step: the runtime's pointwise loop."""
    import dmc
    from dmc.core.planner import plan
    models = []
    for i, case in enumerate(POINTWISE_CASES):
        net, shape, cfg = pointwise_model(i, case)
        cal = torch.randn((64,) + shape[1:], generator=torch.Generator().manual_seed(i)) * 1.5
        qm = dmc.convert(dmc.compress(net, cfg, shape, calibration_data=cal))
        st = plan(qm, "never").steps[0]
        a = st.op["attrs"]
        assert (st.kernel, a["weight_shape"][2:], list(a["stride"]), any(a["padding"])) == ("conv2d", [1, 1], [1, 1], False)
        assert (a["weight_bits"], qm.tensors[st.inputs[0]]["bits"], qm.tensors[st.output]["bits"]) == case[4:], case
        models.append(qm)
    return models
