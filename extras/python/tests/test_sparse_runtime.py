"""Sparse weight storage end to end: convert with ``"storage"``, the artifact's checks of the
sparse streams, and the generated C++ (sparse linear, conv2d, depthwise kernels) against the
numpy interpreter bit for bit on randomized models; cross builds for AVR and Cortex-M4."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import dmc
from dmc.core.artifact import dumps, loads
from dmc.core.weights import conv_tap_offsets, sparse_arrays
from dmc.deploy.host_build import HostBuild, cross_build
from dmc.errors import ArtifactError, ConfigError
from model_zoo import random_cnn, random_mlp


def _prune(model, seed, sparsity):
    """Zero a random fraction of every conv/linear weight (exact zeros survive BN folding and QAT)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                keep = torch.rand(m.weight.shape, generator=g) >= sparsity
                flat = keep.reshape(keep.shape[0], -1)  # each filter keeps its largest weight
                flat[torch.arange(flat.shape[0]), m.weight.abs().reshape(flat.shape[0], -1).argmax(1)] = True
                m.weight.mul_(keep.float())
    return model


def _model(seed, storage, sparsity=0.8):
    torch.manual_seed(seed)  # the layers' initial weights
    model, shape, cfg = (random_mlp if seed % 4 == 0 else random_cnn)(seed)
    _prune(model, seed, sparsity)
    cfg = dict(cfg, storage=storage)
    g = torch.Generator().manual_seed(seed)
    cal = torch.randn((64,) + tuple(shape[1:]), generator=g) * 1.5
    return dmc.convert(dmc.compress(model, cfg, shape, calibration_data=cal))


@pytest.fixture(scope="module")
def models():
    out = [_model(seed, "dcsr" if seed % 3 else "auto") for seed in range(10)]
    kinds = {("dw" if o["attrs"].get("depthwise") else o["op"]) for m in out for o in m.ops
             if o["attrs"].get("storage") == "dcsr"}
    assert {"conv2d", "dw", "linear"} <= kinds, kinds
    return out


def test_storage_round_trips_through_the_file(models):
    for m in models:
        back = _reload(m)
        for op in m.ops:
            if "weight_bits" in op["attrs"]:
                assert np.array_equal(back.weight(op), m.weight(op))


def test_sparse_models_bit_exact_on_host(models, tmp_path):
    build = HostBuild(models, [f"s{i}" for i in range(len(models))], tmp_path, extra_flags=["-O1"])
    rng = np.random.default_rng(2)
    for i, qm in enumerate(models):
        qmax = (1 << qm.input_quant["bits"]) - 1
        codes = rng.integers(0, qmax + 1, size=(32,) + qm.input_shape)
        codes[0], codes[1] = 0, qmax
        expected, got = qm.predict(codes), build.run(i, codes)
        bad = np.argwhere(expected != got)
        for idx in bad[:10]:
            print(f"s{i}: {tuple(idx)} interpreter {expected[tuple(idx)]}, C++ {got[tuple(idx)]}")
        assert bad.size == 0


def test_dense_and_sparse_storage_compute_the_same(tmp_path):
    dense, sparse = _model(5, "dense"), _model(5, "dcsr")
    x = np.random.default_rng(0).integers(0, 1 << dense.input_quant["bits"], size=(16,) + dense.input_shape)
    assert np.array_equal(dense.predict(x), sparse.predict(x))
    assert sparse.model_bytes < dense.model_bytes  # 80% zeros: the streams are smaller
    auto = _model(5, "auto")
    assert auto.model_bytes <= min(dense.model_bytes, sparse.model_bytes)


def test_sizes_count_the_sparse_bytes(models, capsys):
    from dmc.deploy.budget import budget
    m = next(m for m in models if any(o["attrs"].get("storage") == "dcsr" for o in m.ops))
    op = _sparse_op(m)
    sparse = sum(m.arrays[k].nbytes for k in sparse_arrays(op))
    assert f"{op['name']}.weight" not in m.arrays and m.op_bytes(op) >= sparse
    assert budget(m)["model_bytes"] == m.model_bytes == sum(a.nbytes for a in m.arrays.values())
    m.summary()
    assert "dcsr" in capsys.readouterr().out


