"""Reproduce the Fashion-MNIST backbone study (LeNet-5, ResNet-8, edge_nano for the Uno,
edge_small for the Cortex-M4) with one command:

    nice -n 10 .venv/bin/python extras/experiments/fashion_backbones/run.py            # full study
    .venv/bin/python extras/experiments/fashion_backbones/run.py --smoke --out /tmp/fb  # ~minutes, tiny

Writes results/compare_models.{csv,md,png}, results/fashion_backbones.{json,md}, the .dmc
artifacts and the checkpoints (results/checkpoints/). Models whose architecture is not
registered in dmc.zoo are left out with a note.
"""
import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path[:0] = [str(ROOT / "extras" / "python"), str(HERE)]
os.environ.setdefault("PLATFORMIO_CORE_DIR", str(ROOT / ".pio-core"))

from study import MODELS, run  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(HERE / "results"), help="output folder (default: results/ beside this file)")
    p.add_argument("--models", nargs="+", choices=list(MODELS), help="models to run (default: all registered)")
    p.add_argument("--epochs", type=int, help="training epochs of every model (default: each model's schedule "
                   "in study.HOUR, the whole study under an hour on 2 cores; the full recipe is 15)")
    p.add_argument("--qat-epochs", type=int, help="quantization-aware training epochs (default: study.HOUR; full: 5)")
    p.add_argument("--train-limit", type=int, help="training images per model (default: study.HOUR; all 55,000 "
                   "for the small models)")
    p.add_argument("--stream", type=int, default=50, help="test images streamed through each simulator (default 50)")
    p.add_argument("--no-measure", action="store_true", help="skip the simulated boards")
    p.add_argument("--reuse", action="store_true", help="reuse trained checkpoints found in --out")
    p.add_argument("--smoke", action="store_true", help="a tiny run to check the driver: 1+1 epochs on 2,000 "
                   "training images, 1,000 validation and 500 test images, 3 streamed")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    a = p.parse_args()
    if a.smoke:
        run(a.out, a.models, epochs=1, qat_epochs=1, measure=not a.no_measure, stream=3, train_limit=2000,
            test_limit=500, val_size=1000, progress=not a.quiet)
    else:
        run(a.out, a.models, epochs=a.epochs, qat_epochs=a.qat_epochs, measure=not a.no_measure, stream=a.stream,
            train_limit=a.train_limit, reuse=a.reuse, progress=not a.quiet)


if __name__ == "__main__":
    main()
