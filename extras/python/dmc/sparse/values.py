"""Input checks and value packing shared by the sparse formats (numpy only).

Values follow the same bit-packing contract as ``dmc/core/packing.py`` and ``src/dmc/packing.h``
(this layer sits below ``core`` and cannot import it): a flat stream of ``bits``-bit two's
complement fields, least-significant bits first, only the last byte padded with zero bits.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError

VALUE_BITS = (8, 4, 2)


def check_matrix(matrix, value_bits: int, what: str = "matrix") -> np.ndarray:
    """The matrix as a 2-D int64 array whose values fit ``value_bits`` signed bits, or a DataError."""
    if value_bits not in VALUE_BITS:
        raise DataError(f"{what}: value_bits {value_bits!r} is not supported; use one of {VALUE_BITS}")
    m = np.asarray(matrix)
    if m.ndim != 2:
        raise DataError(f"{what}: expected a 2-D matrix (rows = output channels), got shape {m.shape}")
    if m.dtype == bool:
        m = m.astype(np.int64)
    if m.size and not np.issubdtype(m.dtype, np.integer):
        if not np.issubdtype(m.dtype, np.floating) or not np.all(np.isfinite(m)) or np.any(m != np.round(m)):
            raise DataError(f"{what}: values must be integers (got dtype {m.dtype}); quantize first")
    m = m.astype(np.int64)
    lo, hi = -(1 << (value_bits - 1)), (1 << (value_bits - 1)) - 1
    if m.size and (m.min() < lo or m.max() > hi):
        r, c = np.argwhere((m < lo) | (m > hi))[0]
        raise DataError(f"{what}: value {int(m[r, c])} at [{r}, {c}] does not fit {value_bits}-bit signed [{lo}, {hi}]")
    if m.shape[1] > 0xFFFF:
        raise DataError(f"{what}: {m.shape[1]} columns; at most 65535 are supported")
    return m


def packed_nbytes(n: int, bits: int) -> int:
    """Bytes of ``n`` packed ``bits``-bit fields."""
    return (n * bits + 7) // 8


def pack(values: np.ndarray, bits: int) -> np.ndarray:
    """Signed values -> uint8 array, LSB-first ``bits``-bit fields (the packing contract)."""
    fields = (np.asarray(values, np.int64) & ((1 << bits) - 1)).astype(np.uint8)
    per = 8 // bits
    fields = np.concatenate([fields, np.zeros((-fields.size) % per, np.uint8)]).reshape(-1, per)
    shifts = (np.arange(per) * bits).astype(np.uint8)
    return np.bitwise_or.reduce(fields << shifts, axis=1).astype(np.uint8) if per > 1 else fields[:, 0].copy()


def unpack(buf: np.ndarray, bits: int, n: int) -> np.ndarray:
    """Inverse of :func:`pack`: the first ``n`` fields, sign-extended, as int64."""
    buf = np.asarray(buf, np.uint8)
    if buf.size < packed_nbytes(n, bits):
        raise DataError(f"value stream: {n} values of {bits} bits need {packed_nbytes(n, bits)} bytes, got {buf.size}")
    per = 8 // bits
    shifts = (np.arange(per) * bits).astype(np.uint8)
    f = ((buf[:, None] >> shifts) & ((1 << bits) - 1)).reshape(-1)[:n].astype(np.int64)
    sign = 1 << (bits - 1)
    return (f ^ sign) - sign


def pack_nibbles(nibbles: np.ndarray) -> np.ndarray:
    """Unsigned 4-bit fields -> bytes, the first of each pair in the low nibble."""
    n = np.asarray(nibbles, np.uint8)
    if n.size % 2:
        n = np.concatenate([n, np.zeros(1, np.uint8)])
    return (n[0::2] | (n[1::2] << 4)).astype(np.uint8)


def unpack_nibbles(buf: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`pack_nibbles`: the first ``n`` nibbles as int64."""
    buf = np.asarray(buf, np.uint8)
    if buf.size * 2 < n:
        raise DataError(f"nibble stream: {n} nibbles need {(n + 1) // 2} bytes, got {buf.size}")
    return np.stack([buf & 15, buf >> 4], axis=1).reshape(-1)[:n].astype(np.int64)
