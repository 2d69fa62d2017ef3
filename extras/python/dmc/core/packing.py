"""Fixed-length bit packing: the one definition shared with the C++ runtime (include/dmc/packing.h).

Contract
--------
* A tensor is packed as one flat stream of ``n`` elements of ``bits`` bits (8, 4 or 2), in the
  tensor's row-major (C-contiguous) order. Rows are NOT padded: element ``i`` lives in byte
  ``i * bits // 8`` at bit offset ``(i * bits) % 8``, least-significant bits first.
* Only the last byte is padded, with zero bits.
* Signed values (weights) are stored in two's complement in ``bits`` bits and sign-extended on
  unpacking; unsigned values (activations) are stored as they are.

Worked example: 4-bit [1, 2, 3, 4] -> bytes [0x21, 0x43]; 2-bit [1, 2, 3] -> [0x39];
signed 4-bit [-1, 7] -> [0x7F].

>>> pack([1, 2, 3, 4], 4).hex()
'2143'
>>> pack([1, 2, 3], 2).hex()
'39'
>>> pack([-1, 7], 4, signed=True).hex()
'7f'
>>> unpack(bytes([0x7F]), 4, 2, signed=True).tolist()
[-1, 7]
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError

SUPPORTED_BITS = (8, 4, 2)


def value_range(bits: int, signed: bool) -> tuple[int, int]:
    """Range of values a ``bits``-bit field can hold: two's complement when signed."""
    _check_bits(bits)
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def packed_size(n: int, bits: int) -> int:
    """Bytes needed to pack ``n`` elements of ``bits`` bits."""
    _check_bits(bits)
    return (n * bits + 7) // 8


def pack(values, bits: int, signed: bool = False) -> bytes:
    """Pack integers into bytes following the contract in the module docstring."""
    _check_bits(bits)
    v = np.asarray(values)
    if v.size and not np.issubdtype(v.dtype, np.integer):
        raise DataError(f"pack: expected integer values, got dtype {v.dtype}")
    v = v.astype(np.int64).ravel()
    lo, hi = value_range(bits, signed)
    if v.size and (v.min() < lo or v.max() > hi):
        bad = int(np.flatnonzero((v < lo) | (v > hi))[0])
        raise DataError(
            f"pack: value {int(v[bad])} at index {bad} does not fit {bits}-bit "
            f"{'signed' if signed else 'unsigned'} range [{lo}, {hi}]")
    fields = (v & ((1 << bits) - 1)).astype(np.uint8)
    per_byte = 8 // bits
    pad = (-fields.size) % per_byte
    if pad:
        fields = np.concatenate([fields, np.zeros(pad, np.uint8)])
    fields = fields.reshape(-1, per_byte)
    shifts = (np.arange(per_byte, dtype=np.uint8) * bits).astype(np.uint8)
    out = np.bitwise_or.reduce(fields << shifts, axis=1) if per_byte > 1 else fields[:, 0]
    return out.astype(np.uint8).tobytes()


def unpack(data, bits: int, n: int, signed: bool = False) -> np.ndarray:
    """Inverse of :func:`pack`: the first ``n`` elements as int32 (sign-extended when signed)."""
    _check_bits(bits)
    buf = np.frombuffer(bytes(data), dtype=np.uint8)
    need = packed_size(n, bits)
    if buf.size < need:
        raise DataError(f"unpack: {n} elements of {bits} bits need {need} bytes, got {buf.size}")
    per_byte = 8 // bits
    shifts = (np.arange(per_byte, dtype=np.uint8) * bits).astype(np.uint8)
    fields = ((buf[:need, None] >> shifts) & ((1 << bits) - 1)).reshape(-1)[:n].astype(np.int32)
    if signed:
        sign = 1 << (bits - 1)
        fields = (fields ^ sign) - sign
    return fields


def _check_bits(bits: int) -> None:
    if bits not in SUPPORTED_BITS:
        raise DataError(f"bit width {bits!r} is not supported; use one of {SUPPORTED_BITS}")
