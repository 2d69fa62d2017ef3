"""Sparse weight formats (dCSR, run-length, CSR, nibble-step CSR, offset CSR) and their byte counts, numpy only.

>>> import numpy as np
>>> m = np.array([[0, 3, 0, 0], [0, 0, 0, -2]], np.int8)
>>> enc = encode(m, "dcsr")
>>> enc.nnz, enc.nbytes, bool((enc.decode() == m).all())
(2, 29, True)
>>> sorted(metrics(m))[:4]
['bits_per_nonzero', 'csr', 'dcsr', 'dcsr_padding']
"""
from __future__ import annotations

from .base import SparseMatrix
from .csr import CSR
from .dcsr import DCSR
from .formats import FORMATS, encode
from .mcsr import MCSR
from .metrics import metrics
from .ocsr import OCSR
from .rle import RLE

__all__ = ["encode", "metrics", "FORMATS", "SparseMatrix", "CSR", "RLE", "DCSR", "MCSR", "OCSR"]
