"""How a layer's weights are stored in the artifact and decoded back to signed integers.

One function for the interpreter and for the loader's checks, so both read exactly the weights
the device will read. A layer's ``storage`` attribute says how: ``"dense"`` (the default; array
``<op>.weight``, packed) or ``"dcsr"`` (arrays ``<op>.weight_stream`` and ``<op>.weight_rows``:
the filter matrix, rows = output channels, in nibble-step CSR as defined in FORMAT.md, which
the sparse kernels read as it is).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ArtifactError, DataError
from ..sparse.mcsr import decode_arrays, encode_mcsr
from .packing import pack, unpack

STORAGES = ("dense", "dcsr")
STORAGE_CHOICES = ("auto",) + STORAGES  # "auto": whichever is smaller, chosen at convert time


def store_weight(arrays: dict, name: str, weight, bits: int, storage: str = "dense") -> str:
    """Put the signed integer ``weight`` (out channels first) into ``arrays``; returns the storage used."""
    if storage not in STORAGE_CHOICES:
        raise DataError(f"layer '{name}': storage {storage!r} is not one of {list(STORAGE_CHOICES)}")
    w = np.asarray(weight, np.int64)
    dense = np.frombuffer(pack(w.ravel(), bits, signed=True), dtype=np.uint8)
    if storage != "dense":
        enc = encode_mcsr(w.reshape(w.shape[0], -1), value_bits=bits)
        if storage == "dcsr" or enc.nbytes < dense.nbytes:
            arrays[f"{name}.weight_stream"] = enc.stream
            arrays[f"{name}.weight_rows"] = enc.row_bytes.astype(np.uint16)
            return "dcsr"
    arrays[f"{name}.weight"] = dense
    return "dense"


def weight_storage(op: dict) -> str:
    return op["attrs"].get("storage", "dense")


def decode_weight(arrays: dict, op: dict) -> np.ndarray:
    """Signed integer weights of a conv2d/linear op, in ``weight_shape``."""
    a = op["attrs"]
    n = math.prod(a["weight_shape"])
    if weight_storage(op) == "dcsr":
        shape = (a["weight_shape"][0], n // a["weight_shape"][0])
        try:
            w = decode_arrays(arrays[f"{op['name']}.weight_rows"], arrays[f"{op['name']}.weight_stream"], shape,
                              a["weight_bits"])
        except DataError as e:
            raise ArtifactError(f"op '{op['name']}': sparse weights: {e}") from None
        return w.astype(np.int32).reshape(a["weight_shape"])
    packed = arrays[f"{op['name']}.weight"]
    return unpack(packed.tobytes(), a["weight_bits"], n, signed=True).reshape(a["weight_shape"])
