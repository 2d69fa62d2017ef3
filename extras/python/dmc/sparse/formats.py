"""The registry of sparse formats and `encode`, the one entry point that picks an encoder."""
from __future__ import annotations

from ..errors import DataError
from .base import SparseMatrix
from .csr import encode_csr
from .dcsr import encode_dcsr
from .mcsr import encode_mcsr
from .rle import encode_rle

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
