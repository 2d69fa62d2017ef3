"""Run the sparse kernel on any numpy matrix: encode it (nibble-step CSR), generate a C++ test
that decodes and multiplies it, run it on the host, the simulated Uno and the QEMU M4, and
compare every sum with numpy (the seed's `numpy_test`, for our kernels and chips).

    .venv/bin/python extras/scripts/sparse_kernel_test.py W.npy [--bits 4] [--targets host uno m4] [--inputs 2]

A .npz runs each of its arrays; arrays of more than two dimensions are taken as
(shape[0], rest), rows being output channels. Exit status 1 on any mismatch.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "extras" / "python"))

from dmc.core.sparse_report import matrices  # noqa: E402
from dmc.deploy.sparse_harness import TARGETS, run_sparse_dot  # noqa: E402
from dmc.errors import DMCError  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file", help="a .npy or .npz of integer matrices (weights as codes)")
    p.add_argument("--bits", type=int, choices=[8, 4, 2], default=8, help="value bits (default: 8)")
    p.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS), help="where to run (default: all)")
    p.add_argument("--inputs", type=int, default=2, help="random 8-bit input vectors per matrix (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    failed = False
    try:
        for name, m, bits in matrices(args.file, args.bits):
            x = rng.integers(0, 256, (args.inputs, m.shape[1]))
            want = x.astype(np.int64) @ m.astype(np.int64).T
            for target in args.targets:
                with tempfile.TemporaryDirectory(prefix="dmc-sparse-test-") as tmp:
                    got, cycles = run_sparse_dot(m, bits, x, target, tmp)
                bad = np.argwhere(got != want)
                for i, o in bad[:10]:
                    print(f"  {name} {target}: input {i}, row {o}: C++ {got[i, o]}, numpy {want[i, o]}")
                note = f", {np.mean(cycles):.0f} cycles per row on average" if cycles else ""
                print(f"{name} {m.shape[0]}x{m.shape[1]} {bits}-bit on {target}: "
                      f"{'OK' if bad.size == 0 else f'{len(bad)} MISMATCHES'}{note}")
                failed |= bad.size > 0
    except DMCError as e:
        print(f"sparse_kernel_test: error: {e}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
