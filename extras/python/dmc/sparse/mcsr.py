"""Nibble-step CSR ("mcsr"): an index coding for chips without SIMD gathers (AVR, Cortex-M0..M4).

Each row is a sequence of 4-bit codes read one after another while a column pointer starts at
-1: code c in 0..14 moves the pointer by c + 1 and multiplies the next value; code 15 moves it by
15 and stores no value (an escape for gaps longer than 15). A row's codes fill whole bytes (an
odd count ends with an escape, which reads nothing). A kernel therefore needs one flash byte per
two entries, an add and a branch per entry: no division, no gather, no per-group set-up.

Arrays: ``row_bytes`` (uint16 per row: its code bytes), ``codes`` (two codes per byte, first in
the low nibble), ``values`` (packed, real nonzeros only: escapes hold no value).
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import SparseMatrix, nonzeros
from .values import check_matrix, pack, unpack, unpack_nibbles

ESCAPE = 15


class MCSR(SparseMatrix):
    """A matrix in nibble-step CSR."""

    def decode(self) -> np.ndarray:
        return decode_mcsr(self)


def encode_mcsr(matrix, value_bits: int = 8) -> MCSR:
    m = check_matrix(matrix, value_bits)
    rows, row_len = m.shape
    rows_of, cols, vals, counts = nonzeros(m)
    first = np.ones(cols.size, bool)
    first[1:] = rows_of[1:] != rows_of[:-1]
    gap = cols - np.where(first, -1, np.concatenate([[-1], cols[:-1]]))
    esc = (gap - 1) // ESCAPE
    per_nz = esc + 1
    codes_per_row = np.bincount(rows_of, weights=per_nz, minlength=rows).astype(np.int64)
    bytes_per_row = (codes_per_row + 1) // 2
    if bytes_per_row.size and bytes_per_row.max() > 0xFFFF:
        raise DataError("mcsr: a row needs more than 65535 code bytes")
    row_start = np.concatenate([[0], np.cumsum(2 * bytes_per_row)])
    within = np.cumsum(per_nz) - np.concatenate([[0], np.cumsum(codes_per_row)])[rows_of] - 1
    codes = np.full(int(row_start[-1]), ESCAPE, np.int64)
    codes[row_start[rows_of] + within] = gap - 1 - ESCAPE * esc
    packed = (codes[0::2] | (codes[1::2] << 4)).astype(np.uint8)
    return MCSR("mcsr", m.shape, value_bits, int(vals.size), int(vals.size), {
        "row_bytes": bytes_per_row.astype("<u2"),
        "codes": packed,
        "values": pack(vals, value_bits),
    })


def decode_mcsr(enc: MCSR) -> np.ndarray:
    """The dense matrix, checking that every value lands inside its row."""
    rows, row_len = enc.shape
    per_row = enc.arrays["row_bytes"].astype(np.int64)
    if per_row.size != rows:
        raise DataError(f"mcsr: {per_row.size} row byte counts for {rows} rows")
    n_codes = int(2 * per_row.sum())
    if enc.arrays["codes"].size != n_codes // 2:
        raise DataError(f"mcsr: rows need {n_codes // 2} code bytes, {enc.arrays['codes'].size} stored")
    codes = unpack_nibbles(enc.arrays["codes"], n_codes)
    real = codes != ESCAPE
    n = int(real.sum())
    if n != enc.entries:
        raise DataError(f"mcsr: the codes hold {n} values, the header says {enc.entries}")
    values = unpack(enc.arrays["values"], enc.value_bits, n)
    r = np.repeat(np.arange(rows), 2 * per_row)
    cs = np.cumsum(np.where(real, codes + 1, ESCAPE))
    before = np.concatenate([[0], cs])[np.concatenate([[0], np.cumsum(2 * per_row)])[:-1]]
    pos = cs - before[r] - 1
    if n and pos[real].max() >= row_len:
        bad = int(np.flatnonzero(real & (pos >= row_len))[0])
        raise DataError(f"mcsr: row {r[bad]}, code {bad} points to column {int(pos[bad])} outside a row of {row_len}")
    out = np.zeros(enc.shape, np.int64)
    out[r[real], pos[real]] = values
    return out
