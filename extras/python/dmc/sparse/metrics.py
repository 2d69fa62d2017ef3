"""Byte counts of one matrix in every sparse format, beside dense storage."""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .formats import encode
from .values import VALUE_BITS, packed_nbytes

COLUMNS = ("dense", "csr", "rle", "dcsr", "mcsr")


def metrics(matrix, value_bits: int = 8) -> dict:
    """Bytes of ``matrix`` dense and in CSR, RLE, dCSR and nibble-step CSR, with bits per nonzero.

    Only the sparsity pattern and ``value_bits`` decide the byte counts, so any numeric matrix
    (float weights included) is measured as if its nonzeros were ``value_bits``-bit codes.
    Returns ``{"shape", "nnz", "sparsity", "value_bits", "dense", "csr", "rle", "dcsr", "mcsr",
    "dcsr_padding", "rle_padding", "bits_per_nonzero": {format: bits}}``.
    """
    m = np.asarray(matrix)
    if m.ndim != 2:
        raise DataError(f"metrics: expected a 2-D matrix, got shape {m.shape}")
    if value_bits not in VALUE_BITS:
        raise DataError(f"metrics: value_bits {value_bits!r} is not supported; use one of {VALUE_BITS}")
    if m.size and not (np.issubdtype(m.dtype, np.number) or m.dtype == bool):
        raise DataError(f"metrics: expected a numeric matrix, got dtype {m.dtype}")
    pattern = (m != 0).astype(np.int8)  # byte counts depend on the pattern only
    nnz = int(pattern.sum())
    out = {"shape": tuple(int(d) for d in m.shape), "nnz": nnz,
           "sparsity": 1.0 - nnz / m.size if m.size else 0.0, "value_bits": value_bits,
           "dense": packed_nbytes(m.size, value_bits)}
    for fmt in ("csr", "rle", "dcsr", "mcsr"):
        enc = encode(pattern, fmt, value_bits=value_bits)
        out[fmt] = enc.nbytes
        if fmt in ("rle", "dcsr"):
            out[f"{fmt}_padding"] = enc.padding
    out["bits_per_nonzero"] = {f: (out[f] * 8 / nnz if nnz else float("inf")) for f in COLUMNS}
    return out
