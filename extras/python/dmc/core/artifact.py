"""The .dmc file: a versioned, self-describing container for an integer model (format in FORMAT.md).

This module turns bytes into the plain parts of a model (scheme, tensors, ops, arrays, output,
meta) and checks them; :mod:`dmc.core.intmodel` builds the IntModel from those parts, so the
file format never needs the interpreter.

A model file is input from strangers: it is parsed, never unpickled. Every length, offset,
dtype, shape and reference is checked before use, so a truncated, corrupt or newer file gives
an :class:`ArtifactError` that says what is wrong, and opening a file cannot run code.
"""
from __future__ import annotations

import json
import math
import os
import re
import struct
import zlib
from types import SimpleNamespace

import numpy as np

from ..errors import ArtifactError
from .packing import packed_size
from .schema import DYNAMIC, HARD_FRAC_BITS_MAX, HARD_OFFSET_MAX, OPS, STATIC, WEIGHTED_OPS
from .weights import STORAGES, decode_weight, sparse_arrays

MAGIC = b"DMC\x00"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<4sHHII")          # magic, version, flags, header bytes, data bytes
_DTYPES = {"u1": np.uint8, "i1": np.int8, "i2": np.int16, "u2": np.uint16, "i4": np.int32, "f4": np.float32}
_ALIGN = 4
_F32_MAX = float(np.finfo(np.float32).max)
MAX_ELEMENTS = 1 << 26            # per tensor: a sanity bound against crafted shapes
# An op's alias names its constants in the generated C++ (w_<alias>, a_<alias>, ...): it must be
# an identifier, unique, and not one of the positional names (step<i>) the code generator uses.
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_POSITIONAL = re.compile(r"step[0-9]+")


def dumps(model) -> bytes:
    """The bytes of ``model`` (anything with scheme, tensors, ops, arrays, output and meta)."""
    table, chunks, offset = {}, [], 0
    for name in sorted(model.arrays):
        a = np.ascontiguousarray(model.arrays[name])
        code = a.dtype.str.lstrip("<>|=")
        if code not in _DTYPES:
            raise ArtifactError(f"array '{name}' has unsupported dtype {a.dtype}")
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        table[name] = {"dtype": code, "shape": list(a.shape), "offset": offset, "nbytes": len(raw)}
        pad = (-len(raw)) % _ALIGN
        chunks.append(raw + b"\0" * pad)
        offset += len(raw) + pad
    header = {"format": "dmc", "version": FORMAT_VERSION, "scheme": model.scheme, "output": model.output,
              "tensors": model.tensors, "ops": model.ops, "arrays": table, "meta": model.meta}
    hbytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    hbytes += b" " * ((-len(hbytes)) % _ALIGN)
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(hbytes), offset) + hbytes + b"".join(chunks)
    return body + struct.pack("<I", zlib.crc32(body))


