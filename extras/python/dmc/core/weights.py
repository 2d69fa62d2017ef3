"""How a layer's weights are stored in the artifact and decoded back to signed integers.

One function for the interpreter and for the loader's checks, so both read exactly the weights
the device will read. A layer's ``storage`` attribute says how: ``"dense"`` (the default; array
``<op>.weight``, packed) or ``"dcsr"``: the filter matrix, rows = output channels, in the
sparse stream its kernel reads as it is (FORMAT.md) -- for a linear op nibble-step CSR (arrays
``<op>.weight_stream`` and ``<op>.weight_rows``), for a conv2d offset CSR over the input
offsets of its taps (arrays ``<op>.weight_taps`` and ``<op>.weight_rows``), which depend on the
input's shape.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ArtifactError, DataError
from ..sparse.mcsr import decode_arrays, encode_mcsr
from ..sparse.ocsr import decode_ocsr_arrays, encode_ocsr
from .packing import pack, unpack

STORAGES = ("dense", "dcsr")
STORAGE_CHOICES = ("auto",) + STORAGES  # "auto": whichever is smaller, chosen at convert time


def conv_tap_offsets(weight_shape, dilation, in_shape) -> np.ndarray:
    """Input offset of each tap (c, ky, kx) of a filter, in its flattened order, relative to the
    window's first input: ``c * in_h * in_w + ky * dh * in_w + kx * dw`` when the dilated kernel
    fits the input (the offsets a kernel adds to its window pointer); otherwise (no window lies
    inside the input, the kernel never reads by offset) the tap's index ``(c * kh + ky) * kw + kx``.
    Both strictly increase with the tap. src/dmc/kernels/sparse_conv2d.h computes the same."""
    _, icg, kh, kw = (int(v) for v in weight_shape)
    _, in_h, in_w = (int(v) for v in in_shape)
    dh, dw = (int(v) for v in dilation)
    if (kh - 1) * dh < in_h and (kw - 1) * dw < in_w:
        plane, row, col = in_h * in_w, dh * in_w, dw
    else:
        plane, row, col = kh * kw, kw, 1
    c, y, x = np.meshgrid(np.arange(icg), np.arange(kh), np.arange(kw), indexing="ij")
    return (c * plane + y * row + x * col).reshape(-1).astype(np.int64)


def store_weight(arrays: dict, name: str, weight, bits: int, storage: str = "dense", tap_offsets=None) -> str:
    """Put the signed integer ``weight`` (out channels first) into ``arrays``; returns the storage
    used. ``tap_offsets`` (see :func:`conv_tap_offsets`) is given for a conv2d, None for a linear."""
    if storage not in STORAGE_CHOICES:
        raise DataError(f"layer '{name}': storage {storage!r} is not one of {list(STORAGE_CHOICES)}")
    w = np.asarray(weight, np.int64)
    dense = np.frombuffer(pack(w.ravel(), bits, signed=True), dtype=np.uint8)
    if storage != "dense":
        matrix = w.reshape(w.shape[0], -1)
        if tap_offsets is None:
            enc, key = encode_mcsr(matrix, value_bits=bits), "weight_stream"
        else:
            enc, key = encode_ocsr(matrix, tap_offsets, value_bits=bits), "weight_taps"
        if storage == "dcsr" or enc.nbytes < dense.nbytes:
            arrays[f"{name}.{key}"] = enc.stream
            rows = enc.row_bytes if tap_offsets is None else enc.row_entries
            arrays[f"{name}.weight_rows"] = rows.astype(np.uint16)
            return "dcsr"
    arrays[f"{name}.weight"] = dense
    return "dense"


def weight_storage(op: dict) -> str:
    return op["attrs"].get("storage", "dense")


def sparse_arrays(op: dict) -> tuple[str, str]:
    """Names of a dcsr op's stream and row table."""
    stream = "weight_taps" if op["op"] == "conv2d" else "weight_stream"
    return f"{op['name']}.{stream}", f"{op['name']}.weight_rows"


def decode_weight(arrays: dict, op: dict, in_shape=None) -> np.ndarray:
    """Signed integer weights of a conv2d/linear op, in ``weight_shape``; a dcsr conv2d needs
    its input's shape ``[C, H, W]``."""
    a = op["attrs"]
    n = math.prod(a["weight_shape"])
    if weight_storage(op) == "dcsr":
        shape = (a["weight_shape"][0], n // a["weight_shape"][0])
        stream, rows = sparse_arrays(op)
        try:
            if op["op"] == "conv2d":
                if in_shape is None or len(in_shape) != 3:
                    raise DataError(f"its input shape {in_shape} is not [C, H, W]")
                offsets = conv_tap_offsets(a["weight_shape"], a.get("dilation", [1, 1]), in_shape)
                w = decode_ocsr_arrays(arrays[rows], arrays[stream], shape, offsets, a["weight_bits"])
            else:
                w = decode_arrays(arrays[rows], arrays[stream], shape, a["weight_bits"])
        except DataError as e:
            raise ArtifactError(f"op '{op['name']}': sparse weights: {e}") from None
        return w.astype(np.int32).reshape(a["weight_shape"])
    packed = arrays[f"{op['name']}.weight"]
    return unpack(packed.tobytes(), a["weight_bits"], n, signed=True).reshape(a["weight_shape"])
