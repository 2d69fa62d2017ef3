"""Sparse weight formats (dCSR, run-length, CSR, nibble-step CSR) and their byte counts, numpy only.

>>> import numpy as np
>>> m = np.array([[0, 3, 0, 0], [0, 0, 0, -2]], np.int8)
>>> enc = encode(m, "dcsr")
>>> enc.nnz, enc.nbytes, bool((enc.decode() == m).all())
(2, 29, True)
>>> sorted(metrics(m))[:4]
['bits_per_nonzero', 'csr', 'dcsr', 'dcsr_padding']
"""
from __future__ import annotations

from ..errors import DataError
from .base import SparseMatrix
from .csr import CSR, encode_csr
from .dcsr import DCSR, encode_dcsr
from .mcsr import MCSR, encode_mcsr
from .metrics import metrics
from .rle import RLE, encode_rle

_ENCODERS = {"dcsr": encode_dcsr, "rle": encode_rle, "csr": encode_csr, "mcsr": encode_mcsr}
FORMATS = tuple(_ENCODERS)


def encode(matrix, format: str, value_bits: int = 8) -> SparseMatrix:
    """Encode a 2-D integer matrix (int8 or 4/2-bit signed codes) in ``format``.

    ``format`` is "dcsr", "rle", "csr" or "mcsr". The result has ``.nbytes``, ``.nnz``,
    ``.entries`` (stored values, padding included), ``.arrays`` (each array also as an
    attribute) and ``.decode()``, which returns the matrix exactly.
    """
    if format not in _ENCODERS:
        raise DataError(f"unknown sparse format {format!r}; use one of {', '.join(FORMATS)}")
    return _ENCODERS[format](matrix, value_bits=value_bits)


__all__ = ["encode", "metrics", "FORMATS", "SparseMatrix", "CSR", "RLE", "DCSR", "MCSR"]
