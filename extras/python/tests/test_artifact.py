"""The .dmc file: round trips, and every kind of damage gives an ArtifactError (never another type)."""
from __future__ import annotations

import copy
import json
import pickle
import struct
import zlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dmc
from conftest import mlp, residual_net, static_config
from dmc.core import artifact
from dmc.core.artifact import dumps
from dmc.core.intmodel import loads

PREFIX = struct.Struct("<4sHHII")


@pytest.fixture(scope="module")
def static_model():
    torch.manual_seed(0)
    cal = torch.randn(64, 3, 8, 8)
    cm = dmc.compress(residual_net(), static_config(4, "per_channel", 8), (1, 3, 8, 8), cal)
    return dmc.convert(cm)


@pytest.fixture(scope="module")
def dynamic_model():
    torch.manual_seed(1)
    return dmc.convert(dmc.compress(mlp(), {"quantize": {"scheme": "dynamic", "bitwidth": 2}}, (1, 20)))


@pytest.fixture(scope="module")
def blob(static_model):
    return dumps(static_model)


def split(data: bytes):
    magic, version, flags, hlen, dlen = PREFIX.unpack_from(data)
    header = json.loads(data[PREFIX.size:PREFIX.size + hlen])
    return header, data[PREFIX.size + hlen:PREFIX.size + hlen + dlen]


def build(header, body: bytes, version: int = 1, magic: bytes = b"DMC\x00", header_bytes: bytes | None = None):
    """Assemble a file with a correct length prefix and CRC around any header and data."""
    hb = json.dumps(header).encode() if header_bytes is None else header_bytes
    hb += b" " * ((-len(hb)) % 4)
    out = PREFIX.pack(magic, version, 0, len(hb), len(body)) + hb + body
    return out + struct.pack("<I", zlib.crc32(out))


def assert_artifact_error(data, match=None):
    with pytest.raises(dmc.ArtifactError) as e:
        loads(data)
    if match is not None:
        assert match in str(e.value), str(e.value)
    return str(e.value)


# -- round trips -------------------------------------------------------------------------------------

def test_save_load_round_trip_static(static_model, tmp_path):
    path = tmp_path / "m.dmc"
    static_model.save(path)
    loaded = dmc.load(path)
    x = np.random.default_rng(0).standard_normal((40, 3, 8, 8)).astype(np.float32)
    assert np.array_equal(loaded.predict(x), static_model.predict(x))
    assert np.array_equal(loaded.predict(x, dequantize=True), static_model.predict(x, dequantize=True))
    codes = static_model.quantize_input(x)
    assert np.array_equal(loaded.predict(codes), static_model.predict(x))
    assert loaded.tensors == static_model.tensors and loaded.ops == static_model.ops
    assert loaded.output == static_model.output and loaded.scheme == "static"
    assert loaded.meta == static_model.meta
    assert sorted(loaded.arrays) == sorted(static_model.arrays)
    for k, v in static_model.arrays.items():
        assert loaded.arrays[k].dtype == v.dtype and np.array_equal(loaded.arrays[k], v), k
    assert dumps(loaded) == dumps(static_model)                 # deterministic, lossless
    assert [p.name for p in tmp_path.iterdir()] == ["m.dmc"]     # no temporary file left behind


def test_save_load_round_trip_dynamic(dynamic_model, tmp_path):
    path = tmp_path / "d.dmc"
    dynamic_model.save(path)
    loaded = dmc.load(str(path))
    x = np.random.default_rng(1).standard_normal((30, 20)).astype(np.float32)
    y = loaded.predict(x)
    assert y.dtype == np.float32
    assert np.array_equal(y, dynamic_model.predict(x))


def test_rebuilt_file_loads(blob, static_model):
    """The test's own framing helper is correct, so the failures below are the ones intended."""
    header, body = split(blob)
    m = loads(build(header, body))
    x = np.random.default_rng(2).standard_normal((5, 3, 8, 8)).astype(np.float32)
    assert np.array_equal(m.predict(x), static_model.predict(x))


