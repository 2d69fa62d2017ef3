"""The .dmc file: a versioned, self-describing container for an IntModel (format in FORMAT.md).

A model file is input from strangers: it is parsed, never unpickled. Every length, offset,
dtype, shape and reference is checked before use, so a truncated, corrupt or newer file gives
an :class:`ArtifactError` that says what is wrong, and opening a file cannot run code.
"""
from __future__ import annotations

import json
import math
import os
import struct
import zlib

import numpy as np

from .errors import ArtifactError
from .intmodel import DYNAMIC, OPS, STATIC, IntModel
from .packing import packed_size

MAGIC = b"DMC\x00"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<4sHHII")          # magic, version, flags, header bytes, data bytes
_DTYPES = {"u1": np.uint8, "i1": np.int8, "i2": np.int16, "u2": np.uint16, "i4": np.int32, "f4": np.float32}
_ALIGN = 4


def dumps(model: IntModel) -> bytes:
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


def save(model: IntModel, path) -> None:
    """Write ``model`` to ``path`` atomically (a partial file never replaces a good one)."""
    data = dumps(model)
    validate(loads(data))
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load(path) -> IntModel:
    """Read a .dmc file, checking it thoroughly (see :func:`loads`)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ArtifactError(f"cannot read model file '{path}': {e.strerror}") from None
    try:
        return loads(data)
    except ArtifactError as e:
        raise ArtifactError(f"{path}: {e}") from None


def loads(data: bytes) -> IntModel:
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
    model = _from_header(header, blob)
    validate(model)
    return model


def _need(d, key, types, where):
    if not isinstance(d, dict) or key not in d:
        raise ArtifactError(f"{where}: missing key '{key}'")
    v = d[key]
    if not isinstance(v, types) or isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ArtifactError(f"{where}: '{key}' has type {type(v).__name__}")
    return v


def _from_header(h, blob) -> IntModel:
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
    return IntModel(scheme, _need(h, "tensors", dict, "header"), _need(h, "ops", list, "header"), arrays,
                    _need(h, "output", str, "header"), meta)


def validate(m: IntModel) -> None:
    """Structural checks that make the interpreter and the code generator safe to run."""
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
            if not scale > 0 or not 0 <= zp < (1 << bits):
                raise ArtifactError(f"{where}: invalid scale {scale} or zero point {zp}")
    if not m.ops or not isinstance(m.ops[0], dict) or m.ops[0].get("op") != "input":
        raise ArtifactError("the first op must be the input")
    seen = set()
    for i, op in enumerate(m.ops):
        where = f"op {i}"
        name = _need(op, "name", str, where)
        where = f"op {i} ('{name}')"
        kind = _need(op, "op", str, where)
        if kind not in OPS or (kind == "input" and i):
            raise ArtifactError(f"{where}: unknown op '{kind}'")
        inputs = _need(op, "inputs", list, where)
        attrs = _need(op, "attrs", dict, where)
        want = {"input": 0, "add": 2}.get(kind, 1)
        if len(inputs) != want or any(not isinstance(x, str) or x not in seen for x in inputs):
            raise ArtifactError(f"{where}: inputs {inputs} must be {want} earlier tensors")
        if name in seen or name not in m.tensors:
            raise ArtifactError(f"{where}: output tensor is duplicated or has no tensor entry")
        seen.add(name)
        if kind in ("conv2d", "linear"):
            _check_weighted(m, op, attrs, where, static)
        elif kind in ("maxpool2d", "avgpool2d"):
            for key in ("kernel", "stride", "padding"):
                _need(attrs, key, list, where)
        if static and kind in ("avgpool2d", "gap"):
            _need(attrs, "multiplier", int, where), _need(attrs, "shift", int, where)
        if static and kind in ("add", "clamp"):
            _need(attrs, "clamp", list, where)
        if kind == "add" and static:
            _need(attrs, "multipliers", list, where), _need(attrs, "shift", int, where)
    if m.output not in seen:
        raise ArtifactError(f"output tensor '{m.output}' is not produced by any op")


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
    needs = {"weight": (np.uint8, packed_size(math.prod(shape), bits))}
    if static:
        needs.update(bias=(np.int32, oc), multiplier=(np.int16, None), shift=(np.uint8, None))
        _need(attrs, "clamp", list, where)
    else:
        needs.update(bias=(np.float32, oc), weight_scale=(np.float32, None))
    for key, (dtype, size) in needs.items():
        a = m.arrays.get(f"{name}.{key}")
        if a is None:
            raise ArtifactError(f"{where}: array '{name}.{key}' is missing")
        if a.dtype != dtype or (size is not None and a.size != size) or (size is None and a.size not in (1, oc)):
            raise ArtifactError(f"{where}: array '{name}.{key}' has {a.size} elements of {a.dtype}")
    if op["op"] == "conv2d":
        for key in ("stride", "padding", "dilation"):
            _need(attrs, key, list, where)
