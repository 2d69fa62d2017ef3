"""Reproduce (and beat) the seed's LeNet-5 Table 1 on the deployed integer models.

    .venv/bin/python extras/experiments/lenet5/run.py            # ~25 min on 2 cores
    .venv/bin/python extras/experiments/lenet5/run.py --publish  # also refresh examples/MnistLeNet5/*.dmc
    .venv/bin/python extras/experiments/lenet5/run.py --recipes ultra8 --qat-epochs 6 \
        --baseline results/lenet5_baseline.pt --out /tmp/ultra8   # Ultra with an 8-bit input

Writes results/lenet5_table.{md,csv}, results/lenet5_results.json, results/accuracy_vs_bytes.png,
results/lenet5_{ultra,tiny}.dmc and the baseline weights (results/lenet5_baseline.pt).
"""
import argparse
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path[:0] = [str(ROOT / "extras" / "python"), str(HERE)]
os.environ.setdefault("PLATFORMIO_CORE_DIR", str(ROOT / ".pio-core"))

from study import run  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--epochs", type=int, default=30, help="baseline epochs (default 30)")
    p.add_argument("--qat-epochs", type=int, default=30, help="quantization-aware training epochs (default 30)")
    p.add_argument("--no-measure", action="store_true", help="skip the simulated-Uno build and measurement")
    p.add_argument("--baseline", help="reuse baseline weights (a lenet5_baseline.pt) instead of training")
    p.add_argument("--recipes", nargs="+", default=["ultra", "tiny"], choices=["ultra", "tiny", "ultra8"],
                   help="compression recipes to run (default: ultra tiny; ultra8 is Ultra with an 8-bit input)")
    p.add_argument("--publish", action="store_true", help="copy the .dmc artifacts into examples/MnistLeNet5")
    a = p.parse_args()
    run(a.out, epochs=a.epochs, qat_epochs=a.qat_epochs, measure=not a.no_measure, baseline_state=a.baseline,
        recipes=a.recipes)
    if a.publish:
        for name in a.recipes:
            shutil.copy(Path(a.out) / f"lenet5_{name}.dmc", ROOT / "examples" / "MnistLeNet5" / f"lenet5_{name}.dmc")


if __name__ == "__main__":
    main()
