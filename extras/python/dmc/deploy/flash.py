"""Flash estimate of an AVR firmware: the model's constants plus every kernel instantiation its
generated code makes, priced with code sizes measured with avr-gcc 5.4 -Os.

Each kernel is a template per bit width (and, for the AVR conv loops, per kernel width), so a
model's kernel code is the sum over the distinct instantiations its ``NAME_predict()`` calls,
not one fixed runtime size: a LeNet-5 takes about 7 KB of kernels, the Uno-scaled edge_nano
(eleven op kinds, 4-bit packing) about 15 KB. The sizes below come from firmwares built for the
simulated Uno (serial-runner sketch): the estimate of each was within 4% of the linked size.
"""
from __future__ import annotations

import re

from ..core.intmodel import IntModel
from ..core.planner import plan
from .codegen import generate

# Arduino core, serial runner, requantization helper and the C runtime: what a serial-runner
# sketch links besides the model's arrays and kernels (measured: 2.8 KB).
AVR_BASE_BYTES = 2800
# Per step: its argument struct in flash and its call in NAME_predict() (measured: 40-50 B).
AVR_STEP_BYTES = 45

# Bytes of one instantiation, by kernel and the bit widths that change its code. The AVR conv
# loops ("conv2d_fast": conv2d / depthwise_conv2d with KW > 0) are keyed by (weight bits, input
# bits, KW > 3); the rest by whether a 4-bit operand is unpacked. Measured on avr-gcc 5.4.
_FAST_CONV = {(8, 8, False): 3050, (8, 8, True): 3120, (8, 4, False): 3450, (8, 4, True): 3710,
              (4, 8, False): 3700, (4, 8, True): 4700, (4, 4, False): 4130, (4, 4, True): 6640}
# The pair loops (PAIRS = true: two windows per weight load, fused 2x2 pool), by (weight bits,
# input bits); they include their padded-edge and gather helpers (measured on LeNet-5 Tiny, Ultra
# and the sparse LeNet-5's firmwares).
_PAIR_CONV = {(8, 8): 5000, (8, 4): 5400, (4, 8): 6350, (4, 4): 8350}
# kUnpadded (no padding): the edge loops are left out and one portable window loop stands in
# for them (measured: LeNet-5 Tiny's second conv, 3.65 KB; about 1.4 KB less elsewhere).
_PAIR_CONV_UNPADDED = {(8, 4): 3650}
_UNPADDED_SAVING = 1400
# kGroupCut (one input channel, padded): the general padded pair loop is left out (measured: 1 KB).
_GROUP_CUT_SAVING = 1000
# A second instantiation of the AVR conv loops that differs only in LAYOUT (interleaved rows, a
# conv over its input) shares the inner loops: it adds one conv2d_outputs (measured: 1.4 KB).
_LAYOUT_VARIANT = 1400
# ... unless they differ in what edge code they leave out (kUnpadded / kGroupCut): then their
# outer loops and edge helpers differ too (measured on LeNet-5 Ultra with 8-bit input: 3.8 KB).
_EDGE_VARIANT = 3800
_EDGE_BITS = 8 | 16
# The portable conv2d (KW 0, CHW in and out) also holds the pointwise loop of 1x1 convs
# (kernels/conv2d.h pointwise_outputs; measured on the Uno-scaled edge_nano, 4-bit weights and
# activations: 1.15 KB with its dispatch).
_POINTWISE_LOOP = 1150
_WEIGHT_KEYED = ("conv2d", "depthwise_conv2d", "linear")   # their size follows the weight bits alone
_PLAIN = {  # kernel: (bytes with 8-bit operands only, bytes with a 4-bit operand)
    "conv2d": (1950, 2440), "depthwise_conv2d": (1950, 2440), "grouped_conv2d": (1500, 1880),
    "linear": (1290, 1330), "sparse_conv2d": (6300, 6300), "sparse_linear": (500, 500),
    "max_pool2d": (350, 450), "avg_pool2d": (350, 450), "global_avg_pool": (300, 360),
    "add": (350, 470), "clamp": (120, 200), "pad": (250, 350), "channel_shift": (600, 800),
    "hard_sigmoid": (400, 520), "hard_swish": (400, 520), "channel_mul": (350, 450),
}
_CALL = re.compile(r"dmc::(\w+)<([0-9A-Za-z_:|, ]+)>\(")
# the conv's LAYOUT template argument (src/dmc/kernels/conv2d.h: ConvLayout), written as a set of bits
_LAYOUT_BITS = {"dmc::kInterleavedIn": 1, "dmc::kInterleavedOut": 2, "dmc::kOverlapping": 4, "dmc::kUnpadded": 8,
                "dmc::kGroupCut": 16}


