"""The AVR inner loops (src/dmc/kernels/avr/: assembly MAC runs, 32x16 requantization) against the
numpy interpreter, bit for bit, on the simulated AVR: randomized models of every op, bit width and
conv geometry, the example models, and requantization over the whole shift range."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dmc
from avr_sim import UART_TX, available, run_firmware, run_models
from dmc.core.fixedpoint import requantize
from dmc.core.planner import plan
from dmc.deploy.codegen import avr_kernel_width, avr_kernel_widths, avr_window_pairs
from dmc.deploy.host_build import runtime_dir
from model_zoo import pointwise_models, random_cnn, random_mlp

pytestmark = pytest.mark.skipif(not available(), reason="avr-gcc or simavr missing (run extras/scripts/setup.sh)")

REPO = runtime_dir().parent


def assert_same(name, expected, got, limit=20):
    bad = np.argwhere(expected != got)
    for idx in bad[:limit]:
        print(f"{name}: mismatch at {tuple(int(i) for i in idx)}: interpreter {expected[tuple(idx)]}, "
              f"AVR {got[tuple(idx)]}")
    assert len(bad) == 0, f"{name}: {len(bad)} of {expected.size} output values differ"


def _random_models(seeds):
    models = []
    for seed in seeds:
        model, shape, cfg = (random_mlp if seed % 6 == 0 else random_cnn)(seed)
        g = torch.Generator().manual_seed(seed)
        cal = torch.randn((64,) + tuple(shape[1:]), generator=g) * 1.5
        models.append(dmc.convert(dmc.compress(model, cfg, shape, calibration_data=cal)))
    return models


def _codes(model, n, rng):
    qmax = (1 << model.input_quant["bits"]) - 1
    codes = rng.integers(0, qmax + 1, size=(n,) + tuple(model.input_shape))
    codes[0] = 0
    codes[1] = qmax
    return codes


def test_random_models_bit_exact_on_avr(tmp_path):
    """36 random models (the host suite's generator) through the AVR kernels: convs of widths 1, 3
    and 5 with padding, stride, dilation, fused pools, 8/4/2-bit weights, 8/4-bit activations of
    odd and even widths, depthwise convs, linear layers, pools, adds, pads; built with every conv
    that can be written over its input and conv-to-conv tensors in interleaved rows
    (overlap="always")."""
    models = _random_models(range(36))
    covered, layouts = set(), set()
    for m in models:
        p = plan(m, "always")
        for i, kw in avr_kernel_widths(m, p).items():    # what the generated code passes
            st = p.steps[i]
            a, ib = st.op["attrs"], m.tensors[st.inputs[0]]["bits"]
            if kw:
                covered.add((a["weight_bits"], ib, a["weight_shape"][3], any(a["padding"])))
                layouts.add((p.layout(st.inputs[0]), ib))
                layouts.update(["overlapping"] if p.overlapping(st) else [])
    need = {(wb, ib) for wb in (8, 4) for ib in (8, 4)}
    assert need <= {c[:2] for c in covered}, f"no AVR conv loop for {sorted(need - {c[:2] for c in covered})}"
    assert {1, 3, 5} <= {c[2] for c in covered} and {True, False} <= {c[3] for c in covered}, sorted(covered)
    assert {("HCW", 8), ("HCW", 4), "overlapping"} <= layouts, sorted(map(str, layouts))
    rng = np.random.default_rng(2)
    codes = [_codes(m, 3, rng) for m in models]
    total = 0
    for start in range(0, len(models), 12):        # a few firmwares, each well inside 64 KB of flash
        group = models[start:start + 12]
        outs, _ = run_models(group, codes[start:start + 12], tmp_path / f"g{start}", overlap="always")
        for i, (m, c, got) in enumerate(zip(group, codes[start:start + 12], outs)):
            expected = m.predict(c)
            assert_same(f"m{start + i} ({' '.join(o['op'] for o in m.ops[1:])})", expected, got)
            total += expected.size
    print(f"{len(models)} random models on the simulated AVR, {total} output values identical")


def test_pointwise_convs_bit_exact_on_avr(tmp_path):
    """The portable pointwise loop of 1x1 convs on the AVR (kernels/conv2d.h pointwise_outputs),
    where the AVR conv loops do not go: 4-bit inputs of odd width (an edge_nano's 7x7 stages) and
    2-bit weights, with chunk boundaries and per-channel nibble flips; bit for bit against the
    interpreter."""
    models = pointwise_models()
    portable = []
    for m in models:
        p = plan(m, "never")
        if avr_kernel_widths(m, p)[0] == 0:
            portable.append(m)
    kinds = {(m.ops[1]["attrs"]["weight_bits"], m.tensors[m.ops[1]["inputs"][0]]["bits"]) for m in portable}
    assert {(4, 4), (8, 4), (2, 8), (2, 4)} <= kinds, sorted(kinds)
    rng = np.random.default_rng(5)
    codes = [_codes(m, 4, rng) for m in portable]
    outs, _ = run_models(portable, codes, tmp_path / "pw", overlap="never")
    total = 0
    for i, (m, c, got) in enumerate(zip(portable, codes, outs)):
        expected = m.predict(c)
        assert_same(f"p{i} ({m.ops[1]['attrs']['weight_shape']})", expected, got)
        total += expected.size
    print(f"{len(portable)} 1x1-conv models on the simulated AVR's portable loop, {total} output values identical")


# (in_c, out_c, height, width, kernel, padding, pool, weight bits, input bits): the window-pair
# loops (conv_pooled_pairs) inside and at the edges, with 24-bit flushes between channel chunks
# (12 x 5 x 5 > 256 products), odd widths, pools of 2 and 4, every weight x input width
PAIR_CASES = [(1, 3, 12, 12, 5, 2, 2, 8, 8), (1, 2, 10, 10, 5, 2, 2, 4, 4), (3, 4, 9, 11, 3, 1, 2, 4, 8),
              (12, 2, 8, 8, 5, 0, 2, 4, 8), (12, 3, 8, 10, 5, 2, 2, 8, 4), (2, 3, 11, 9, 3, 0, 4, 4, 8),
              (2, 2, 9, 8, 1, 0, 2, 4, 4), (4, 2, 10, 12, 3, 1, 4, 8, 8), (2, 3, 11, 10, 5, 0, 2, 8, 4),
              (1, 2, 12, 13, 3, 0, 2, 8, 8), (1, 3, 9, 12, 5, 2, 2, 4, 4)]


def _pair_model(i, case):
    c, oc, h, w, k, p, pool, wb, ib = case
    torch.manual_seed(100 + i)
    net = torch.nn.Sequential(torch.nn.Conv2d(c, oc, k, padding=p), torch.nn.ReLU(), torch.nn.MaxPool2d(pool),
                              torch.nn.Flatten(), torch.nn.LazyLinear(3))
    shape = (1, c, h, w)
    net(torch.zeros(shape))
    cfg = {"quantize": {"scheme": "static", "bitwidth": wb, "granularity": "per_channel",
                        "activation_bitwidth": 8, "input_bitwidth": ib}}
    cal = torch.randn((64,) + shape[1:], generator=torch.Generator().manual_seed(i)) * 1.5
    return dmc.convert(dmc.compress(net.eval(), cfg, shape, calibration_data=cal))


def test_window_pairs_bit_exact_on_avr(tmp_path):
    """Convs with a fused max pool of even width through the window-pair loops on the simulated
    AVR against the interpreter (the random suite rarely draws them), with and without padding
    (kUnpadded: the edge loops left out), one-channel 4-bit groups at the padding gathered
    (kGroupCut)."""
    models = [_pair_model(i, case) for i, case in enumerate(PAIR_CASES)]
    for m, case in zip(models, PAIR_CASES):
        st = next(s for s in plan(m).steps if s.kernel == "conv2d")
        a = st.op["attrs"]
        kw = avr_kernel_width(a["weight_bits"], m.tensors[st.inputs[0]]["bits"], a["weight_shape"][2:],
                              a["dilation"][1], m.tensors[st.inputs[0]]["shape"][2])
        pairs = avr_window_pairs(kw, a["stride"][1], st.fused["attrs"]["kernel"][0])
        assert st.fused and pairs, case
        assert (a["weight_bits"], m.tensors[st.inputs[0]]["bits"]) == case[7:], case
    rng = np.random.default_rng(5)
    codes = [_codes(m, 3, rng) for m in models]
    outs, _ = run_models(models, codes, tmp_path)
    for m, c, got, case in zip(models, codes, outs, PAIR_CASES):
        assert_same(f"pairs {case}", m.predict(c), got)


def test_example_models_bit_exact_on_avr(tmp_path):
    rng = np.random.default_rng(3)
    models = [dmc.load(REPO / "examples" / "MnistLeNet5" / f"lenet5_{r}.dmc") for r in ("tiny", "ultra")]
    models.append(dmc.load(REPO / "extras" / "experiments" / "lenet5" / "results" / "lenet5_ultra8.dmc"))
    models.append(dmc.load(REPO / "examples" / "SineRegressor" / "sine.dmc"))
    codes = [_codes(m, 2, rng) for m in models]
    outs, cycles = run_models(models, codes, tmp_path)
    for m, c, got, cyc in zip(models, codes, outs, cycles):
        assert_same(m.ops[-1]["name"], m.predict(c), got)
        print(f"{m.total_macs} MACs: {cyc} cycles per inference")


def test_requantization_bit_exact_on_avr(tmp_path):
    """requantize_to_code on the AVR (32x16 MUL product, no 64-bit arithmetic; 24x16 for an
    accumulator within 24 bits) against the contract computed in int64 by numpy: every shift
    1..62, extreme accumulators, accumulators at the 24-bit edges and next to clamps and ties."""
    rng = np.random.default_rng(4)
    rows = []
    for shift in range(1, 63):
        n = 20
        m = rng.integers(1 << 14, 1 << 15, size=n)
        m[:2] = [1 << 14, (1 << 15) - 1]
        acc = (rng.integers(-(1 << 31), 1 << 31, size=n) >> rng.integers(0, 31, size=n)).astype(np.int64)
        acc[:4] = [-(1 << 31), (1 << 31) - 1, 0, -1]
        zp = rng.integers(0, 256, size=n)
        lo = rng.integers(0, 128, size=n)
        hi = lo + rng.integers(0, 128, size=n)
        rows += list(zip(acc, m, [shift] * n, zp, lo, hi))
        # accumulators within 24 bits (the short path): its edges, and values whose result lands
        # next to a clamp bound or a rounding tie
        k = 16
        m24 = rng.integers(1 << 14, 1 << 15, size=k)
        edge = np.array([(1 << 23) - 1, -(1 << 23), (1 << 23) - 2, -(1 << 23) + 1], dtype=np.int64)
        target = rng.integers(-300, 300, size=k - 4).astype(np.float64) + rng.choice([0.0, 0.5], size=k - 4)
        near = np.round(target * 2.0 ** shift / m24[4:]).astype(np.int64) + rng.integers(-1, 2, size=k - 4)
        acc24 = np.clip(np.concatenate([edge, near]), -(1 << 23), (1 << 23) - 1)
        zp24 = rng.integers(0, 256, size=k)
        lo24 = rng.integers(0, 128, size=k)
        rows += list(zip(acc24, m24, [shift] * k, zp24, lo24, lo24 + rng.integers(0, 128, size=k)))
    # the add kernel's multiplier is 1
    rows += [(a, 1, s, z, 0, 255) for a, s, z in ((1000, 3, 7), (-5000, 2, 128), (123456, 10, 0))]
    acc, m, shift, zp, lo, hi = (np.array(c, dtype=np.int64) for c in zip(*rows))
    expected = np.clip(zp + requantize(acc, m, shift), lo, hi)
    table = ", ".join(f"{{{int(a)}L, {int(b)}, {int(c)}, {int(d)}, {int(e)}, {int(f)}}}"
                      for a, b, c, d, e, f in rows)
    main = f"""#include <avr/io.h>
#include <avr/pgmspace.h>
#include <DeepMicroCompression.h>
struct Case {{ int32_t acc; int16_t m; uint8_t shift, zp, lo, hi; }};
static const Case cases[{len(rows)}] PROGMEM = {{{table}}};
{UART_TX}
int main() {{
  uart_begin();
  for (uint16_t i = 0; i < {len(rows)}u; ++i) {{
    Case c;
    memcpy_P(&c, &cases[i], sizeof c);
    tx(dmc::requantize_to_code(c.acc, c.m, c.shift, c.zp, c.lo, c.hi));
  }}
  finish();
}}
"""
    out, _ = run_firmware(main, tmp_path)
    got = np.frombuffer(out, dtype=np.uint8).astype(np.int64)
    assert got.shape == expected.shape, f"{len(got)} codes back, expected {len(expected)}"
    bad = np.flatnonzero(got != expected)
    for i in bad[:20]:
        print(f"acc {acc[i]} m {m[i]} shift {shift[i]} zp {zp[i]} clamp [{lo[i]}, {hi[i]}]: "
              f"contract {expected[i]}, AVR {got[i]}")
    assert len(bad) == 0, f"{len(bad)} of {len(rows)} requantized codes differ"
