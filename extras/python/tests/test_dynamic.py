"""The dynamic scheme: integer weights times a float scale, float32 activations."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dmc
from conftest import QUANT_MODELS as MODELS
from conftest import random_data

CASES = [(8, "per_tensor"), (4, "per_channel"), (2, "per_channel"), (2, "per_tensor")]


def build_dynamic(name, bits, gran, seed=0):
    model, shape = MODELS[name](seed)
    cm = dmc.compress(model, {"quantize": {"scheme": "dynamic", "bitwidth": bits, "granularity": gran}}, shape)
    return model, cm.eval(), dmc.convert(cm), shape


@pytest.mark.parametrize("bits,gran", CASES, ids=[f"w{b}-{g}" for b, g in CASES])
@pytest.mark.parametrize("name", list(MODELS))
def test_dynamic_predict_matches_fake_quant_model(name, bits, gran):
    model, cm, qm, shape = build_dynamic(name, bits, gran)
    assert qm.scheme == "dynamic" and not cm.static
    x = random_data(shape, 64, torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = cm(x).numpy()
    got = qm.predict(x.numpy())
    assert got.dtype == np.float32 and got.shape == expected.shape
    scale = float(np.abs(expected).max()) + 1e-6
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-5 * scale), np.abs(got - expected).max()
    assert np.array_equal(qm.predict(x.numpy(), dequantize=True), got)
    assert qm.predict(x.numpy()[0]).shape == expected.shape[1:]


def test_dynamic_weights_are_quantized_and_activations_are_not():
    model, cm, qm, shape = build_dynamic("conv_geometry", 4, "per_channel")
    for op in qm.ops:
        if op["op"] not in ("conv2d", "linear"):
            continue
        w = qm.weight(op)
        assert np.abs(w).max() <= 7                                     # 4-bit symmetric narrow range
        layer = cm.layers[op["name"]]
        qw, sw = layer.quantized_weight()
        assert np.array_equal(w, qw.detach().numpy().astype(np.int32))
        assert np.array_equal(qm.arrays[f"{op['name']}.weight_scale"], sw.reshape(-1).numpy())
        assert qm.arrays[f"{op['name']}.bias"].dtype == np.float32
        assert f"{op['name']}.multiplier" not in qm.arrays
    assert all("bits" not in t and "scale" not in t for t in qm.tensors.values())
    # compared with the float model, only weight rounding differs: close but not identical
    x = random_data(shape, 32, torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(x).numpy()
    got = qm.predict(x.numpy())
    assert not np.array_equal(got, ref)
    assert np.abs(got - ref).max() < 0.5 * np.abs(ref).max()


def test_dynamic_8bit_close_to_float_model():
    model, cm, qm, shape = build_dynamic("residual", 8, "per_channel")
    x = random_data(shape, 64, torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = model(x).numpy()
    got = qm.predict(x.numpy())
    assert np.abs(got - ref).max() <= 0.02 * np.abs(ref).max() + 1e-6
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.97
