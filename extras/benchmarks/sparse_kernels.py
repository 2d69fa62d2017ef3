"""Benchmark: exact simavr cycles of sparse vs dense layers on the simulated Arduino Uno.

A linear layer (32 x 256) and a conv2d (16 x 6 x 5 x 5 on 6 x 14 x 14, fused 2x2 max pool, the
shape of LeNet-5's second conv) at 0/50/70/80/90/95% unstructured sparsity with 8- and 4-bit
weights. Each program runs the sparse kernel (the artifact's "dcsr" storage: nibble-step CSR
rows for linear, offset CSR filters for conv2d) and the dense kernel on the same weights and input; both outputs are checked against
numpy before a cycle count is recorded. Bytes: dense packed weights vs the sparse stream with
its row table. ``sparse cycles / nonzero``: the sparse layer's cycles per nonzero weight use
(nonzeros times output positions), per-row and per-window overhead included.

    .venv/bin/python extras/benchmarks/sparse_kernels.py     # writes results/sparse_kernels.json + .md
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "extras" / "python"))

from dmc.deploy.sparse_harness import (conv_reference, linear_reference, run_conv_layer,  # noqa: E402
                                       run_linear_layer)
from dmc.core.weights import conv_tap_offsets  # noqa: E402
from dmc.sparse import encode  # noqa: E402
from dmc.sparse.ocsr import encode_ocsr  # noqa: E402

SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)
LINEAR = (32, 256)
CONV = (16, 6, 5, 5)
CONV_INPUT = (6, 14, 14)


def _weights(rng, shape, sparsity, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    w = rng.integers(lo, hi + 1, shape)
    w[w == 0] = 1  # exactly the requested share of zeros
    flat = w.reshape(-1)
    flat[rng.permutation(flat.size)[:int(round(sparsity * flat.size))]] = 0
    return w


def main() -> int:
    rng = np.random.default_rng(2024)
    rows = []
    jobs = [(layer, bits, s) for layer in ("linear", "conv2d") for bits in (8, 4) for s in SPARSITIES]
    for layer, bits, sparsity in tqdm(jobs, desc="simavr runs", unit="layer"):
        shape = LINEAR if layer == "linear" else CONV
        # output positions per filter: 10 x 10 windows of the conv (before the 2x2 pool)
        positions = 1 if layer == "linear" else (CONV_INPUT[1] - CONV[2] + 1) * (CONV_INPUT[2] - CONV[3] + 1)
        w = _weights(rng, shape, sparsity, bits)
        bias = rng.integers(-4000, 4000, shape[0])
        with tempfile.TemporaryDirectory(prefix="dmc-sparse-bench-") as tmp:
            if layer == "linear":
                x = rng.integers(0, 256, shape[1])
                r = run_linear_layer(w, bits, x, bias, 1 << 14, 20, "uno", tmp)
                want = linear_reference(w, x, bias, 1 << 14, 20)
            else:
                x = rng.integers(0, 256, CONV_INPUT)
                r = run_conv_layer(w, bits, x, bias, 1 << 14, 22, "uno", tmp)
                want = conv_reference(w, x, bias, 1 << 14, 22)
        for kind in ("sparse", "dense"):
            if not np.array_equal(r[kind], want):
                print(f"MISMATCH: {layer} {bits}-bit {sparsity:.0%} {kind}: {np.flatnonzero(r[kind] != want)[:10]}")
                return 1
        if layer == "linear":
            enc = encode(w, "mcsr", value_bits=bits)
        else:  # conv filters are stored in offset CSR over the input's tap offsets
            enc = encode_ocsr(w.reshape(shape[0], -1), conv_tap_offsets(shape, (1, 1), CONV_INPUT), value_bits=bits)
        rows.append({"layer": layer, "shape": "x".join(map(str, shape)), "weight_bits": bits, "sparsity": sparsity,
                     "nnz": int(np.count_nonzero(w)), "dense_cycles": r["dense_cycles"],
                     "sparse_cycles": r["sparse_cycles"], "ratio": r["sparse_cycles"] / r["dense_cycles"],
                     "sparse_cycles_per_nonzero_mac": (r["sparse_cycles"] / (np.count_nonzero(w) * positions)
                                                       if np.count_nonzero(w) else None),
                     "dense_bytes": (w.size * bits + 7) // 8, "sparse_bytes": enc.nbytes})
    out = ROOT / "extras" / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sparse_kernels.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["| layer | bits | sparsity | nonzeros | dense cycles | sparse cycles | sparse / dense | sparse cycles / nonzero "
             "| dense B | sparse B |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['layer']} {r['shape']} | {r['weight_bits']} | {100 * r['sparsity']:.0f}% | {r['nnz']} | "
                     f"{r['dense_cycles']:,} | {r['sparse_cycles']:,} | {r['ratio']:.3f} | "
                     f"{r['sparse_cycles_per_nonzero_mac'] or 0:.1f} | {r['dense_bytes']} | "
                     f"{r['sparse_bytes']} |")
    (out / "sparse_kernels.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
