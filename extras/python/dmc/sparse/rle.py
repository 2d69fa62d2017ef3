"""Run-length (relative) indexing, the paper's baseline: 4-bit column distances with padding.

Each entry stores its distance from the previous entry of its row (the first from column 0) in
4 bits. A distance d > 15 is preceded by (d - 1) // 15 padding entries of distance 15 and value
0, so that every stored distance fits 4 bits (the paper's encoder pads exactly while the
remaining distance exceeds 15). Arrays: ``row_entries`` (uint32 per row, the 4 B per row of the
paper's accounting), ``distances`` (nibbles, two per byte across the whole matrix, first in the
low nibble), ``values`` (packed, padding included).
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import SparseMatrix, nonzeros
from .values import check_matrix, pack, pack_nibbles, unpack, unpack_nibbles

MAX_DISTANCE = 15


class RLE(SparseMatrix):
    """A matrix in run-length (relative) indexing."""

    def decode(self) -> np.ndarray:
        rows, cols = self.shape
        per_row = self.arrays["row_entries"].astype(np.int64)
        if per_row.size != rows:
            raise DataError(f"rle: {per_row.size} row entry counts for {rows} rows")
        e = int(per_row.sum())
        dist = unpack_nibbles(self.arrays["distances"], e)
        vals = unpack(self.arrays["values"], self.value_bits, e)
        r = np.repeat(np.arange(rows), per_row)
        cs = np.cumsum(dist)
        before = np.concatenate([[0], cs])[np.concatenate([[0], np.cumsum(per_row)])[:-1]]
        pos = cs - before[r]
        if e and pos.max() >= cols:
            bad = int(np.argmax(pos >= cols))
            raise DataError(f"rle: entry {bad} of row {r[bad]} points to column {pos[bad]} outside a row of {cols}")
        out = np.zeros(self.shape, np.int64)
        real = vals != 0  # padding entries store zeros: nothing to write
        out[r[real], pos[real]] = vals[real]
        return out


def encode_rle(matrix, value_bits: int = 8) -> RLE:
    m = check_matrix(matrix, value_bits)
    rows_of, cols, vals, counts = nonzeros(m)
    first = np.ones(cols.size, bool)
    first[1:] = rows_of[1:] != rows_of[:-1]
    prev = np.where(first, 0, np.concatenate([[0], cols[:-1]]))
    d = cols - prev
    pads = np.maximum(0, (d - 1) // MAX_DISTANCE)
    per_nz = pads + 1
    ends = np.cumsum(per_nz) - 1
    e = int(per_nz.sum())
    dist = np.full(e, MAX_DISTANCE, np.int64)
    dist[ends] = d - MAX_DISTANCE * pads
    stored = np.zeros(e, np.int64)
    stored[ends] = vals
    per_row = np.bincount(rows_of, weights=per_nz, minlength=m.shape[0]).astype(np.int64)
    return RLE("rle", m.shape, value_bits, int(vals.size), e, {
        "row_entries": per_row.astype("<u4"),
        "distances": pack_nibbles(dist),
        "values": pack(stored, value_bits),
    })
