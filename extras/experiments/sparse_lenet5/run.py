"""Sparse LeNet-5 study: unstructured pruning at 50-95% sparsity on MNIST, with sparse storage.

    nice -n 10 .venv/bin/python extras/experiments/sparse_lenet5/run.py             # train + report
    nice -n 10 .venv/bin/python extras/experiments/sparse_lenet5/run.py --report    # report only
    .venv/bin/python extras/experiments/sparse_lenet5/run.py --smoke --out /tmp/smoke      # a few minutes

Starts from extras/experiments/lenet5/results/lenet5_baseline.pt. Training writes
results/artifacts/*.dmc and results/runs.json (runs already there are kept: delete an artifact
to retrain it); the report writes results/sparse_lenet5_table.{md,csv},
results/sparse_lenet5_results.json and results/accuracy_vs_bytes.png. ``--publish`` copies the
smallest artifact that reaches 99.0% on validation (else the most accurate within 2,662
bytes) to examples/MnistLeNet5/lenet5_sparse.dmc.
"""
import argparse
import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path[:0] = [str(ROOT / "extras" / "python"), str(HERE)]
os.environ.setdefault("PLATFORMIO_CORE_DIR", str(ROOT / ".pio-core"))

import study  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(HERE / "results"), help="results folder (default: results/ beside this file)")
    p.add_argument("--epochs", type=int, default=1, help="QAT epochs per run (default 1: the machine is shared)")
    p.add_argument("--max-steps", type=int, help="cut every epoch to this many batches (smoke run)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--smoke", action="store_true",
                   help="check that the study runs: 2 stages per variant of 5 batches, 500 test images")
    p.add_argument("--report", action="store_true", help="only rebuild the tables and plot from the saved runs")
    p.add_argument("--cycles", action="store_true",
                   help="report: also measure every model on the simulated Uno, dense and sparse storage")
    p.add_argument("--no-report", action="store_true", help="train only")
    p.add_argument("--publish", action="store_true",
                   help="copy the smallest artifact at 99.0%% validation accuracy to examples/MnistLeNet5")
    a = p.parse_args()
    if not a.report:
        import torch
        torch.set_num_threads(a.threads)
        study.train(a.out, epochs=a.epochs, max_steps=a.max_steps, smoke=a.smoke)
    if not a.no_report:
        study.report(a.out, cycles=a.cycles)
    if a.publish:
        chosen = json.loads((Path(a.out) / "sparse_lenet5_results.json").read_text())["published"]
        if chosen is None:
            sys.exit(f"run.py: error: no run reaches {study.TARGET_ACCURACY:.1%} on validation or fits "
                     f"{study.BUDGET_BYTES} bytes")
        shutil.copy(Path(a.out) / "artifacts" / f"{chosen}_auto.dmc",
                    ROOT / "examples" / "MnistLeNet5" / "lenet5_sparse.dmc")


if __name__ == "__main__":
    main()