@pytest.mark.parametrize("target, tool", [("avr", "avr-g++"), ("cortex-m4", "arm-none-eabi-g++")])
def test_cross_builds(models, tmp_path, target, tool):
    if not shutil.which(tool):
        pytest.skip(f"{tool} not installed")
    for i in (1, 2):
        cross_build(models[i], f"s{i}", target, tmp_path / f"m{i}")


def _reload(m):
    """Write and read back through the artifact's parser and checks."""
    return dmc.IntModel(**loads(dumps(m)))


def _sparse_op(m, kind=None):
    return next(o for o in m.ops if o["attrs"].get("storage") == "dcsr" and kind in (None, o["op"]))


def _with_arrays(m, **arrays):
    return dmc.IntModel(m.scheme, m.tensors, m.ops, dict(m.arrays, **arrays), m.output, m.meta)


@pytest.mark.parametrize("kind", ["linear", "conv2d"])
@pytest.mark.parametrize("tamper, match", [
    (lambda s, r: (s, np.concatenate([r[:-1], [r[-1] + 1]]).astype(np.uint16)), "stream ends|need a stream"),
    (lambda s, r: (s[:-1], r), "stream ends|codes use|need a stream"),
    (lambda s, r: (s, r[:-1]), "weight_rows"),
    (lambda s, r: (np.concatenate([s, [0]]).astype(np.uint8), r), "codes use|need a stream"),
])
def test_crafted_streams_are_artifact_errors(models, kind, tamper, match):
    m = next(m for m in models if any(o["op"] == kind and o["attrs"].get("storage") == "dcsr" for o in m.ops))
    op = _sparse_op(m, kind)
    stream, rows = sparse_arrays(op)
    s, r = tamper(m.arrays[stream], m.arrays[rows])
    with pytest.raises(ArtifactError, match=match):
        _reload(_with_arrays(m, **{stream: s, rows: r}))