def _template_value(v: str) -> int:
    v = v.strip()
    if v in ("true", "false"):
        return int(v == "true")
    if v.startswith("dmc::"):
        return sum(_LAYOUT_BITS[b.strip()] for b in v.split("|"))
    return int(v)


def kernel_instantiations(model: IntModel) -> list[tuple[str, tuple[int, ...]]]:
    """The distinct (kernel, template arguments) the generated code of ``model`` calls, in order."""
    seen: dict[tuple, None] = {}
    for name, args in _CALL.findall(generate(model, "model")["model.cpp"]):
        seen[(name, tuple(_template_value(v) for v in args.split(",")))] = None
    return list(seen)


def instantiation_bytes(kernel: str, args: tuple[int, ...]) -> int:
    """Estimated AVR flash of one kernel instantiation (see the module docstring)."""
    if kernel in ("conv2d", "depthwise_conv2d") and len(args) >= 5 and args[3] > 0 and args[4]:
        padded = _PAIR_CONV.get(args[:2], max(_PAIR_CONV.values()))
        if len(args) >= 6 and args[5] & _LAYOUT_BITS["dmc::kUnpadded"]:
            return _PAIR_CONV_UNPADDED.get(args[:2], padded - _UNPADDED_SAVING)
        if len(args) >= 6 and args[5] & _LAYOUT_BITS["dmc::kGroupCut"]:
            return padded - _GROUP_CUT_SAVING
        return padded
    if kernel in ("conv2d", "depthwise_conv2d") and len(args) >= 4 and args[3] > 0:
        wb, ib, _, kw = args[:4]
        return _FAST_CONV.get((wb, ib, kw > 3), max(_FAST_CONV.values()))
    small, packed = _PLAIN.get(kernel, (max(v[1] for v in _PLAIN.values()),) * 2)
    size = packed if any(b < 8 for b in (args[:1] if kernel in _WEIGHT_KEYED else args[:3])) else small
    if kernel == "conv2d" and (len(args) < 6 or args[5] == 0):
        size += _POINTWISE_LOOP
    return size


def avr_flash_estimate(model: IntModel) -> dict:
    """{"model": constants, "steps": argument structs and calls, "kernels": [(call, bytes)],
    "base": core and runner, "total": the sum} in bytes, for a serial-runner-sized sketch."""
    kernels, loops = [], set()
    for k, a in kernel_instantiations(model):
        fast = k in ("conv2d", "depthwise_conv2d") and len(a) >= 4 and a[3] > 0
        edges = a[5] & _EDGE_BITS if len(a) >= 6 else 0
        if fast and (k, a[:5], edges) in loops:
            size = _LAYOUT_VARIANT
        elif fast and any(key[:2] == (k, a[:5]) for key in loops):
            size = _EDGE_VARIANT
        else:
            size = instantiation_bytes(k, a)
        loops.update([(k, a[:5], edges)] if fast else [])
        kernels.append((f"{k}<{', '.join(map(str, a))}>", size))
    steps = AVR_STEP_BYTES * len(plan(model).steps)
    total = model.model_bytes + steps + sum(b for _, b in kernels) + AVR_BASE_BYTES
    return {"model": model.model_bytes, "steps": steps, "kernels": kernels, "base": AVR_BASE_BYTES, "total": total}
