"""Offset CSR ("ocsr"): sparse convolution filters as byte steps through the input, for kernels
that must not translate a column into an input position at run time (the AVR conv kernels).

Each column of the matrix has a fixed input offset (for a conv filter: where tap (c, ky, kx)
lies relative to the window's first input, known once the input shape is: see
``dmc.core.weights.conv_tap_offsets``); offsets strictly increase with the column. A row is a
list of entries, each the step from the previous entry's offset (the first from offset 0) as one
byte, and a value. A gap wider than 255 is bridged by padding entries (step 255, value 0), so a
kernel needs no escape test: per entry it adds the step to its input pointer, reads and
multiplies. Entries come in groups of ``8 // value_bits``: the group's value byte (its values
in successive fields from the least-significant bit, unused fields 0), then one step byte per
entry. Arrays: ``row_entries`` (uint16 per row, padding included) and ``stream`` (uint8).
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import SparseMatrix, nonzeros
from .values import check_matrix

MAX_STEP = 255


def group_size(value_bits: int) -> int:
    """Entries per value byte."""
    return 8 // value_bits


def check_offsets(offsets, cols: int) -> np.ndarray:
    off = np.arange(cols, dtype=np.int64) if offsets is None else np.asarray(offsets, np.int64).reshape(-1)
    if off.size != cols:
        raise DataError(f"ocsr: {off.size} column offsets for {cols} columns")
    if off.size and (off[0] < 0 or np.any(np.diff(off) <= 0)):
        raise DataError("ocsr: column offsets must be non-negative and strictly increasing")
    return off


class OCSR(SparseMatrix):
    """A matrix in offset CSR; ``offsets`` (not stored) maps columns to input offsets."""

    offsets: np.ndarray = None

    def decode(self) -> np.ndarray:
        out = decode_ocsr_arrays(self.arrays["row_entries"], self.arrays["stream"], self.shape, self.offsets,
                                 self.value_bits)
        n = int(np.count_nonzero(out))
        if n != self.nnz:
            raise DataError(f"ocsr: the stream holds {n} nonzero values, the header says {self.nnz}")
        return out


def encode_ocsr(matrix, offsets=None, value_bits: int = 8) -> OCSR:
    """Encode ``matrix`` with column ``c`` at input offset ``offsets[c]`` (default: ``c``)."""
    m = check_matrix(matrix, value_bits)
    rows, cols = m.shape
    off = check_offsets(offsets, cols)
    rows_of, col_of, vals, _ = nonzeros(m)
    pos = off[col_of]
    first = np.ones(pos.size, bool)
    first[1:] = rows_of[1:] != rows_of[:-1]
    gap = pos - np.where(first, 0, np.concatenate([[0], pos[:-1]]))
    pads = np.maximum(0, (gap - 1) // MAX_STEP)  # entries of step 255 before each nonzero
    per_row = np.bincount(rows_of, weights=pads + 1, minlength=rows).astype(np.int64)
    if per_row.size and per_row.max() > 0xFFFF:
        raise DataError("ocsr: a row needs more than 65535 entries")
    steps = np.full(int(per_row.sum()), MAX_STEP, np.int64)
    values = np.zeros(steps.size, np.int64)
    at = np.cumsum(pads + 1) - 1  # entry index of each nonzero
    steps[at] = gap - MAX_STEP * pads
    values[at] = vals
    stream = _pack_rows(per_row, steps, values & ((1 << value_bits) - 1), value_bits)
    enc = OCSR("ocsr", m.shape, value_bits, int(vals.size), int(steps.size),
               {"row_entries": per_row.astype("<u2"), "stream": stream})
    enc.offsets = off
    return enc


def _pack_rows(per_row, steps, fields, value_bits) -> np.ndarray:
    g = group_size(value_bits)
    row = np.repeat(np.arange(per_row.size), per_row)
    within = np.arange(steps.size) - np.concatenate([[0], np.cumsum(per_row)])[row]
    group_of = np.concatenate([[0], np.cumsum((per_row + g - 1) // g)])[row] + within // g
    n_groups = int(((per_row + g - 1) // g).sum())
    # group k starts at byte k + (entries before group k): its value byte, then its steps
    group_start = np.arange(n_groups) + np.concatenate([[0], np.cumsum(np.bincount(group_of, minlength=n_groups))])[:-1]
    stream = np.zeros(n_groups + steps.size, np.int64)
    np.add.at(stream, group_start[group_of], fields << (value_bits * (within % g)))
    stream[group_start[group_of] + 1 + within % g] = steps
    return stream.astype(np.uint8)


def decode_ocsr_arrays(row_entries, stream, shape, offsets, value_bits: int) -> np.ndarray:
    """Decode a stored stream, checking every count and length, that no entry lies beyond the
    last column's offset and that every nonzero value lies exactly on a column."""
    rows, cols = shape
    off = check_offsets(offsets, cols)
    per_row = np.asarray(row_entries).astype(np.int64)
    if per_row.size != rows:
        raise DataError(f"ocsr: {per_row.size} row entry counts for {rows} rows")
    g = group_size(value_bits)
    groups = (per_row + g - 1) // g
    need = int(groups.sum() + per_row.sum())
    data = np.asarray(stream, np.uint8).astype(np.int64)
    if data.size != need:
        raise DataError(f"ocsr: the row entry counts need a stream of {need} bytes, {data.size} stored")
    n = int(per_row.sum())
    out = np.zeros(shape, np.int64)
    if n == 0:
        return out
    row = np.repeat(np.arange(rows), per_row)
    within = np.arange(n) - np.concatenate([[0], np.cumsum(per_row)])[row]
    group_of = np.concatenate([[0], np.cumsum(groups)])[row] + within // g
    group_start = np.arange(groups.sum()) + np.concatenate([[0], np.cumsum(np.bincount(group_of,
                                                                                       minlength=groups.sum()))])[:-1]
    steps = data[group_start[group_of] + 1 + within % g]
    fields = (data[group_start[group_of]] >> (value_bits * (within % g))) & ((1 << value_bits) - 1)
    sign = 1 << (value_bits - 1)
    values = (fields ^ sign) - sign
    later = within > 0
    if np.any(later & (steps == 0)):
        k = int(np.flatnonzero(later & (steps == 0))[0])
        raise DataError(f"ocsr: row {row[k]}, entry {within[k]} has step 0 (repeats the previous entry's offset)")
    cs = np.cumsum(steps)
    pos = cs - np.concatenate([[0], cs])[np.concatenate([[0], np.cumsum(per_row)])[:-1]][row]
    last = int(off[-1]) if cols else -1
    if pos.max() > last:
        k = int(np.flatnonzero(pos > last)[0])
        raise DataError(f"ocsr: row {row[k]}, entry {within[k]} reaches input offset {int(pos[k])} beyond the "
                        f"filter's last tap at {last}")
    nz = values != 0
    col = np.searchsorted(off, pos)
    on_col = (col < cols) & (off[np.minimum(col, cols - 1)] == pos)
    if np.any(nz & ~on_col):
        k = int(np.flatnonzero(nz & ~on_col)[0])
        raise DataError(f"ocsr: row {row[k]}, entry {within[k]}: a nonzero value at input offset {int(pos[k])}, "
                        "which is no tap of the filter")
    out[row[nz], col[nz]] = values[nz]
    return out
