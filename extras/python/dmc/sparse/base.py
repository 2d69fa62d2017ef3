"""The common shape of an encoded sparse matrix: its arrays, byte count and exact decoding."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SparseMatrix:
    """One matrix in one sparse format.

    ``arrays`` holds every stored array under its FORMAT.md name; ``nbytes`` is their total plus
    any fixed header the format counts. ``nnz`` is the number of nonzeros of the matrix;
    ``entries`` the number of stored values, padding entries (stored zeros) included.
    """
    format: str
    shape: tuple
    value_bits: int
    nnz: int
    entries: int
    arrays: dict = field(default_factory=dict)
    header_bytes: int = 0

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values())) + self.header_bytes

    @property
    def padding(self) -> int:
        """Stored zero entries the format needed (padding)."""
        return self.entries - self.nnz

    def bits_per_nonzero(self) -> float:
        return self.nbytes * 8 / self.nnz if self.nnz else float("inf")

    def decode(self) -> np.ndarray:  # pragma: no cover - every format overrides it
        raise NotImplementedError

    def __getattr__(self, name):
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")


def nonzeros(m: np.ndarray):
    """(row, column, value) of the nonzeros in row-major order and the per-row counts."""
    rows, cols = np.nonzero(m)
    return rows, cols, m[rows, cols], np.bincount(rows, minlength=m.shape[0])
