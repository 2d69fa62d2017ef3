"""Compressed sparse row (CSR), the baseline the paper compares against.

Arrays: ``row_counts`` (uint16 per row: its nonzeros), ``columns`` (uint16 per nonzero),
``values`` (packed). Bytes: nnz * (value_bits / 8 + 2) + 2 * rows, the paper's CSR accounting
(with int8 values: nnz * 3 + 2 * rows).
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import SparseMatrix, nonzeros
from .values import check_matrix, pack, unpack


class CSR(SparseMatrix):
    """A matrix in CSR."""

    def decode(self) -> np.ndarray:
        rows, cols = self.shape
        counts = self.arrays["row_counts"].astype(np.int64)
        columns = self.arrays["columns"].astype(np.int64)
        if counts.size != rows or counts.sum() != columns.size:
            raise DataError(f"csr: row counts sum to {counts.sum()}, {columns.size} columns stored")
        if columns.size and columns.max() >= cols:
            raise DataError(f"csr: column {columns.max()} outside a row of {cols}")
        r = np.repeat(np.arange(rows), counts)
        out = np.zeros(self.shape, np.int64)
        out[r, columns] = unpack(self.arrays["values"], self.value_bits, columns.size)
        return out


def encode_csr(matrix, value_bits: int = 8) -> CSR:
    m = check_matrix(matrix, value_bits)
    _, cols, vals, counts = nonzeros(m)
    return CSR("csr", m.shape, value_bits, int(vals.size), int(vals.size), {
        "row_counts": counts.astype("<u2"),
        "columns": cols.astype("<u2"),
        "values": pack(vals, value_bits),
    })
