"""The integer interpreter (IntModel.predict) against the fake-quant torch model and against an
independent, loop-based reference of the documented integer arithmetic."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

import dmc
from conftest import QUANT_MODELS as MODELS
from conftest import random_data, static_config
from dmc.core.fixedpoint import quantize_multiplier, requantize, shared_shift_multipliers
from dmc.core.intmodel import IntModel
from dmc.compression.ste import quantize_activation


QUANT = [(8, "per_tensor", 8), (4, "per_channel", 8), (2, "per_channel", 8),
         (8, "per_channel", 4), (4, "per_tensor", 4), (2, "per_tensor", 4)]


def build(name, seed, wbits, gran, abits, n_cal=256):
    model, shape = MODELS[name](seed)
    gen = torch.Generator().manual_seed(seed)
    cm = dmc.compress(model, static_config(wbits, gran, abits), shape, random_data(shape, n_cal, gen)).eval()
    return cm, dmc.convert(cm), shape, gen


# -- fake-quant torch model vs integer interpreter ---------------------------------------------------

@pytest.mark.parametrize("wbits,gran,abits", QUANT, ids=[f"w{w}-{g}-a{a}" for w, g, a in QUANT])
@pytest.mark.parametrize("name", list(MODELS))
def test_interpreter_matches_fake_quant_model(name, wbits, gran, abits):
    seed = zlib.crc32(f"{name}-{wbits}-{gran}-{abits}".encode()) % 1000      # stable across runs
    cm, qm, shape, gen = build(name, seed, wbits, gran, abits)
    x = random_data(shape, 300, gen)
    with torch.no_grad():
        fake = cm(x).numpy()
    got = qm.predict(x.numpy(), dequantize=True)
    assert got.shape == fake.shape and got.dtype == np.float32
    s = qm.output_quant["scale"]
    lsb = np.abs(got - fake) / s
    # both are on the same grid: the difference is a whole number of output LSBs
    assert np.allclose(lsb, np.round(lsb), atol=1e-2)
    assert (lsb <= 2.01).mean() >= 0.98, f"only {(lsb <= 2.01).mean():.3f} within 2 LSB, max {lsb.max()}"
    # most are identical
    assert (lsb <= 0.5).mean() >= 0.6, f"only {(lsb <= 0.5).mean():.3f} identical"
    # argmax: a disagreement is only acceptable between classes whose fake-quant outputs are within
    # one output LSB (rounding differences are at most that large per element)
    a_int, a_fake = got.argmax(1), fake.argmax(1)
    rows = np.arange(len(x))
    tie = (fake[rows, a_fake] - fake[rows, a_int]) <= 1.01 * s
    agree = (a_int == a_fake) | tie
    assert agree.mean() >= 0.97, f"argmax agreement {agree.mean():.3f}"
    if abits == 8:
        assert (a_int == a_fake).mean() >= 0.97, f"raw argmax agreement {(a_int == a_fake).mean():.3f}"


EXPECTED_OPS = {
    "conv_geometry": {"conv2d", "flatten", "linear"},
    "depthwise_pools": {"conv2d", "avgpool2d", "gap", "flatten", "linear"},
    "maxpool_relu": {"conv2d", "maxpool2d", "clamp", "avgpool2d", "flatten", "linear"},
    "pads": {"conv2d", "pad", "maxpool2d", "flatten", "linear"},
    "residual": {"conv2d", "add", "gap", "flatten", "linear"},
    "linear_only": {"linear"},
}


@pytest.mark.parametrize("name", list(MODELS))
def test_models_exercise_the_intended_ops(name):
    """Guard for the comparisons above: each model really lowers to the ops it is meant to cover."""
    cm, qm, _, _ = build(name, 0, 8, "per_tensor", 8, n_cal=16)
    assert {op["op"] for op in qm.ops[1:]} == EXPECTED_OPS[name]
    attrs = {op["name"]: op["attrs"] for op in qm.ops}
    if name == "conv_geometry":
        assert [a["dilation"] for a in attrs.values() if "dilation" in a] == [[1, 1], [2, 2]]
        assert [a["stride"] for a in attrs.values() if "dilation" in a] == [[2, 2], [1, 2]]
    if name == "pads":
        assert [a.get("merged_pad") for a in attrs.values() if "dilation" in a] == ["0", None]
        assert [op["op"] for op in qm.ops].count("pad") == 2            # ConstantPad2d, ZeroPad2d before a pool
    if name == "residual":
        assert any(a.get("depthwise") for a in attrs.values())
        assert next(a for op, a in zip(qm.ops, attrs.values()) if op["op"] == "add")["act"] == "relu"
    if name == "depthwise_pools":
        assert any(a.get("depthwise") and a.get("act") == "relu6" for a in attrs.values())
    if name == "linear_only":
        assert qm.input_shape == (20,)


def test_input_quantization_matches_fake_quant():
    cm, qm, shape, gen = build("conv_geometry", 0, 8, "per_tensor", 8)
    x = random_data(shape, 50, gen) * 3          # includes values outside the calibrated range
    q = cm.quantizers[qm.input_name]
    scale, zp = q.qparams()
    expected = quantize_activation(x, scale, zp, q.bits).numpy().astype(np.int64)
    got = qm.quantize_input(x.numpy())
    assert got.dtype == np.int32 and np.array_equal(got, expected)
    assert got.min() == 0 and got.max() == 255                     # clipped at both ends


# -- independent reference of the integer arithmetic ------------------------------------------------

def ref_qparams(cm, name):
    q = cm.quantizers[cm.qsource[name]]
    scale, zp = q.qparams()
    return scale, zp, (1 << q.bits) - 1


def ref_clamp(act, scale, zp, qmax):
    lo, hi = 0, qmax
    if act in ("relu", "relu6"):
        lo = zp                                   # real 0
    if act == "relu6":
        hi = min(qmax, zp + int(round(6.0 / scale)))
    return lo, hi


def ref_weighted_constants(cm, node):
    """Integer weights, int32 bias and (m, shift) per output channel, derived from the trained
    layer and the quantizers without going through dmc.convert."""
    layer = cm.layers[node.name]
    qw, sw = layer.quantized_weight()
    s_in, _, _ = ref_qparams(cm, node.inputs[0])
    s_out, _, _ = ref_qparams(cm, node.name)
    sw = sw.reshape(-1)
    bias = torch.round(layer.bias.detach() / (s_in * sw)).to(torch.int64).numpy()
    oc = qw.shape[0]
    reals = [s_in * float(sw[c if sw.numel() > 1 else 0]) / s_out for c in range(oc)]
    ms, shifts = zip(*(quantize_multiplier(r) for r in reals))
    return qw.detach().to(torch.int64).numpy(), bias, np.array(ms, np.int64), np.array(shifts, np.int64)


def ref_conv2d(x, w, bias, m, sh, zx, zy, lo, hi, stride, pad, dil, depthwise, acc_log=None):
    """acc = bias + sum((x - zx) * w) over the window, padding holding zx;
    y = clamp(zy + rq(acc, m[c], s[c]), lo, hi). Explicit loops over output pixels and taps."""
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    t, b, l, r = pad
    oh = (h + t + b - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + l + r - dil[1] * (kw - 1) - 1) // stride[1] + 1
    xs = x.astype(np.int64) - zx
    out = np.zeros((n, oc, oh, ow), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            win = np.zeros((n, c, kh, kw), np.int64)           # padding: zx, i.e. 0 after subtracting
            for ky in range(kh):
                for kx in range(kw):
                    iy = oy * stride[0] + ky * dil[0] - t
                    ix = ox * stride[1] + kx * dil[1] - l
                    if 0 <= iy < h and 0 <= ix < wd:
                        win[:, :, ky, kx] = xs[:, :, iy, ix]
            if depthwise:
                acc = (win * w[None, :, 0]).sum(axis=(2, 3))
            else:
                acc = (win[:, None] * w[None]).sum(axis=(2, 3, 4))
            acc = acc + bias[None]
            if acc_log is not None:
                acc_log.append(int(np.abs(acc).max()))
            out[:, :, oy, ox] = np.clip(zy + requantize(acc, m[None], sh[None]), lo, hi)
    return out


def ref_pool(x, kernel, stride, pad, fill, reduce):
    n, c, h, w = x.shape
    ph, pw = pad
    oh = (h + 2 * ph - kernel[0]) // stride[0] + 1
    ow = (w + 2 * pw - kernel[1]) // stride[1] + 1
    out = np.zeros((n, c, oh, ow), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            vals = []
            for ky in range(kernel[0]):
                for kx in range(kernel[1]):
                    iy, ix = oy * stride[0] + ky - ph, ox * stride[1] + kx - pw
                    inside = 0 <= iy < h and 0 <= ix < w
                    vals.append(x[:, :, iy, ix].astype(np.int64) if inside else np.full((n, c), fill, np.int64))
            out[:, :, oy, ox] = reduce(np.stack(vals))
    return out


def reference_run(cm, x_codes, acc_bounds=None):
    """Run every node of the CompressedModel's deployed graph with explicit integer arithmetic.
    Returns {tensor name: int64 codes}."""
    env = {}
    for node in cm.nodes:
        op, a = node.op, node.attrs
        if op == "input":
            env[node.name] = x_codes.astype(np.int64)
            continue
        x = env[node.inputs[0]]
        s_out, z_out, qmax = ref_qparams(cm, node.name)
        if op in ("conv2d", "linear"):
            _, zx, _ = ref_qparams(cm, node.inputs[0])
            w, bias, m, sh = ref_weighted_constants(cm, node)
            lo, hi = ref_clamp(a["act"], s_out, z_out, qmax)
            log = [] if acc_bounds is not None else None
            if op == "conv2d":
                y = ref_conv2d(x, w, bias, m, sh, zx, z_out, lo, hi, a["stride"], a["padding"], a["dilation"],
                               a["depthwise"], log)
            else:
                acc = np.zeros((len(x), w.shape[0]), np.int64)
                for o in range(w.shape[0]):                      # explicit dot products
                    for i in range(w.shape[1]):
                        acc[:, o] += (x[:, i] - zx) * w[o, i]
                acc += bias[None]
                if log is not None:
                    log.append(int(np.abs(acc).max()))
                y = np.clip(z_out + requantize(acc, m[None], sh[None]), lo, hi)
            if acc_bounds is not None:
                acc_bounds[node.name] = max(log)
        elif op == "maxpool2d":
            y = ref_pool(x, a["kernel"], a["stride"], a["padding"], np.iinfo(np.int64).min, lambda v: v.max(0))
        elif op == "avgpool2d":
            m, sh = quantize_multiplier(1.0 / (a["kernel"][0] * a["kernel"][1]))
            sums = ref_pool(x - z_out, a["kernel"], a["stride"], a["padding"], 0, lambda v: v.sum(0))
            y = np.clip(z_out + requantize(sums, m, sh), 0, qmax)
        elif op == "gap":
            m, sh = quantize_multiplier(1.0 / (x.shape[2] * x.shape[3]))
            sums = np.zeros(x.shape[:2] + (1, 1), np.int64)
            for iy in range(x.shape[2]):
                for ix in range(x.shape[3]):
                    sums[:, :, 0, 0] += x[:, :, iy, ix] - z_out
            y = np.clip(z_out + requantize(sums, m, sh), 0, qmax)
        elif op == "add":
            xb = env[node.inputs[1]]
            sa, za, _ = ref_qparams(cm, node.inputs[0])
            sb, zb, _ = ref_qparams(cm, node.inputs[1])
            (ma, mb), sh = shared_shift_multipliers([sa / s_out, sb / s_out])
            acc = (x - za) * int(ma) + (xb - zb) * int(mb)
            lo, hi = ref_clamp(a["act"], s_out, z_out, qmax)
            y = np.clip(z_out + requantize(acc, 1, sh), lo, hi)
        elif op == "clamp":
            lo, hi = ref_clamp(a["act"], s_out, z_out, qmax)
            y = np.clip(x, lo, hi)
        elif op == "pad":
            t, b, l, r = a["padding"]
            code = min(max(int(round(a["value"] / s_out)) + z_out, 0), qmax)
            y = np.full(x.shape[:2] + (x.shape[2] + t + b, x.shape[3] + l + r), code, np.int64)
            y[:, :, t:t + x.shape[2], l:l + x.shape[3]] = x
        elif op == "flatten":
            y = x.reshape(len(x), -1)
        else:
            raise AssertionError(f"reference has no op {op}")
        env[node.name] = y
    return env


def intermediate(qm, name, codes):
    """IntModel.predict with its output moved to an intermediate tensor."""
    return IntModel(qm.scheme, qm.tensors, qm.ops, qm.arrays, name, qm.meta).predict(codes)


def report_mismatches(name, expected, got, limit=200):
    bad = np.argwhere(expected != got)
    for k, idx in enumerate(bad):
        if k == limit:
            print(f"... {len(bad) - limit} more")
            break
        print(f"{name} mismatch at {tuple(int(i) for i in idx)}: expected {expected[tuple(idx)]}, got {got[tuple(idx)]}")
    return len(bad)


def check_bit_exact(cm, qm, x):
    q_in = cm.quantizers[qm.input_name]
    scale, zp = q_in.qparams()
    codes = quantize_activation(torch.as_tensor(x), scale, zp, q_in.bits).numpy().astype(np.int32)
    assert np.array_equal(codes, qm.quantize_input(x))
    bounds = {}
    ref = reference_run(cm, codes, bounds)
    # the stored constants are the ones derived independently
    for node in cm.nodes:
        if node.op in ("conv2d", "linear"):
            w, bias, m, sh = ref_weighted_constants(cm, node)
            op = next(o for o in qm.ops if o["name"] == node.name)
            assert np.array_equal(qm.weight(op), w), node.name
            assert np.array_equal(qm.arrays[f"{node.name}.bias"], bias), node.name
            stored_m = np.broadcast_to(qm.arrays[f"{node.name}.multiplier"], m.shape)
            stored_s = np.broadcast_to(qm.arrays[f"{node.name}.shift"], sh.shape)
            assert np.array_equal(stored_m, m) and np.array_equal(stored_s, sh), node.name
            # the exporter's worst-case bound holds for the accumulators actually seen
            assert bounds[node.name] <= op["attrs"]["accumulator_bound"] < 2 ** 31
    total = 0
    for node in cm.nodes[1:]:
        got = intermediate(qm, node.name, codes)
        n_bad = report_mismatches(node.name, ref[node.name], got)
        total += n_bad
        if n_bad:
            break                                   # later tensors inherit the first difference
    final = qm.predict(x)
    total += report_mismatches("output", ref[cm.output_name], final)
    assert total == 0, f"{total} mismatches between the reference and IntModel.predict (printed above)"


def small_conv_model(kernel, stride, padding, dilation, act, depthwise, zero_pad, seed):
    torch.manual_seed(seed)
    layers = [nn.ZeroPad2d(zero_pad)] if zero_pad else []
    if depthwise:
        layers += [nn.Conv2d(2, 4, 1), nn.ReLU(),
                   nn.Conv2d(4, 4, kernel, stride=stride, padding=padding, dilation=dilation, groups=4)]
    else:
        layers += [nn.Conv2d(2, 3, kernel, stride=stride, padding=padding, dilation=dilation)]
    layers += {"relu": [nn.ReLU()], "relu6": [nn.ReLU6()], None: []}[act]
    layers += [nn.Conv2d(layers[-1 if act is None else -2].out_channels, 3, (2, 3), padding=(1, 0))]
    model = nn.Sequential(*layers).eval()
    with torch.no_grad():                                  # spread activations so ReLU6 clips
        for mod in model.modules():
            if isinstance(mod, nn.Conv2d):
                mod.weight.mul_(3.0)
    return model


@settings(max_examples=25)
@given(kernel=st.sampled_from([1, 2, 3, (3, 2)]), stride=st.sampled_from([1, 2, (2, 1)]),
       padding=st.sampled_from([0, 1, (2, 1)]), dilation=st.sampled_from([1, 2, (1, 2)]),
       act=st.sampled_from([None, "relu", "relu6"]), depthwise=st.booleans(),
       zero_pad=st.sampled_from([0, (1, 0, 2, 1)]), wbits=st.sampled_from([8, 4, 2]),
       gran=st.sampled_from(["per_tensor", "per_channel"]), abits=st.sampled_from([8, 4]), seed=st.integers(0, 99))
def test_conv2d_bit_exact_against_loop_reference(kernel, stride, padding, dilation, act, depthwise, zero_pad,
                                                   wbits, gran, abits, seed):
    model = small_conv_model(kernel, stride, padding, dilation, act, depthwise, zero_pad, seed)
    shape = (1, 2, 7, 9)
    gen = torch.Generator().manual_seed(seed)
    cm = dmc.compress(model, static_config(wbits, gran, abits), shape, random_data(shape, 64, gen)).eval()
    qm = dmc.convert(cm)
    assert sum(op["op"] == "conv2d" for op in qm.ops) == (3 if depthwise else 2)
    if zero_pad:
        assert "pad" not in [op["op"] for op in qm.ops]          # merged into the conv
    check_bit_exact(cm, qm, random_data(shape, 4, gen).numpy())


def test_conv2d_bit_exact_fixed_case():
    """A fixed, hand-checkable case: merged asymmetric zero pad, stride (2, 1), dilation (1, 2), ReLU."""
    model = small_conv_model(3, (2, 1), (1, 2), (1, 2), "relu", False, (1, 0, 2, 1), seed=3)
    shape = (1, 2, 7, 9)
    gen = torch.Generator().manual_seed(3)
    cm = dmc.compress(model, static_config(4, "per_channel", 8), shape, random_data(shape, 64, gen)).eval()
    qm = dmc.convert(cm)
    conv = qm.ops[1]
    assert conv["attrs"]["padding"] == [3, 2, 3, 2]        # (t, b, l, r): zero pad + conv padding
    assert qm.tensors[conv["name"]]["shape"] == [3, 5, 10]
    check_bit_exact(cm, qm, random_data(shape, 5, gen).numpy())


@pytest.mark.parametrize("name", ["depthwise_pools", "maxpool_relu", "pads", "residual", "linear_only"])
@pytest.mark.parametrize("wbits,gran,abits", [(8, "per_channel", 8), (2, "per_tensor", 4)])
def test_all_ops_bit_exact_against_loop_reference(name, wbits, gran, abits):
    cm, qm, shape, gen = build(name, 5, wbits, gran, abits, n_cal=128)
    check_bit_exact(cm, qm, random_data(shape, 3, gen).numpy())


def test_avgpool_fake_quant_matches_integer_rounding():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.AvgPool2d(2)).eval()
    gen = torch.Generator().manual_seed(0)
    cm = dmc.compress(model, static_config(), (1, 3, 8, 8), random_data((1, 3, 8, 8), 128, gen)).eval()
    qm = dmc.convert(cm)
    x = random_data((1, 3, 8, 8), 100, gen)
    with torch.no_grad():
        fake = cm(x).numpy()
    got = qm.predict(x.numpy(), dequantize=True)
    lsb = np.abs(got - fake) / qm.output_quant["scale"]
    assert (lsb < 0.5).mean() > 0.99, f"{(lsb > 0.5).mean():.3f} of the outputs differ"


# -- predict() API -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_qm():
    cm, qm, shape, gen = build("maxpool_relu", 1, 8, "per_tensor", 8, n_cal=64)
    return qm, random_data(shape, 23, gen).numpy()


def test_predict_single_sample_and_batching(small_qm):
    qm, x = small_qm
    full = qm.predict(x)
    assert full.dtype == np.int32 and full.shape == (23, 6)
    assert np.array_equal(qm.predict(x, batch_size=5), full)
    assert np.array_equal(qm.predict(x[3]), full[3])
    assert np.array_equal(qm.predict(qm.quantize_input(x)), full)           # integer codes in
    deq = qm.predict(x, dequantize=True)
    q = qm.output_quant
    assert np.allclose(deq, (full - q["zero_point"]) * q["scale"])
    assert qm.predict(x[:0]).shape == (0, 6)


def test_predict_rejects_bad_input(small_qm):
    qm, x = small_qm
    with pytest.raises(dmc.DataError, match="shape"):
        qm.predict(x[:, :, :4])
    with pytest.raises(dmc.DataError, match=r"\[0, 255\]"):
        qm.predict(np.full(x.shape, 256, np.int64))
    with pytest.raises(dmc.DataError, match=r"\[0, 255\]"):
        qm.predict(np.full(x.shape, -1, np.int64))
    with pytest.raises(dmc.DataError, match="dtype"):
        qm.predict(np.zeros(x.shape, bool))


@pytest.mark.parametrize("seed", range(16))
def test_random_zoo_models_bit_exact_against_loop_reference(seed):
    """The random models of the C++ parity tests (mixed per-layer bit widths, residual adds with and
    without ReLU, pads, pools) against the same loop reference."""
    from model_zoo import random_cnn, random_mlp
    for make in (random_cnn, random_mlp):
        model, shape, cfg = make(seed)
        gen = torch.Generator().manual_seed(seed)
        cm = dmc.compress(model, cfg, shape, random_data(shape, 64, gen)).eval()
        check_bit_exact(cm, dmc.convert(cm), random_data(shape, 3, gen).numpy())


# -- export errors -------------------------------------------------------------------------------------

def test_bias_that_does_not_fit_int32_is_an_export_error():
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 36, 2)).eval()
    with torch.no_grad():
        model[0].weight.fill_(1e-6)
        model[0].bias.fill_(1e4)
    cm = dmc.compress(model, static_config(), (1, 3, 8, 8), torch.randn(32, 3, 8, 8))
    with pytest.raises(dmc.QuantizationError, match=r"conv2d_0.*'0'.*int32"):
        dmc.convert(cm)


def test_accumulator_overflow_is_an_export_error():
    n = 70000                                         # 70000 * 127 * 255 > 2**31
    model = nn.Sequential(nn.Linear(n, 2)).eval()
    with torch.no_grad():
        model[0].weight.fill_(0.01)
    cm = dmc.compress(model, static_config(), (1, n), torch.rand(4, n))
    with pytest.raises(dmc.QuantizationError, match=r"linear_0.*accumulator"):
        dmc.convert(cm)
    # with 4-bit inputs the worst case fits (70000 * 127 * 15 < 2**31)
    cm = dmc.compress(model, static_config(act_bits=4, input_bitwidth=4), (1, n), torch.rand(4, n))
    qm = dmc.convert(cm)
    assert qm.ops[1]["attrs"]["accumulator_bound"] < 2 ** 31
