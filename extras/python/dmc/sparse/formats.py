"""The registry of sparse formats and `encode`, the one entry point that picks an encoder."""
from __future__ import annotations

from ..errors import DataError
from .base import SparseMatrix
from .csr import encode_csr
from .dcsr import encode_dcsr
from .mcsr import encode_mcsr
from .ocsr import encode_ocsr
from .rle import encode_rle

_ENCODERS = {"dcsr": encode_dcsr, "rle": encode_rle, "csr": encode_csr, "mcsr": encode_mcsr,
             "ocsr": lambda m, value_bits: encode_ocsr(m, value_bits=value_bits)}
FORMATS = tuple(_ENCODERS)


def encode(matrix, format: str, value_bits: int = 8) -> SparseMatrix:
    """Encode a 2-D integer matrix (int8 or 4/2-bit signed codes) in ``format``.

    ``format`` is "dcsr", "rle", "csr", "mcsr" or "ocsr" (its columns at offsets 0, 1, ...;
    ``dmc.sparse.ocsr.encode_ocsr`` takes the offsets of a conv filter's taps). The result has ``.nbytes``, ``.nnz``,
    ``.entries`` (stored values, padding included), ``.arrays`` (each array also as an
    attribute) and ``.decode()``, which returns the matrix exactly.
    """
    if format not in _ENCODERS:
        raise DataError(f"unknown sparse format {format!r}; use one of {', '.join(FORMATS)}")
    return _ENCODERS[format](matrix, value_bits=value_bits)