def test_conv_offset_outside_the_window_is_an_artifact_error(models):
    m = next(m for m in models if any(o["op"] == "conv2d" and o["attrs"].get("storage") == "dcsr" for o in m.ops))
    op = _sparse_op(m, "conv2d")
    a = op["attrs"]
    last = int(conv_tap_offsets(a["weight_shape"], a["dilation"], m.tensors[op["inputs"][0]]["shape"])[-1])
    stream, rows = sparse_arrays(op)
    # row 0: padding entries (step 255, value 0) until one past the filter's last tap, then a value
    steps = [255] * (last // 255) + [last % 255 + 1]
    g = 8 // a["weight_bits"]
    crafted = []
    for i in range(0, len(steps), g):
        crafted += [1] + steps[i:i + g]  # each group: its value byte, then its steps
    n_rows = a["weight_shape"][0]
    arrays = {stream: np.array(crafted, np.uint8), rows: np.array([len(steps)] + [0] * (n_rows - 1), np.uint16)}
    with pytest.raises(ArtifactError, match=f"op '{op['name']}'.*offset {last + 1} beyond the filter's last tap"):
        _reload(_with_arrays(m, **arrays))


def test_index_pointing_outside_a_row_is_an_artifact_error():
    m = _model(4, "dcsr")  # an MLP: linear rows
    op = _sparse_op(m)
    out_f, in_f = op["attrs"]["weight_shape"]
    # row 0: code bytes 0xEE (two codes of +15 columns, each with a value 1) until past the row
    nb = in_f // 30 + 1
    per = [0xEE, 1, 1] if op["attrs"]["weight_bits"] == 8 else [0xEE, 0x11 if op["attrs"]["weight_bits"] == 4 else 0x05]
    bad = dmc.IntModel(m.scheme, m.tensors, m.ops, dict(m.arrays), m.output, m.meta)
    bad.arrays[f"{op['name']}.weight_stream"] = np.array(per * nb, np.uint8)
    bad.arrays[f"{op['name']}.weight_rows"] = np.array([nb] + [0] * (out_f - 1), np.uint16)
    with pytest.raises(ArtifactError, match=f"op '{op['name']}'.*outside a row of {in_f}"):
        _reload(bad)


def test_bad_storage_config():
    model, shape, cfg = random_mlp(0)
    with pytest.raises(ConfigError, match="storage"):
        dmc.compress(model, dict(cfg, storage="csr"), shape)
    with pytest.raises(ConfigError, match="unknown layer"):
        dmc.compress(model, dict(cfg, storage={"nope": "dcsr"}), shape)


def test_unknown_storage_in_file_is_an_artifact_error(models):
    m = models[1]
    op = _sparse_op(m)
    ops = [dict(o, attrs=dict(o["attrs"], storage="zip")) if o is op else o for o in m.ops]
    with pytest.raises(ArtifactError, match="unknown weight storage"):
        _reload(dmc.IntModel(m.scheme, m.tensors, ops, m.arrays, m.output, m.meta))


@pytest.mark.parametrize("target, tools", [("uno", ("avr-g++", "simavr")), ("m4", ("arm-none-eabi-g++", "qemu-system-arm"))])
def test_sparse_models_bit_exact_on_simulated_boards(models, tmp_path, target, tools):
    if not all(shutil.which(t) for t in tools):
        pytest.skip(f"{tools} not installed")
    from dmc.deploy.sparse_harness import run_model
    rng = np.random.default_rng(3)
    picked, seen = [], set()  # a few models that together run every sparse kernel
    for i, m in enumerate(models):
        kinds = {"dw" if o["attrs"].get("depthwise") else o["op"] for o in m.ops if o["attrs"].get("storage") == "dcsr"}
        if kinds - seen:
            picked.append(i)
            seen |= kinds
    assert {"conv2d", "dw", "linear"} <= seen
    for i in picked:
        qm = models[i]
        codes = rng.integers(0, 1 << qm.input_quant["bits"], size=(3,) + qm.input_shape)
        got, _ = run_model(qm, codes, target, tmp_path / f"m{i}")
        expected = qm.predict(codes)
        bad = np.argwhere(expected != got)
        for idx in bad[:10]:
            print(f"{target} s{i}: {tuple(idx)} interpreter {expected[tuple(idx)]}, C++ {got[tuple(idx)]}")
        assert bad.size == 0


def test_kernels_larger_than_the_input_on_host(tmp_path):
    """A 5x5 kernel and a dilated 3x3 one (extent 5) on 3x3 inputs: no window lies inside the
    input, the filters' offsets are tap indices (conv_tap_offsets) and every window takes the
    border path; built with ASan/UBSan, bit-exact with the interpreter."""
    from dmc.deploy.host_build import HostBuild
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 5, padding=2), torch.nn.ReLU(),
                                torch.nn.Conv2d(3, 4, 3, padding=2, dilation=2), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(36, 3))
    _prune(model, 1, 0.5)
    cfg = {"quantize": {"scheme": "static", "bitwidth": 4, "activation_bitwidth": 8}, "storage": "dcsr"}
    qm = dmc.convert(dmc.compress(model, cfg, (1, 2, 3, 3), calibration_data=torch.randn(32, 2, 3, 3)))
    assert all(o["attrs"].get("storage") == "dcsr" for o in qm.ops if "weight_bits" in o["attrs"])
    op = _sparse_op(qm, "conv2d")
    assert conv_tap_offsets(op["attrs"]["weight_shape"], [1, 1], [2, 3, 3]).tolist() == list(range(50))
    build = HostBuild([qm], ["big"], tmp_path, sanitize=True)
    codes = np.random.default_rng(0).integers(0, 256, size=(16,) + qm.input_shape)
    expected, got = qm.predict(codes), build.run(0, codes)
    for idx in np.argwhere(expected != got)[:10]:
        print(f"{tuple(idx)} interpreter {expected[tuple(idx)]}, C++ {got[tuple(idx)]}")
    assert np.array_equal(expected, got)