def test_layout_matches_format_md(blob):
    magic, version, flags, hlen, dlen = PREFIX.unpack_from(blob)
    assert magic == b"DMC\x00" and version == 1 and flags == 0
    assert hlen % 4 == 0 and len(blob) == 16 + hlen + dlen + 4
    assert struct.unpack("<I", blob[-4:])[0] == zlib.crc32(blob[:-4])
    header, _ = split(blob)
    assert header["format"] == "dmc" and header["version"] == 1
    assert all(spec["offset"] % 4 == 0 for spec in header["arrays"].values())


def test_load_uses_loads_and_never_unpickles(blob, tmp_path, monkeypatch):
    path = tmp_path / "m.dmc"
    path.write_bytes(blob)

    def forbidden(*a, **k):
        raise AssertionError("the loader must not unpickle")
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(np, "load", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    calls = []
    real = artifact.loads
    monkeypatch.setattr(artifact, "loads", lambda data: calls.append(len(data)) or real(data))
    m = dmc.load(path)
    assert calls == [len(blob)]
    assert isinstance(m, dmc.IntModel)
    assert b"\x80\x04" not in blob[:16] and blob[:4] == b"DMC\x00"     # not a pickle stream


# -- damaged frames ----------------------------------------------------------------------------------

def test_truncated_file_several_cut_points(blob, tmp_path):
    magic, version, flags, hlen, dlen = PREFIX.unpack_from(blob)
    n = len(blob)
    cuts = sorted({0, 1, 3, 4, 10, 15, 16, 19, 20, 21, 16 + hlen // 2, 16 + hlen, 16 + hlen + 1,
                   16 + hlen + dlen // 2, n - 5, n - 4, n - 1})
    for cut in cuts:
        msg = assert_artifact_error(blob[:cut], "truncated")
        assert str(cut) in msg or cut < 20
    (tmp_path / "t.dmc").write_bytes(blob[:n // 2])
    with pytest.raises(dmc.ArtifactError, match=r"t\.dmc: file is truncated"):
        dmc.load(tmp_path / "t.dmc")


def test_every_single_byte_flip_is_detected(blob):
    for i in range(len(blob)):
        for mask in (0x01, 0x80):
            bad = bytearray(blob)
            bad[i] ^= mask
            with pytest.raises(dmc.ArtifactError):
                loads(bytes(bad))


@pytest.mark.parametrize("where", ["header", "data", "crc"])
def test_flipped_byte_reports_checksum(blob, where):
    _, _, _, hlen, dlen = PREFIX.unpack_from(blob)
    i = {"header": 16 + hlen // 3, "data": 16 + hlen + dlen // 2, "crc": len(blob) - 2}[where]
    bad = bytearray(blob)
    bad[i] ^= 0x10
    assert_artifact_error(bytes(bad), "checksum mismatch")


@pytest.mark.parametrize("magic", [b"DMC\x01", b"PK\x03\x04", b"\x80\x04\x95\x00", b"\x00\x00\x00\x00"])
def test_wrong_magic(blob, magic):
    header, body = split(blob)
    assert_artifact_error(build(header, body, magic=magic), "not a .dmc model file")


@pytest.mark.parametrize("version", [2, 7, 65535])
def test_newer_version_says_upgrade(blob, version):
    header, body = split(blob)
    msg = assert_artifact_error(build(header, body, version=version), "upgrade")
    assert f"version {version}" in msg and "1" in msg


def test_version_zero_is_invalid(blob):
    header, body = split(blob)
    assert_artifact_error(build(header, body, version=0), "invalid format version")


@pytest.mark.parametrize("extra", [b"\x00", b"junk", b"\x00" * 100])
def test_trailing_bytes(blob, extra):
    assert_artifact_error(blob + extra, "trailing")


def test_load_missing_file_and_directory(tmp_path):
    with pytest.raises(dmc.ArtifactError, match="cannot read"):
        dmc.load(tmp_path / "nope.dmc")
    with pytest.raises(dmc.ArtifactError, match="cannot read"):
        dmc.load(tmp_path)


# -- valid frames, broken headers (the CRC is recomputed so that the structural checks are hit) ----

def _first(header, op):
    return next(o for o in header["ops"] if o["op"] == op)


def _mut_offset_outside(h):
    name = next(iter(h["arrays"]))
    h["arrays"][name]["offset"] = 1 << 20


def _mut_negative_offset(h):
    h["arrays"][next(iter(h["arrays"]))]["offset"] = -4


def _mut_nbytes(h):
    spec = h["arrays"][_first(h, "conv2d")["name"] + ".bias"]
    spec["nbytes"] += 4


def _mut_missing_array(h):
    del h["arrays"][_first(h, "conv2d")["name"] + ".weight"]


def _mut_missing_multiplier(h):
    del h["arrays"][_first(h, "linear")["name"] + ".multiplier"]


def _mut_bias_dtype(h):
    h["arrays"][_first(h, "conv2d")["name"] + ".bias"]["dtype"] = "f4"


def _mut_unknown_dtype(h):
    h["arrays"][next(iter(h["arrays"]))]["dtype"] = "f8"


def _mut_unknown_tensor_input(h):
    h["ops"][2]["inputs"] = ["no_such_tensor"]


def _mut_forward_reference(h):
    h["ops"][1]["inputs"] = [h["ops"][3]["name"]]


def _mut_input_not_a_string(h):
    h["ops"][2]["inputs"] = [["nested"]]


def _mut_add_one_input(h):
    op = _first(h, "add")
    op["inputs"] = op["inputs"][:1]


def _mut_op_without_tensor(h):
    h["ops"][2]["name"] = "ghost"


def _mut_duplicate_op(h):
    h["ops"].insert(3, copy.deepcopy(h["ops"][2]))


def _mut_unknown_output(h):
    h["output"] = "nowhere"


def _mut_first_op_not_input(h):
    h["ops"][0], h["ops"][1] = h["ops"][1], h["ops"][0]


def _mut_ops_not_dicts(h):
    h["ops"] = [1, 2, 3]


def _mut_no_ops(h):
    h["ops"] = []


def _mut_unknown_op(h):
    h["ops"][2]["op"] = "softmax"


def _mut_second_input(h):
    h["ops"][2]["op"] = "input"


def _mut_scheme(h):
    h["scheme"] = "float16"


def _mut_format(h):
    h["format"] = "onnx"


def _mut_weight_bits(h):
    _first(h, "conv2d")["attrs"]["weight_bits"] = 3


def _mut_weight_shape_size(h):
    _first(h, "conv2d")["attrs"]["weight_shape"][1] += 1


def _mut_weight_shape_type(h):
    _first(h, "conv2d")["attrs"]["weight_shape"][2] = "3"


def _mut_weight_shape_rank(h):
    _first(h, "linear")["attrs"]["weight_shape"].append(1)


def _mut_activation_bits(h):
    h["tensors"][h["output"]]["bits"] = 16


def _mut_zero_point(h):
    t = h["tensors"][h["output"]]
    t["zero_point"] = 1 << t["bits"]


def _mut_scale(h):
    h["tensors"][h["output"]]["scale"] = -1.0


def _mut_tensor_shape(h):
    h["tensors"][h["output"]]["shape"] = [0]


def _mut_missing_tensors(h):
    del h["tensors"]


def _mut_missing_attrs(h):
    del h["ops"][1]["attrs"]


def _mut_missing_clamp(h):
    del _first(h, "conv2d")["attrs"]["clamp"]


def _mut_missing_add_shift(h):
    del _first(h, "add")["attrs"]["shift"]


def _mut_meta_not_dict(h):
    h["meta"] = ["a", "b"]


def _mut_array_shape_bool(h):
    spec = h["arrays"][_first(h, "linear")["name"] + ".shift"]
    spec["shape"] = [True] * len(spec["shape"])


def _mut_array_shape_huge(h):
    h["arrays"][next(iter(h["arrays"]))]["shape"] = [2 ** 62, 2 ** 62]



# -- headers whose structure is fine but whose numbers do not add up (crafted files) --------------

def _mut_conv_output_shape(h):
    conv = _first(h, "conv2d")
    h["tensors"][conv["name"]]["shape"][1] += 1


def _mut_huge_padding(h):
    _first(h, "conv2d")["attrs"]["padding"] = [1 << 40, 0, 0, 0]


def _mut_zero_stride(h):
    _first(h, "conv2d")["attrs"]["stride"] = [0, 1]


def _mut_empty_clamp(h):
    _first(h, "conv2d")["attrs"]["clamp"] = [200, 100]


def _mut_clamp_beyond_bits(h):
    _first(h, "conv2d")["attrs"]["clamp"] = [0, 300]


def _mut_unknown_activation(h):
    _first(h, "conv2d")["attrs"]["act"] = "gelu"


def _mut_conv_claims_depthwise(h):
    conv = next(o for o in h["ops"] if o["op"] == "conv2d" and not o["attrs"]["depthwise"])
    conv["attrs"]["depthwise"] = True


def _mut_add_multiplier(h):
    _first(h, "add")["attrs"]["multipliers"] = [1 << 20, 1]


def _mut_add_shift(h):
    _first(h, "add")["attrs"]["shift"] = 0


def _mut_gap_changes_scale(h):
    gap = _first(h, "gap")
    h["tensors"][gap["name"]]["scale"] *= 2


def _mut_gap_shape(h):
    gap = _first(h, "gap")
    h["tensors"][gap["name"]]["shape"] = [1, 1, 1]


def _mut_tensor_huge(h):
    h["tensors"][h["ops"][0]["name"]]["shape"] = [1 << 20, 1 << 20, 3]


# found by fuzzing (extras/fuzz): each once escaped as another exception or as broken C++
def _mut_missing_alias(h):
    del _first(h, "conv2d")["attrs"]["alias"]          # was a KeyError in the code generator


def _mut_alias_not_identifier(h):
    _first(h, "conv2d")["attrs"]["alias"] = "w; int x"     # was pasted into C++ identifiers


def _mut_alias_duplicate(h):
    _first(h, "linear")["attrs"]["alias"] = _first(h, "conv2d")["attrs"]["alias"]


def _mut_alias_positional(h):
    _first(h, "conv2d")["attrs"]["alias"] = "step2"        # the code generator's name of step 2


def _mut_scale_huge_int(h):
    h["tensors"][h["ops"][0]["name"]]["scale"] = 10 ** 400      # was an OverflowError


def _mut_scale_beyond_float32(h):
    h["tensors"][h["output"]]["scale"] = 1e39          # was an 'inff' literal in the generated header


SEMANTIC = [
    (_mut_offset_outside, "outside"), (_mut_negative_offset, "outside"), (_mut_nbytes, "do not hold"),
    (_mut_missing_array, "is missing"), (_mut_missing_multiplier, "is missing"), (_mut_bias_dtype, "float32"),
    (_mut_unknown_dtype, "unsupported dtype"), (_mut_unknown_tensor_input, "earlier tensors"),
    (_mut_forward_reference, "earlier tensors"), (_mut_input_not_a_string, "earlier tensors"),
    (_mut_add_one_input, "must be 2"), (_mut_op_without_tensor, "no tensor entry"),
    (_mut_duplicate_op, "duplicated"), (_mut_unknown_output, "not produced"),
    (_mut_first_op_not_input, "first op"), (_mut_ops_not_dicts, "first op"), (_mut_no_ops, "first op"),
    (_mut_unknown_op, "unknown op 'softmax'"), (_mut_second_input, "unknown op 'input'"),
    (_mut_scheme, "unknown scheme"), (_mut_format, "not a dmc model header"),
    (_mut_weight_bits, "weight bit width 3"), (_mut_weight_shape_size, ".weight' has"),
    (_mut_weight_shape_type, "invalid weight_shape"), (_mut_weight_shape_rank, "invalid weight_shape"),
    (_mut_activation_bits, "activation bit width 16"), (_mut_zero_point, "zero point"),
    (_mut_scale, "invalid scale"), (_mut_tensor_shape, "invalid shape"),
    (_mut_missing_tensors, "missing key 'tensors'"), (_mut_missing_attrs, "missing key 'attrs'"),
    (_mut_missing_clamp, "missing key 'clamp'"), (_mut_missing_add_shift, "missing key 'shift'"),
    (_mut_meta_not_dict, "meta"), (_mut_array_shape_bool, "invalid shape"), (_mut_array_shape_huge, "do not hold"),
    (_mut_conv_output_shape, "does not follow"), (_mut_huge_padding, "'padding' must be"),
    (_mut_zero_stride, "'stride' must be"), (_mut_empty_clamp, "is empty"), (_mut_clamp_beyond_bits, "'clamp' must be"),
    (_mut_unknown_activation, "unknown activation"), (_mut_conv_claims_depthwise, "does not match input"),
    (_mut_add_multiplier, "'multipliers' must be"), (_mut_add_shift, "'shift' must be"),
    (_mut_gap_changes_scale, "must keep the scale"), (_mut_gap_shape, "does not follow"),
    (_mut_tensor_huge, "more than"), (_mut_missing_alias, "missing key 'alias'"),
    (_mut_alias_not_identifier, "unique identifier"), (_mut_alias_duplicate, "unique identifier"),
    (_mut_alias_positional, "unique identifier"), (_mut_scale_huge_int, "invalid scale"),
    (_mut_scale_beyond_float32, "invalid scale"),
]


@pytest.mark.parametrize("mutate,match", SEMANTIC, ids=[m.__name__[5:] for m, _ in SEMANTIC])
def test_semantically_broken_header(blob, mutate, match):
    header, body = split(blob)
    mutate(header)
    assert_artifact_error(build(header, body), match)


def test_bias_that_overflows_the_accumulator_is_rejected(blob):
    header, body = split(blob)
    conv = _first(header, "conv2d")
    spec = header["arrays"][conv["name"] + ".bias"]
    body = bytearray(body)
    n = spec["nbytes"] // 4
    body[spec["offset"]:spec["offset"] + spec["nbytes"]] = struct.pack(f"<{n}i", *([2 ** 31 - 1] * n))
    assert_artifact_error(build(header, bytes(body)), "beyond int32")


@pytest.mark.parametrize("raw,match", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b"[1, 2, 3]", "not a dmc model header"),
    (b"null", "not a dmc model header"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
])
def test_header_bytes_that_are_not_a_header(blob, raw, match):
    _, body = split(blob)
    assert_artifact_error(build(None, body, header_bytes=raw), match)


def test_dynamic_model_checks(dynamic_model):
    header, body = split(dumps(dynamic_model))
    del header["arrays"][_first(header, "linear")["name"] + ".weight_scale"]
    assert_artifact_error(build(header, body), "weight_scale' is missing")


def test_dynamic_op_without_act_runs_without_activation(dynamic_model):
    """The checks accept a missing 'act' (as null); the interpreter once raised KeyError on it."""
    header, body = split(dumps(dynamic_model))
    for op in header["ops"]:
        if op["op"] == "linear":
            op["attrs"]["act"] = None
    with_null = loads(build(header, body))
    for op in header["ops"]:
        op["attrs"].pop("act", None)
    without = loads(build(header, body))
    x = np.random.default_rng(4).standard_normal((8, 20)).astype(np.float32)
    assert np.array_equal(without.predict(x), with_null.predict(x))


# -- fuzzing: any mutation of the header gives a model or an ArtifactError -------------------------

def _paths(x, p=()):
    yield p
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _paths(v, p + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _paths(v, p + (i,))


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True),
                 st.text(max_size=4), st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=2)), max_size=3),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                 st.lists(st.lists(st.integers(0, 2), max_size=2), max_size=2))


@settings(max_examples=150)
@given(data=st.data())
def test_fuzzed_header_never_raises_another_exception_type(blob, data):
    header, body = split(blob)
    paths = list(_paths(header))[1:]
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        p = data.draw(st.sampled_from(paths), label="path")
        parent = header
        try:
            for k in p[:-1]:
                parent = parent[k]
            if data.draw(st.booleans(), label="delete") and isinstance(parent, dict):
                del parent[p[-1]]
            else:
                parent[p[-1]] = data.draw(JUNK, label="value")
        except (KeyError, IndexError, TypeError):
            continue                            # an earlier mutation removed this path
    try:
        loads(build(header, body))
    except dmc.ArtifactError:
        pass


@settings(max_examples=100)
@given(data=st.data())
def test_fuzzed_header_bytes_never_raise_another_exception_type(blob, data):
    """Random byte edits inside the header, with length and CRC kept valid."""
    _, _, _, hlen, dlen = PREFIX.unpack_from(blob)
    hb = bytearray(blob[16:16 + hlen])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(hb) - 1))
        hb[i] = data.draw(st.integers(0, 255))
    try:
        loads(build(None, blob[16 + hlen:16 + hlen + dlen], header_bytes=bytes(hb)))
    except dmc.ArtifactError:
        pass
