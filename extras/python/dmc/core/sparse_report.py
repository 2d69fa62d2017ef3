"""The `dmc sparse` report: byte counts of every weight matrix of a .npy/.npz/.dmc file in each sparse format."""
from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..sparse import metrics

FORMATS = ("dense", "csr", "rle", "dcsr", "mcsr")
CSV_COLUMNS = ("name", "shape", "nnz", "sparsity", "value_bits") + FORMATS + tuple(f"{f}_bits_per_nonzero" for f in FORMATS)


def matrices(path, value_bits: int = 8):
    """(name, 2-D matrix, value bits) of every weight matrix in the file.

    A .dmc gives each conv2d/linear weight (decoded, at its own bit width); a .npy one array and
    a .npz each of its arrays at ``value_bits``. An array of more than two dimensions becomes
    (shape[0], rest) -- rows are output channels -- and a vector one row.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".dmc":
        from .intmodel import load
        model = load(path)
        for op in model.ops:
            if op["op"] in ("conv2d", "linear"):
                w = model.weight(op)
                yield op["name"], w.reshape(w.shape[0], -1), int(op["attrs"]["weight_bits"])
        return
    if suffix not in (".npy", ".npz"):
        raise DataError(f"{path}: expected a .npy, .npz or .dmc file")
    data = path.read_bytes()
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        arrays = {path.stem: loaded} if isinstance(loaded, np.ndarray) else {k: loaded[k] for k in loaded.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable {suffix} file ({e})") from None
    if not arrays:
        raise DataError(f"{path}: holds no arrays")
    for name, a in arrays.items():
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or np.issubdtype(a.dtype, np.complexfloating):
            raise DataError(f"{path}: array {name!r} has dtype {a.dtype}; expected numbers")
        if a.ndim == 0 or a.size == 0:
            continue
        yield name, (a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1)), value_bits


def report(path, value_bits: int = 8) -> list[dict]:
    """One row per matrix: name, shape, nnz, sparsity and the bytes of every format."""
    rows = []
    for name, m, bits in matrices(path, value_bits):
        r = metrics(m, value_bits=bits)
        rows.append({"name": name, "shape": "x".join(map(str, m.shape)), "nnz": r["nnz"], "sparsity": r["sparsity"],
                     "value_bits": bits, **{f: r[f] for f in FORMATS},
                     **{f"{f}_bits_per_nonzero": r["bits_per_nonzero"][f] for f in FORMATS}})
    if not rows:
        raise DataError(f"{path}: no weight matrices found")
    return rows


def _total(rows):
    nnz = sum(r["nnz"] for r in rows)
    size = sum(math.prod(map(int, r["shape"].split("x"))) for r in rows)
    t = {"name": "total", "shape": "", "nnz": nnz, "sparsity": 1 - nnz / size if size else 0.0, "value_bits": ""}
    for f in FORMATS:
        t[f] = sum(r[f] for r in rows)
        t[f"{f}_bits_per_nonzero"] = t[f] * 8 / nnz if nnz else float("inf")
    return t


def report_text(rows, csv: bool = False) -> str:
    """The table (or CSV) with a closing total line."""
    allrows = rows + [_total(rows)]
    if csv:
        out = [",".join(CSV_COLUMNS)]
        for r in allrows:
            out.append(",".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in CSV_COLUMNS))
        return "\n".join(out) + "\n"
    head = ("matrix", "shape", "bits", "sparsity", "dense B", "CSR B", "RLE B", "dCSR B", "mcsr B", "dCSR b/nz", "mcsr b/nz")
    body = [(r["name"], r["shape"], str(r["value_bits"]), f"{100 * r['sparsity']:.1f}%", *(str(r[f]) for f in FORMATS),
             f"{r['dcsr_bits_per_nonzero']:.1f}", f"{r['mcsr_bits_per_nonzero']:.1f}") for r in allrows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    lines = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(b) for b in body[:-1]] + [fmt(["-" * w for w in widths]), fmt(body[-1])]
    return "\n".join(lines) + "\n"


__all__ = ["matrices", "report", "report_text"]
