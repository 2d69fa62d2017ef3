"""The memory plan at row grain (dmc.core.planner): a conv written over the input rows it has
consumed, interleaved-row layouts, the exact arena, and the named error of a model that cannot fit.

The distances are checked against an independent simulation of the kernel's reads and writes
(every tap, in the order of src/dmc/kernels/conv2d.h); the C++ parity of the plans is in
test_runtime.py (host) and test_avr_kernels.py (simulated AVR)."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

from dmc.core.packing import packed_size
from dmc.core.planner import CHW, HCW, ArenaTooLargeError, Step, check_arena, overlap_distance, plan, strides
from dmc.deploy.boards import get_board
from dmc.deploy.budget import check_fits
from dmc.errors import ConfigError


class Shapes:
    """What the planner reads of a model: ops, tensor shapes and bit widths."""
    scheme = "static"

    def __init__(self, ops, tensors, output):
        self.ops, self.tensors, self.output = ops, tensors, output

    def tensor_bytes(self, name):
        t = self.tensors[name]
        return packed_size(math.prod(t["shape"]), t["bits"])


def conv(name, inp, oc, k, stride=1, pad=0, dilation=1, depthwise=False, ic=1):
    return {"name": name, "op": "conv2d", "inputs": [inp],
            "attrs": {"weight_shape": [oc, 1 if depthwise else ic, k, k], "stride": [stride, stride],
                      "padding": [pad] * 4, "dilation": [dilation, dilation], "depthwise": depthwise, "groups": 1}}


def pool(name, inp, k=2, s=2):
    return {"name": name, "op": "maxpool2d", "inputs": [inp], "attrs": {"kernel": [k, k], "stride": [s, s],
                                                                          "padding": [0, 0]}}


def lenet5_ultra(input_bits):
    """LeNet-5 Ultra's deployed graph: 1x28x28 -> conv 5x5 pad 2 + pool -> 6x14x14 -> conv 5x5 +
    pool -> 7x5x5 -> linear 20 -> linear 10, 8-bit activations."""
    ops = [{"name": "x", "op": "input", "inputs": [], "attrs": {}},
           conv("c0", "x", 6, 5, pad=2), pool("p0", "c0"), conv("c1", "p0", 7, 5, ic=6), pool("p1", "c1"),
           {"name": "f", "op": "flatten", "inputs": ["p1"], "attrs": {}},
           {"name": "l0", "op": "linear", "inputs": ["f"], "attrs": {"weight_shape": [20, 175]}},
           {"name": "l1", "op": "linear", "inputs": ["l0"], "attrs": {"weight_shape": [10, 20]}}]
    shapes = {"x": [1, 28, 28], "c0": [6, 28, 28], "p0": [6, 14, 14], "c1": [7, 10, 10], "p1": [7, 5, 5],
              "f": [175], "l0": [20], "l1": [10]}
    tensors = {n: {"shape": s, "bits": input_bits if n == "x" else 8} for n, s in shapes.items()}
    return Shapes(ops, tensors, "l1")


def test_lenet5_ultra_arena_by_hand():
    """With an 8-bit input: before, input (784 B) and first pooled map (1176 B) side by side:
    1960 B. Now the map grows over the image: its pooled row py (84 B, HCW) ends at byte
    84 (py + 1) while the windows of that row start at image row 2 py - 2 (byte 28 (2 py - 2)),
    so an image placed 28 py + 140 <= 504 B above the map is never overwritten before it is read
    (a bound; the planner's exact distance is at most that): the image fits inside
    [504, 1288). The second conv's output (175 B) cannot share the first map's bytes (it reads
    them all) nor lie below them, so the arena is 1176 + 175 = 1351 B."""
    m = lenet5_ultra(8)
    assert plan(m, "never").arena_bytes == 784 + 1176
    p = plan(m)
    assert p.arena_bytes == 1351
    assert p.layout("p0") == HCW and p.layout("x") == CHW and p.layout("p1") == CHW
    c0 = p.steps[0]
    assert p.overlapping(c0) and 0 < c0.overlap <= 504
    assert p.offset("x") - p.offset("p0") >= c0.overlap and p.offset("p0") + 1176 > p.offset("x")
    # the 4-bit-input Ultra of today: 392 + 1176 = 1568 B before, the same 1351 B now
    assert plan(lenet5_ultra(4), "never").arena_bytes == 1568 and plan(lenet5_ultra(4)).arena_bytes == 1351


def simulate(model, step, in_layout, out_layout, distance):
    """Run a conv step's reads and writes in the kernel's order with the input `distance` bytes
    above the output; returns the (output index, input byte) pairs read after being overwritten."""
    a = step.op["attrs"]
    ib, ob = model.tensors[step.inputs[0]]["bits"], model.tensors[step.output]["bits"]
    ic, ih, iw = model.tensors[step.inputs[0]]["shape"]
    oc, oh, ow = model.tensors[step.output]["shape"]
    ics, irs = (ih * iw, iw) if in_layout == CHW else (iw, ic * iw)
    ocs, ors = (oh * ow, ow) if out_layout == CHW else (ow, oc * ow)
    pk, ps = (step.fused["attrs"]["kernel"][0], step.fused["attrs"]["stride"][0]) if step.fused else (1, 1)
    _, _, kh, kw = a["weight_shape"]
    written, bad = set(), []
    for py in range(oh):
        for o in range(oc):
            for px in range(ow):
                for dy in range(pk):
                    for dx in range(pk):
                        y0 = (py * ps + dy) * a["stride"][0] - a["padding"][0]
                        x0 = (px * ps + dx) * a["stride"][1] - a["padding"][2]
                        for c in ([o] if a["depthwise"] else range(ic)):
                            for ky in range(kh):
                                for kx in range(kw):
                                    y, x = y0 + ky * a["dilation"][0], x0 + kx * a["dilation"][1]
                                    if 0 <= y < ih and 0 <= x < iw:
                                        byte = distance + (c * ics + y * irs + x) * ib // 8
                                        if byte in written:
                                            bad.append(((o, py, px), byte))
                written.add((o * ocs + py * ors + px) * ob // 8)
    return bad


def random_conv(rng: random.Random):
    ic, h, w = rng.randint(1, 4), rng.randint(5, 12), rng.randint(5, 12)
    k = rng.choice([1, 3, 5])
    d = rng.choice([1, 2]) if k > 1 and 2 * (k - 1) + 1 <= min(h, w) else 1
    k = min(k, min(h, w))
    s, p = rng.choice([1, 1, 2]), rng.randint(0, k // 2 * d)
    depthwise = rng.random() < 0.25
    oc = ic if depthwise else rng.randint(1, 7)
    oh, ow = (h + 2 * p - d * (k - 1) - 1) // s + 1, (w + 2 * p - d * (k - 1) - 1) // s + 1
    op = conv("c", "x", oc, k, s, p, d, depthwise, ic)
    fused = pool("q", "c", *rng.choice([(2, 2), (3, 2), (2, 1)])) if min(oh, ow) >= 3 and rng.random() < 0.5 else None
    if fused:
        pk, ps = fused["attrs"]["kernel"][0], fused["attrs"]["stride"][0]
        oh, ow = (oh - pk) // ps + 1, (ow - pk) // ps + 1
    tensors = {"x": {"shape": [ic, h, w], "bits": rng.choice([8, 4])},
               ("q" if fused else "c"): {"shape": [oc, oh, ow], "bits": rng.choice([8, 4])}}
    step = Step("depthwise_conv2d" if depthwise else "conv2d", op, ["x"], "q" if fused else "c", fused=fused)
    return Shapes([], tensors, step.output), step


def test_overlap_distance_is_exact():
    """On 60 random convs (kernel 1/3/5, stride, dilation, padding, fused pools, depthwise,
    8/4-bit, every layout pair): at the planner's distance no input byte is read after an output
    byte landed on it; one byte closer, some is."""
    rng = random.Random(7)
    cases = 0
    for _ in range(60):
        model, step = random_conv(rng)
        for layouts in ((CHW, CHW), (CHW, HCW), (HCW, CHW), (HCW, HCW)):
            d = overlap_distance(model, step, *layouts)
            bad = simulate(model, step, *layouts, d)
            assert not bad, f"{step.op['attrs']} {model.tensors} {layouts}: distance {d} reads overwritten bytes {bad[:5]}"
            if d > 0:
                closer = simulate(model, step, *layouts, d - 1)
                assert closer, f"{step.op['attrs']} {model.tensors} {layouts}: distance {d} is not the smallest"
            cases += 1
    print(f"{cases} conv geometries and layouts: every distance safe and the smallest")


def test_plan_places_live_buffers_apart():
    """Every buffer pair alive in the same step is disjoint, except a conv's output over its
    input, which keeps at least the step's distance (random chains of convs and pools)."""
    rng = random.Random(3)
    overlapped = 0
    for trial in range(40):
        ops = [{"name": "x", "op": "input", "inputs": [], "attrs": {}}]
        c, h, w = rng.randint(1, 3), rng.randint(8, 20), rng.randint(8, 20)
        tensors = {"x": {"shape": [c, h, w], "bits": rng.choice([8, 4])}}
        prev = "x"
        for i in range(rng.randint(2, 4)):
            k = rng.choice([1, 3]) if min(h, w) >= 3 else 1
            oc = rng.randint(1, 6)
            op = conv(f"c{i}", prev, oc, k, pad=rng.randint(0, k // 2), ic=c)
            p = op["attrs"]["padding"][0]
            h, w, c = h + 2 * p - k + 1, w + 2 * p - k + 1, oc
            ops.append(op)
            tensors[op["name"]] = {"shape": [c, h, w], "bits": rng.choice([8, 4])}
            prev = op["name"]
            if min(h, w) >= 4 and rng.random() < 0.4:
                ops.append(pool(f"p{i}", prev))
                h, w = h // 2, w // 2
                tensors[f"p{i}"] = {"shape": [c, h, w], "bits": tensors[prev]["bits"]}
                prev = f"p{i}"
        model = Shapes(ops, tensors, prev)
        for mode in ("always", "auto"):
            p = plan(model, mode)
            assert p.arena_bytes == max(p.offsets[b] + p.sizes[b] for b in p.sizes)
            pairs = {(p.buffer_of[s.inputs[0]], p.buffer_of[s.output]): s.overlap for s in p.steps
                     if s.overlap is not None}
            for s_idx in range(-1, len(p.steps)):
                live = p.live_at(s_idx)
                for i, b in enumerate(live):
                    for o in live[i + 1:]:
                        lo_b, lo_o = p.offsets[b], p.offsets[o]
                        if lo_b + p.sizes[b] <= lo_o or lo_o + p.sizes[o] <= lo_b:
                            continue
                        src, dst = (b, o) if (b, o) in pairs else (o, b)
                        assert (src, dst) in pairs, f"trial {trial} {mode}: '{b}' and '{o}' overlap in step {s_idx}"
                        assert p.offsets[src] - p.offsets[dst] >= pairs[(src, dst)]
                        overlapped += 1
            assert p.arena_bytes <= plan(model, "never").arena_bytes or mode == "always"
    assert overlapped > 10
    print(f"40 random conv chains: {overlapped} overlapping placements, all within their distance")


def test_a_model_that_cannot_fit_gets_a_named_error():
    """An 8-bit 1x64x64 input and a 16x64x64 first map cannot fit an Uno even written over each
    other: the error names the step and the buffers alive there."""
    ops = [{"name": "x", "op": "input", "inputs": [], "attrs": {}}, conv("big", "x", 16, 3, pad=1),
           {"name": "gap", "op": "gap", "inputs": ["big"], "attrs": {}}]
    model = Shapes(ops, {"x": {"shape": [1, 64, 64], "bits": 8}, "big": {"shape": [16, 64, 64], "bits": 8},
                         "gap": {"shape": [16, 1, 1], "bits": 8}}, "gap")
    with pytest.raises(ArenaTooLargeError, match=r"needs \d+ B but only 1678 B .* at step 0 \(big, conv2d\): 'big' "
                                                 r"65536 B, 'x' 4096 B"):
        check_fits(model, get_board("uno"))
    check_fits(lenet5_ultra(8), get_board("uno"))            # fits: no error
    with pytest.raises(ArenaTooLargeError, match="only 1000 B"):
        check_arena(lenet5_ultra(8), plan(lenet5_ultra(8)), 1000, "ultra8")
    with pytest.raises(ConfigError, match="overlap must be one of"):
        plan(lenet5_ultra(8), "sometimes")


def test_strides():
    assert strides((6, 14, 14), CHW) == (196, 14) and strides((6, 14, 14), HCW) == (14, 84)
    assert np.array_equal(np.arange(6 * 14 * 14).reshape(14, 6, 14).transpose(1, 0, 2)[2, 3, 4], 3 * 84 + 2 * 14 + 4)


def block_chain(rng: random.Random):
    """A chain of RSD-like blocks on 4-bit maps: 1x1 expansion, in-place shift, depthwise 3x3
    (stride 1 or 2), a squeeze-excitation side branch (gap -> two 1x1 convs -> gate -> in-place
    multiply), 1x1 projection and, where shapes agree, a residual add: buffers of many sizes and
    lifetimes that outlive their neighbours."""
    def t(shape, bits=4):
        return {"shape": list(shape), "bits": bits}
    c, h = rng.randint(2, 6), rng.choice([8, 12, 14])
    ops = [{"name": "x", "op": "input", "inputs": [], "attrs": {}}, conv("stem", "x", c, 3, pad=1)]
    tensors = {"x": t((1, h, h), 8), "stem": t((c, h, h))}
    prev = "stem"
    for b in range(rng.randint(2, 4)):
        mid, cout, stride = c * rng.choice([1, 2]), rng.randint(2, 8), rng.choice([1, 2]) if h >= 6 else 1
        ho = (h + 2 - 3) // stride + 1
        names = {k: f"b{b}_{k}" for k in ("exp", "sh", "dw", "gap", "r", "e", "g", "mul", "proj", "add")}
        ops += [conv(names["exp"], prev, mid, 1, ic=c),
                {"name": names["sh"], "op": "shift", "inputs": [names["exp"]], "attrs": {}},
                conv(names["dw"], names["sh"], mid, 3, stride=stride, pad=1, depthwise=True),
                {"name": names["gap"], "op": "gap", "inputs": [names["dw"]], "attrs": {}},
                conv(names["r"], names["gap"], 2, 1, ic=mid), conv(names["e"], names["r"], mid, 1, ic=2),
                {"name": names["g"], "op": "hardsigmoid", "inputs": [names["e"]], "attrs": {}},
                {"name": names["mul"], "op": "mul", "inputs": [names["dw"], names["g"]], "attrs": {}},
                conv(names["proj"], names["mul"], cout, 1, ic=mid)]
        tensors.update({names["exp"]: t((mid, h, h)), names["sh"]: t((mid, h, h)), names["dw"]: t((mid, ho, ho)),
                        names["gap"]: t((mid, 1, 1)), names["r"]: t((2, 1, 1)), names["e"]: t((mid, 1, 1)),
                        names["g"]: t((mid, 1, 1)), names["mul"]: t((mid, ho, ho)), names["proj"]: t((cout, ho, ho))})
        last = names["proj"]
        if stride == 1 and cout == c:
            ops.append({"name": names["add"], "op": "add", "inputs": [names["proj"], prev], "attrs": {}})
            tensors[names["add"]] = t((cout, ho, ho))
            last = names["add"]
        prev, c, h = last, cout, ho
    return Shapes(ops, tensors, prev)


def test_plain_plan_packs_block_chains_and_keeps_buffers_apart():
    """Without overlap, live buffers never share a byte (random chains of RSD-like blocks), the
    arena is at least the bytes alive at the busiest step, and the two-ended placement reaches
    that bound on most of them (greedy lowest-offset placement leaves gaps between a block's
    small output and the big temporaries around it)."""
    rng = random.Random(11)
    at_bound = 0
    for trial in range(60):
        model = block_chain(rng)
        for mode in ("never", "input"):
            p = plan(model, mode)
            peak = max(sum(p.sizes[b] for b in p.live_at(s)) for s in range(-1, len(p.steps)))
            assert p.arena_bytes >= peak and p.arena_bytes == max(p.offsets[b] + p.sizes[b] for b in p.sizes)
            at_bound += mode == "never" and p.arena_bytes == peak
            for s_idx in range(-1, len(p.steps)):
                live = p.live_at(s_idx)
                for i, b in enumerate(live):
                    for o in live[i + 1:]:
                        disjoint = p.offsets[b] + p.sizes[b] <= p.offsets[o] or p.offsets[o] + p.sizes[o] <= p.offsets[b]
                        overlapping = any(s.overlap is not None and {p.buffer_of[s.inputs[0]], p.buffer_of[s.output]}
                                          == {b, o} for s in p.steps)
                        assert disjoint or overlapping, f"trial {trial} {mode}: '{b}' and '{o}' share bytes at step {s_idx}"
    print(f"60 block chains: {at_bound} plain plans at the bound (the bytes alive at the busiest step)")
    assert at_bound == 60        # lowest-offset placement alone: 53


def test_input_overlap_touches_only_the_first_conv_and_the_model_can_fix_the_mode():
    """overlap="input": only convs reading the model input write over it, every layout CHW; a
    model carrying meta["overlap"] (config['overlap']) is planned in that mode by "auto"."""
    model = lenet5_ultra(8)
    p = plan(model, "input")
    assert [s.overlap is not None for s in p.steps] == [True, False, False, False] and p.layouts == {}
    assert p.arena_bytes < plan(model, "never").arena_bytes
    for mode in ("never", "input", "always"):
        model.meta = {"overlap": mode}
        assert plan(model).offsets == plan(model, mode).offsets, mode
    model.meta = {"overlap": "sometimes"}
    from dmc.core.planner import PlanError
    with pytest.raises(PlanError, match=r"meta\['overlap'\] is 'sometimes'"):
        plan(model)