def save(model, path) -> None:
    """Write ``model`` to ``path`` atomically (a partial file never replaces a good one)."""
    data = dumps(model)
    loads(data)          # what is written must read back and pass every check
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load(path) -> dict:
    """Read a .dmc file into model parts, checking it thoroughly (see :func:`loads`)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ArtifactError(f"cannot read model file '{path}': {e.strerror}") from None
    try:
        return loads(data)
    except ArtifactError as e:
        raise ArtifactError(f"{path}: {e}") from None


def loads(data: bytes) -> dict:
    """Model parts (the keyword arguments of IntModel) from a .dmc file's bytes; every length,
    offset, reference and constant is checked first."""
    n = len(data)
    if n < _PREFIX.size + 4:
        raise ArtifactError(f"file is truncated: {n} bytes is shorter than the {_PREFIX.size + 4}-byte frame")
    magic, version, flags, hlen, dlen = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise ArtifactError(f"not a .dmc model file: starts with {magic!r}, expected {MAGIC!r}")
    if version > FORMAT_VERSION:
        raise ArtifactError(f"written in .dmc format version {version}; this dmc reads versions up to "
                            f"{FORMAT_VERSION}: upgrade dmc to open it")
    if version < 1:
        raise ArtifactError(f"invalid format version {version}")
    expected = _PREFIX.size + hlen + dlen + 4
    if n < expected:
        raise ArtifactError(f"file is truncated: the header announces {expected} bytes, the file has {n}")
    if n > expected:
        raise ArtifactError(f"file has {n - expected} unexpected trailing bytes after byte {expected}")
    stored = struct.unpack_from("<I", data, n - 4)[0]
    actual = zlib.crc32(data[:n - 4])
    if stored != actual:
        raise ArtifactError(f"checksum mismatch (stored {stored:#010x}, computed {actual:#010x}): the file is corrupt")
    try:
        header = json.loads(data[_PREFIX.size:_PREFIX.size + hlen].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"header is not valid JSON: {e}") from None
    except RecursionError:
        raise ArtifactError("header JSON is nested too deeply") from None
    blob = memoryview(data)[_PREFIX.size + hlen:_PREFIX.size + hlen + dlen]
    parts = _from_header(header, blob)
    validate(SimpleNamespace(**parts))
    return parts


def _need(d, key, types, where):
    if not isinstance(d, dict) or key not in d:
        raise ArtifactError(f"{where}: missing key '{key}'")
    v = d[key]
    if not isinstance(v, types) or isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ArtifactError(f"{where}: '{key}' has type {type(v).__name__}")
    return v


def _from_header(h, blob) -> dict:
    if not isinstance(h, dict) or h.get("format") != "dmc":
        raise ArtifactError("header is not a dmc model header")
    scheme = _need(h, "scheme", str, "header")
    if scheme not in (STATIC, DYNAMIC):
        raise ArtifactError(f"header: unknown scheme '{scheme}'")
    arrays = {}
    for name, spec in _need(h, "arrays", dict, "header").items():
        where = f"array '{name}'"
        code = _need(spec, "dtype", str, where)
        if code not in _DTYPES:
            raise ArtifactError(f"{where}: unsupported dtype '{code}'")
        shape = _need(spec, "shape", list, where)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ArtifactError(f"{where}: invalid shape {shape}")
        off, nb = _need(spec, "offset", int, where), _need(spec, "nbytes", int, where)
        dt = np.dtype(_DTYPES[code]).newbyteorder("<")
        if nb != math.prod(shape) * dt.itemsize:
            raise ArtifactError(f"{where}: {nb} bytes do not hold a {code} array of shape {shape}")
        if off < 0 or off + nb > len(blob):
            raise ArtifactError(f"{where}: bytes [{off}, {off + nb}) lie outside the {len(blob)}-byte data section")
        arrays[name] = np.frombuffer(blob[off:off + nb], dtype=dt).astype(_DTYPES[code]).reshape(shape)
    meta = h.get("meta", {})
    if not isinstance(meta, dict):
        raise ArtifactError(f"header: 'meta' has type {type(meta).__name__}")
    return {"scheme": scheme, "tensors": _need(h, "tensors", dict, "header"), "ops": _need(h, "ops", list, "header"),
            "arrays": arrays, "output": _need(h, "output", str, "header"), "meta": meta}


def validate(m) -> None:
    """Structural checks that make the interpreter and the code generator safe to run (``m`` has
    the attributes scheme, tensors, ops, arrays and output)."""
    static = m.scheme == STATIC
    for name, t in m.tensors.items():
        where = f"tensor '{name}'"
        shape = _need(t, "shape", list, where)
        if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
            raise ArtifactError(f"{where}: invalid shape {shape}")
        if static:
            bits = _need(t, "bits", int, where)
            if bits not in (8, 4, 2):
                raise ArtifactError(f"{where}: unsupported activation bit width {bits}")
            scale = _need(t, "scale", (float, int), where)
            zp = _need(t, "zero_point", int, where)
            if not _float32_scale(scale) or not 0 <= zp < (1 << bits):
                raise ArtifactError(f"{where}: invalid scale {scale} or zero point {zp}")
        if math.prod(shape) > MAX_ELEMENTS:
            raise ArtifactError(f"{where}: shape {shape} has more than {MAX_ELEMENTS} elements")
    if not m.ops or not isinstance(m.ops[0], dict) or m.ops[0].get("op") != "input":
        raise ArtifactError("the first op must be the input")
    seen, aliases = set(), set()
    for i, op in enumerate(m.ops):
        where = f"op {i}"
        name = _need(op, "name", str, where)
        where = f"op {i} ({name!r})"
        kind = _need(op, "op", str, where)
        if kind not in OPS or (kind == "input" and i):
            raise ArtifactError(f"{where}: unknown op '{kind}'")
        inputs = _need(op, "inputs", list, where)
        attrs = _need(op, "attrs", dict, where)
        want = {"input": 0, "add": 2, "mul": 2}.get(kind, 1)
        if len(inputs) != want or any(not isinstance(x, str) or x not in seen for x in inputs):
            raise ArtifactError(f"{where}: inputs {inputs} must be {want} earlier tensors")
        if name in seen or name not in m.tensors:
            raise ArtifactError(f"{where}: output tensor is duplicated or has no tensor entry")
        seen.add(name)
        if "alias" in attrs or kind in WEIGHTED_OPS:
            alias = _need(attrs, "alias", str, where)
            if not _ALIAS.fullmatch(alias) or _POSITIONAL.fullmatch(alias) or alias in aliases:
                raise ArtifactError(f"{where}: alias {alias!r} must be a unique identifier (letters, digits, '_') "
                                    "other than step<N>")
            aliases.add(alias)
        if kind in WEIGHTED_OPS:
            _check_weighted(m, op, attrs, where, static)
        _check_semantics(m, op, attrs, where, static)
        if kind in WEIGHTED_OPS and not static:  # (static: _check_accumulator decoded them)
            _in_shape_weight(m, op)
    if m.output not in seen:
        raise ArtifactError(f"output tensor '{m.output}' is not produced by any op")


def _float32_scale(v) -> bool:
    """A scale the device can hold: positive and finite as a float32 (an int of any size or a
    double beyond float32's range is not)."""
    return isinstance(v, (int, float)) and 0 < v <= _F32_MAX and bool(np.float32(v) > 0)


def _check_weighted(m, op, attrs, where, static):
    name = op["name"]
    bits = _need(attrs, "weight_bits", int, where)
    if bits not in (8, 4, 2):
        raise ArtifactError(f"{where}: unsupported weight bit width {bits}")
    shape = _need(attrs, "weight_shape", list, where)
    if len(shape) != (4 if op["op"] == "conv2d" else 2) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ArtifactError(f"{where}: invalid weight_shape {shape}")
    oc = shape[0]
    storage = attrs.get("storage", "dense")
    if storage not in STORAGES:
        raise ArtifactError(f"{where}: unknown weight storage {storage!r}; expected one of {list(STORAGES)}")
    if storage == "dcsr" and attrs.get("groups", 1) != 1:
        raise ArtifactError(f"{where}: sparse (dcsr) weights are not supported for grouped convolutions")
    if storage == "dcsr":
        stream = sparse_arrays(op)[0].rsplit(".", 1)[1]  # weight_taps (conv2d) or weight_stream (linear)
        needs = {stream: (np.uint8, None), "weight_rows": (np.uint16, oc)}
    else:
        stream, needs = None, {"weight": (np.uint8, packed_size(math.prod(shape), bits))}
    if static:
        needs.update(bias=(np.int32, oc), multiplier=(np.int16, None), shift=(np.uint8, None))
        _need(attrs, "clamp", list, where)
    else:
        needs.update(bias=(np.float32, oc), weight_scale=(np.float32, None))
    for key, (dtype, size) in needs.items():
        a = m.arrays.get(f"{name}.{key}")
        if a is None:
            raise ArtifactError(f"{where}: array '{name}.{key}' is missing")
        if a.ndim != 1:             # the interpreter and the kernels read flat vectors
            raise ArtifactError(f"{where}: array '{name}.{key}' must be one-dimensional, has shape {list(a.shape)}")
        if a.dtype != dtype or (size is not None and a.size != size) or (
                size is None and key != stream and a.size not in (1, oc)):
            raise ArtifactError(f"{where}: array '{name}.{key}' has {a.size} elements of {a.dtype}")
    if op["op"] == "conv2d":
        for key in ("stride", "padding", "dilation"):
            _need(attrs, key, list, where)


def _ints(attrs, key, n, lo, hi, where):
    v = _need(attrs, key, list, where)
    if len(v) != n or not all(isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi for x in v):
        raise ArtifactError(f"{where}: '{key}' must be {n} integers in [{lo}, {hi}], got {v}")
    return v


def _int(attrs, key, lo, hi, where):
    v = _need(attrs, key, int, where)
    if isinstance(v, bool) or not lo <= v <= hi:
        raise ArtifactError(f"{where}: '{key}' must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def _check_semantics(m, op: dict, attrs: dict, where: str, static: bool) -> None:
    """Shapes agree across ops and every constant lies in the range the kernels assume."""
    kind, name = op["op"], op["name"]
    out = m.tensors[name]["shape"]
    src = m.tensors[op["inputs"][0]]["shape"] if op["inputs"] else None

    def expect(shape):
        if list(shape) != list(out):
            raise ArtifactError(f"{where}: output shape {out} does not follow from input {src} (expected {list(shape)})")

    def same_quant(other):
        if static and any(m.tensors[other].get(k) != m.tensors[name].get(k) for k in ("bits", "scale", "zero_point")):
            raise ArtifactError(f"{where}: must keep the scale, zero point and bits of its input '{other}'")

    def clamp_ok():
        if static:
            qmax = (1 << m.tensors[name]["bits"]) - 1
            lo, hi = _ints(attrs, "clamp", 2, 0, qmax, where)
            if lo > hi:
                raise ArtifactError(f"{where}: clamp [{lo}, {hi}] is empty")
        act = attrs.get("act")
        if act not in (None, "relu", "relu6"):
            raise ArtifactError(f"{where}: unknown activation {act!r}")

    def requant_ok():
        if static:
            _int(attrs, "multiplier", 1, 32767, where)
            _int(attrs, "shift", 1, 62, where)

    if kind == "input":
        if len(out) not in (1, 3):
            raise ArtifactError(f"{where}: input shape {out} must be [C, H, W] or [features]")
    elif kind == "conv2d":
        if len(src) != 3:
            raise ArtifactError(f"{where}: input {src} is not [C, H, W]")
        oc, icg, kh, kw = attrs["weight_shape"]
        sh, sw = _ints(attrs, "stride", 2, 1, 255, where)
        dh, dw = _ints(attrs, "dilation", 2, 1, 255, where)
        t, b, l, r = _ints(attrs, "padding", 4, 0, 255, where)
        if not isinstance(attrs.get("depthwise"), bool):
            raise ArtifactError(f"{where}: 'depthwise' must be true or false")
        groups = _int(attrs, "groups", 1, 65535, where) if "groups" in attrs else 1
        if attrs["depthwise"] and (icg != 1 or oc != src[0] or groups != 1) or \
                not attrs["depthwise"] and (icg * groups != src[0] or oc % groups):
            raise ArtifactError(f"{where}: weight shape {attrs['weight_shape']} (groups {groups}, depthwise "
                                f"{attrs['depthwise']}) does not match input channels {src[0]}")
        oh = (src[1] + t + b - dh * (kh - 1) - 1) // sh + 1
        ow = (src[2] + l + r - dw * (kw - 1) - 1) // sw + 1
        expect([oc, oh, ow])
        clamp_ok()
    elif kind == "linear":
        if attrs["weight_shape"][1] != math.prod(src) or len(src) != 1:
            raise ArtifactError(f"{where}: weight shape {attrs['weight_shape']} does not match input {src}")
        expect([attrs["weight_shape"][0]])
        clamp_ok()
    elif kind in ("maxpool2d", "avgpool2d"):
        if len(src) != 3:
            raise ArtifactError(f"{where}: input {src} is not [C, H, W]")
        kh, kw = _ints(attrs, "kernel", 2, 1, 255, where)
        sh, sw = _ints(attrs, "stride", 2, 1, 255, where)
        ph, pw = _ints(attrs, "padding", 2, 0, 127, where)
        if 2 * ph > kh or 2 * pw > kw:
            raise ArtifactError(f"{where}: padding {[ph, pw]} exceeds half the kernel {[kh, kw]}")
        expect([src[0], (src[1] + 2 * ph - kh) // sh + 1, (src[2] + 2 * pw - kw) // sw + 1])
        same_quant(op["inputs"][0])
        if kind == "avgpool2d":
            requant_ok()
    elif kind == "gap":
        if len(src) != 3:
            raise ArtifactError(f"{where}: input {src} is not [C, H, W]")
        expect([src[0], 1, 1])
        same_quant(op["inputs"][0])
        requant_ok()
    elif kind == "add":
        for other in op["inputs"]:
            if m.tensors[other]["shape"] != out:
                raise ArtifactError(f"{where}: input '{other}' has shape {m.tensors[other]['shape']}, output {out}")
        if static:
            _ints(attrs, "multipliers", 2, 0, 32767, where)
            _int(attrs, "shift", 1, 62, where)
        clamp_ok()
    elif kind == "clamp":
        expect(src)
        same_quant(op["inputs"][0])
        clamp_ok()
    elif kind == "pad":
        if len(src) != 3:
            raise ArtifactError(f"{where}: input {src} is not [C, H, W]")
        t, b, l, r = _ints(attrs, "padding", 4, 0, 255, where)
        expect([src[0], src[1] + t + b, src[2] + l + r])
        same_quant(op["inputs"][0])
        if static:
            _int(attrs, "value", 0, (1 << m.tensors[name]["bits"]) - 1, where)
        elif not isinstance(attrs.get("value"), (int, float)):
            raise ArtifactError(f"{where}: 'value' must be a number")
    elif kind == "flatten":
        expect([math.prod(src)])
        same_quant(op["inputs"][0])
    elif kind == "shift":
        if len(src) != 3:
            raise ArtifactError(f"{where}: input {src} is not [C, H, W]")
        counts = _ints(attrs, "counts", 4, 0, 65535, where)
        if sum(counts) > src[0]:
            raise ArtifactError(f"{where}: counts {counts} shift more than the {src[0]} channels")
        expect(src)
        same_quant(op["inputs"][0])
    elif kind in ("hardsigmoid", "hardswish"):
        expect(src)
        if static:
            _int(attrs, "frac_bits", 0, HARD_FRAC_BITS_MAX, where)
            offset = _int(attrs, "offset", 1, HARD_OFFSET_MAX, where)
            requant_ok()
            t = m.tensors[op["inputs"][0]]
            xmax = 1 if kind == "hardsigmoid" else max(t["zero_point"], (1 << t["bits"]) - 1 - t["zero_point"])
            if 2 * offset * xmax > (1 << 31) - 1:
                raise ArtifactError(f"{where}: the accumulator can reach {2 * offset * xmax}, beyond int32")
    elif kind == "mul":
        gate = m.tensors[op["inputs"][1]]["shape"]
        if len(src) != 3 or list(gate) != [src[0], 1, 1]:
            raise ArtifactError(f"{where}: multiplies {src} by {gate}; the gate must be [C, 1, 1] for a [C, H, W] input")
        expect(src)
        requant_ok()
    if static and kind in ("conv2d", "linear"):
        _check_accumulator(m, op, where)


def _in_shape_weight(m, op: dict) -> np.ndarray:
    """The op's weights, decoded once its attributes and input shape are checked: every count,
    length, column and (conv2d) input offset of a sparse stream is checked, so the device never
    reads outside its row or its input window."""
    return decode_weight(m.arrays, op, m.tensors[op["inputs"][0]]["shape"])


def _check_accumulator(m, op: dict, where: str) -> None:
    """Recompute the worst-case accumulator from the stored integers: a file cannot make the
    interpreter or the device overflow int32, whatever its header claims."""
    a = op["attrs"]
    w = np.abs(_in_shape_weight(m, op).astype(np.int64)).reshape(a["weight_shape"][0], -1).sum(1)
    t = m.tensors[op["inputs"][0]]
    xmax = max(t["zero_point"], (1 << t["bits"]) - 1 - t["zero_point"])
    bound = int((w * xmax + np.abs(m.arrays[f"{op['name']}.bias"].astype(np.int64))).max())
    if bound > (1 << 31) - 1:
        raise ArtifactError(f"{where}: the accumulator can reach {bound}, beyond int32")
    mult, shift = m.arrays[f"{op['name']}.multiplier"], m.arrays[f"{op['name']}.shift"]
    if mult.size and (mult.min() < 1 or shift.min() < 1 or shift.max() > 62):
        raise ArtifactError(f"{where}: requantization multipliers must be positive and shifts in [1, 62]")
