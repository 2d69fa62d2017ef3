"""Nibble-step CSR ("mcsr"): an index coding for chips without SIMD gathers (AVR, Cortex-M0..M4).

Each row is a sequence of 4-bit codes read one after another while a column pointer starts at
-1: code c in 0..14 moves the pointer by c + 1 and multiplies the next value; code 15 moves it by
15 and stores no value (an escape for gaps longer than 15). Codes come two per byte (first in the
low nibble); a row with an odd count ends with an escape, so every row starts on a byte.

The stream interleaves codes and values so that a kernel walks ONE flash pointer (on AVR only Z
can read flash): each code byte is followed by the values of its non-escape codes -- with 8-bit
values one byte per value, with 4- and 2-bit values one byte holding them in successive fields
from the least-significant bit (present only when the code byte has a non-escape code).
Arrays: ``row_bytes`` (uint16 per row: its code bytes) and ``stream`` (uint8). A kernel needs
one flash byte per two codes plus the values, an add and a branch per code: no division, no
gather, no per-group set-up.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import SparseMatrix, nonzeros
from .values import check_matrix

ESCAPE = 15


def _value_bytes(code_byte: np.ndarray, value_bits: int) -> np.ndarray:
    """Value bytes that follow each code byte."""
    real = ((code_byte & 15) != ESCAPE).astype(np.int64) + ((code_byte >> 4) != ESCAPE)
    return real if value_bits == 8 else (real > 0).astype(np.int64)


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
    slot = row_start[rows_of] + within  # nibble position of each nonzero's own code
    codes[slot] = gap - 1 - ESCAPE * esc
    code_bytes = (codes[0::2] | (codes[1::2] << 4)).astype(np.uint8)
    extra = _value_bytes(code_bytes, value_bits)
    start = np.concatenate([[0], np.cumsum(1 + extra)])  # position of each code byte
    stream = np.zeros(int(start[-1]), np.int64)
    stream[start[:-1]] = code_bytes
    k = slot // 2
    second = (slot % 2 == 1) & ((code_bytes[k] & 15) != ESCAPE)  # the byte's earlier code is real too
    field = (vals & ((1 << value_bits) - 1))
    if value_bits == 8:
        stream[start[k] + 1 + second] = field
    else:
        np.add.at(stream, start[k] + 1, field << (value_bits * second))
    return MCSR("mcsr", m.shape, value_bits, int(vals.size), int(vals.size), {
        "row_bytes": bytes_per_row.astype("<u2"),
        "stream": stream.astype(np.uint8),
    })


def split_stream(stream: np.ndarray, row_bytes: np.ndarray, value_bits: int, what: str = "mcsr"):
    """(code bytes, value fields as unsigned ints) of an interleaved stream, checking its length."""
    stream = np.asarray(stream, np.uint8)
    n_codes = int(np.asarray(row_bytes, np.int64).sum())
    table = _value_bytes(np.arange(256), value_bits)
    pos, code_at = 0, np.empty(n_codes, np.int64)
    lengths = table.tolist()  # walk: each code byte says how many value bytes follow it
    data = stream.tolist()
    for i in range(n_codes):
        if pos >= len(data):
            raise DataError(f"{what}: the stream ends after {len(data)} bytes, inside code byte {i} of {n_codes}")
        code_at[i] = pos
        pos += 1 + lengths[data[pos]]
    if pos > len(data):
        raise DataError(f"{what}: the stream ends after {len(data)} bytes, its codes need {pos}")
    if pos != len(data):
        raise DataError(f"{what}: the codes use {pos} bytes of the stream, {len(data)} stored")
    code_bytes = stream[code_at].astype(np.int64)
    real = np.stack([(code_bytes & 15) != ESCAPE, (code_bytes >> 4) != ESCAPE], axis=1)
    if value_bits == 8:
        idx = code_at[:, None] + 1 + np.array([[0, 0]]) + np.stack([np.zeros_like(code_at), real[:, 0]], 1)
        fields = stream[idx[real]].astype(np.int64)
    else:
        vb = stream[np.minimum(code_at + 1, len(data) - 1)].astype(np.int64)[:, None]
        shift = np.stack([np.zeros_like(code_at), real[:, 0]], 1) * value_bits
        fields = ((vb >> shift) & ((1 << value_bits) - 1))[real]
    return code_bytes, fields


def decode_mcsr(enc: MCSR) -> np.ndarray:
    """The dense matrix, checking the stream's length and that every value lands inside its row."""
    out = decode_arrays(enc.arrays["row_bytes"], enc.arrays["stream"], enc.shape, enc.value_bits)
    n = int(np.count_nonzero(out))
    if n != enc.nnz:
        raise DataError(f"mcsr: the codes hold {n} nonzero values, the header says {enc.nnz}")
    return out


def decode_arrays(row_bytes, stream, shape, value_bits: int) -> np.ndarray:
    """Decode a stored stream (as held in an artifact): every count, length and column is checked."""
    rows, row_len = shape
    per_row = np.asarray(row_bytes).astype(np.int64)
    if per_row.size != rows:
        raise DataError(f"mcsr: {per_row.size} row byte counts for {rows} rows")
    code_bytes, fields = split_stream(stream, per_row, value_bits)
    codes = np.stack([code_bytes & 15, code_bytes >> 4], axis=1).reshape(-1)
    real = codes != ESCAPE
    n = int(real.sum())
    sign = 1 << (value_bits - 1)
    values = (fields ^ sign) - sign
    r = np.repeat(np.arange(rows), 2 * per_row)
    cs = np.cumsum(np.where(real, codes + 1, ESCAPE))
    before = np.concatenate([[0], cs])[np.concatenate([[0], np.cumsum(2 * per_row)])[:-1]]
    pos = cs - before[r] - 1
    if n and pos[real].max() >= row_len:
        bad = int(np.flatnonzero(real & (pos >= row_len))[0])
        raise DataError(f"mcsr: row {r[bad]}, code {bad} points to column {int(pos[bad])} outside a row of {row_len}")
    out = np.zeros(shape, np.int64)
    out[r[real], pos[real]] = values
    return out
