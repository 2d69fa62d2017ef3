"""Where the Uno-scaled edge_nano's accuracy goes: the study's float edge_nano (channels
[7, 15, 20, 38, 40], scaled to 1,500 B of arena for 4-bit activations) quantized again at three
precisions with the study's own quantization-aware training (8 epochs, distilled from the
study's ResNet-8), each measured for integer top-1 (validation and the 10k test set), model
bytes, arena, estimated Uno flash and whether `dmc inspect --board uno` says it fits:

* 4-bit activations, 4-bit 1x1 weights (the study's recipe, run again);
* 4-bit activations, 8-bit 1x1 weights;
* 8-bit activations, 8-bit weights (the same network: twice the arena);

and the study's deployed edge_nano beside them. Then the cost of each tensor's 4-bit activations
alone: every activation of the 8-bit model in turn at 4 bits (its range fitted to the least
squared error on 512 training images, no training), validation top-1 against the 8-bit model's.
Needs results/ from run.py (the float edge_nano, its deployed checkpoint and the ResNet-8
teacher)::

    nice -n 10 .venv/bin/python extras/experiments/fashion_backbones/precision.py

Writes results/precision/{precision.json, precision.md, tensor_cost.png} (~20 minutes on 2 cores).
"""
import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path[:0] = [str(ROOT / "extras" / "python"), str(HERE)]
os.environ.setdefault("PLATFORMIO_CORE_DIR", str(ROOT / ".pio-core"))

import torch  # noqa: E402

from study import EDGE, compression_config  # noqa: E402

from dmc.compression.conversion import convert  # noqa: E402
from dmc.deploy.boards import get_board  # noqa: E402
from dmc.deploy.budget import budget_text  # noqa: E402
from dmc.deploy.flash import avr_flash_estimate  # noqa: E402
from dmc.core.planner import plan  # noqa: E402
from dmc.tools.checkpoints import load_checkpoint  # noqa: E402
from dmc.tools.evaluate import checkpoint_splits, integer_top1  # noqa: E402
from dmc.tools.quantize import calibration_inputs, quantize_checkpoint  # noqa: E402


def variants() -> dict:
    """name -> compression config: the study's edge_nano recipe and two wider ones."""
    deployed = compression_config(EDGE, "edge_nano")
    pw8 = compression_config(EDGE, "edge_nano", pointwise_bits=8)
    a8 = copy.deepcopy(pw8)
    a8["quantize"]["activation_bitwidth"] = 8
    return {"4-bit activations, 4-bit 1x1 weights": deployed,
            "4-bit activations, 8-bit 1x1 weights": pw8,
            "8-bit activations, 8-bit weights": a8}


def measure(path: Path, splits) -> dict:
    ck = load_checkpoint(path)
    qm = convert(ck.model())
    report, fits = budget_text(qm, get_board("uno"))
    row = {"model_bytes": qm.model_bytes, "arena_bytes": plan(qm).arena_bytes,
           "uno_flash_estimate": avr_flash_estimate(qm)["total"], "fits_uno": fits}
    for split in ("val", "test"):
        x, y = splits.split(split)
        row[f"{split}_top1"] = round(100 * integer_top1(qm, x, y), 2)
    return row


def tensor_costs(path: Path, splits, calib) -> list[tuple[str, float]]:
    """(tensor, validation points lost) for each activation of ``path``'s model at 4 bits alone."""
    cm = load_checkpoint(path).model()
    x, y = splits.split("val")
    x, y = torch.as_tensor(x), torch.as_tensor(y)

    def top1(m):
        with torch.no_grad():
            out = torch.cat([m(x[i:i + 1000]) for i in range(0, len(x), 1000)])
        return 100 * float((out.argmax(1) == y).float().mean())

    base = top1(cm)
    costs = []
    for name in [n for n in cm.quantizers if n not in ("x", "classifier")]:
        m = copy.deepcopy(cm)
        q = m.quantizers[name]
        q.bits, q.keep_samples, q.calibrating, q.samples = 4, 4096, True, []
        with torch.no_grad():
            m(torch.as_tensor(calib))
        q.calibrating = False
        q.fit_range_mse()
        costs.append((name, round(base - top1(m), 2)))
    return costs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default=str(HERE / "results"), help="the study's results folder")
    p.add_argument("--qat-epochs", type=int, default=8)
    a = p.parse_args()
    res = Path(a.results)
    src = res / "checkpoints" / "edge_nano_fashion_mnist_best.pt"
    teacher = res / "checkpoints" / "resnet8_fashion_mnist_best.pt"
    study = res / "checkpoints" / "edge_nano_fashion_mnist_int.pt"
    for f in (src, teacher, study):
        if not f.exists():
            raise SystemExit(f"{f} is missing: run run.py first")
    out = res / "precision"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    splits = checkpoint_splits(load_checkpoint(src))
    rows, t0 = [], time.time()
    for i, (name, cfg) in enumerate(variants().items()):
        print(f"== {name}: {a.qat_epochs} epochs of quantization-aware training", flush=True)
        dst = out / f"edge_nano_variant{i}.pt"
        quantize_checkpoint(src, dst, config=cfg, qat_epochs=a.qat_epochs, lr=5e-4, teacher=teacher, progress=False)
        rows.append(dict(variant=name, **measure(dst, splits)))
        print(rows[-1], flush=True)
    rows.append(dict(variant="the study's deployed edge_nano (same recipe as the first)", **measure(study, splits)))
    calib, _ = calibration_inputs(load_checkpoint(src), None, 512)
    costs = tensor_costs(out / "edge_nano_variant2.pt", splits, calib)
    summary = {"rows": rows, "tensor_cost_val_points": dict(costs), "qat_epochs": a.qat_epochs,
               "seconds": round(time.time() - t0)}
    (out / "precision.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = ["| variant | val top-1 | test top-1 | model B | arena B | Uno flash (est.) B | fits the Uno |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['val_top1']:.2f}% | {r['test_top1']:.2f}% | {r['model_bytes']:,} | "
              f"{r['arena_bytes']:,} | {r['uno_flash_estimate']:,} | {'yes' if r['fits_uno'] else 'no'} |" for r in rows]
    (out / "precision.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("validation points lost by each tensor alone at 4 bits:")
    for name, c in costs:
        print(f"  {name:24s} {c:+.2f}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.barh([n for n, _ in costs][::-1], [c for _, c in costs][::-1], color="tab:red")
    ax.set_xlabel("validation top-1 lost (points) with this tensor alone at 4 bits")
    ax.set_title("edge_nano (Uno-scaled): cost of 4-bit activations per tensor")
    fig.tight_layout()
    fig.savefig(out / "tensor_cost.png", dpi=110)
    for f in out.glob("edge_nano_variant*.pt"):     # large and reproducible: not kept
        f.unlink()
    print(f"results in {out} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
