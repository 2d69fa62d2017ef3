"""The LeNet-5 study of the seed's Table 1, measured on the model that is deployed.

Baseline LeNet-5 (seed 25), then the Ultra and Tiny recipes: prune + fold BN + quantization-
aware training with distillation from the baseline. Every choice (epochs, the kept weights) is
made on a validation split carved from the training set; the test set is used once, at the end,
on the integer models that the device runs. Each model is then built for the simulated Uno and
measured (flash, SRAM with the stack peak, exact cycles). Results: a markdown and a CSV table, a
plot of accuracy vs model bytes with the seed's points beside ours, and the .dmc artifacts.

``dmc demo`` runs it with a few epochs; ``run.py`` beside this file runs the full study.
"""
from __future__ import annotations

import copy
import csv
import json
import time
from pathlib import Path

import torch

from dmc.compression.compressed_model import compress
from dmc.compression.conversion import convert
from dmc.compression.training import random_shift
from dmc.data import mnist_loaders
from dmc.zoo.lenet import LENET5_TINY, LENET5_ULTRA, LENET5_ULTRA8, SEED_TABLE, lenet5, train_baseline

RECIPES = {"ultra": ("DMC Ultra", LENET5_ULTRA), "tiny": ("DMC Tiny", LENET5_TINY),
           "ultra8": ("DMC Ultra, 8-bit input", LENET5_ULTRA8)}
FLOAT_BYTES = 4


def run(out_dir="out", epochs: int = 30, qat_epochs: int = 30, recipes=("ultra", "tiny"), seed: int = 25,
        measure: bool = True, stream: int = 200, progress: bool = True, baseline_state=None) -> list[dict]:
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    train, val, test = mnist_loaders(seed=seed)
    x_test, y_test = test.dataset.tensors[0], test.dataset.tensors[1].numpy()

    model = lenet5()
    n_params = sum(p.numel() for n, p in model.named_parameters() if ".weight" in n or ".bias" in n)
    weighted = sum(p.numel() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
                   for p in m.parameters())
    if baseline_state is not None and Path(baseline_state).exists():
        model.load_state_dict(torch.load(baseline_state, weights_only=True))
        print(f"== baseline: loaded {baseline_state}")
    else:
        print(f"== baseline LeNet-5 ({weighted} weights and biases + {n_params - weighted} BatchNorm parameters): "
              f"{epochs} epochs, cosine learning rate, random shifts, "
              f"best epoch chosen on {len(val.dataset)} validation images")
        train_baseline(model, train, val, epochs, seed, progress)
        torch.save(model.state_dict(), out / "lenet5_baseline.pt")
    model.eval()
    with torch.no_grad():
        base_acc = float((model(x_test).argmax(1).numpy() == y_test).mean())
    rows = [{"model": "Baseline (float32)", "accuracy": base_acc, "model_bytes": weighted * FLOAT_BYTES,
             "what_bytes_count": "float32 weights and biases of Conv2d/Linear (BatchNorm folds away)"}]

    for key in recipes:
        title, cfg = RECIPES[key]
        print(f"== {title}: compress, calibrate, {qat_epochs} epochs of quantization-aware training "
              "(distilled from the baseline)")
        cm = compress(model, cfg, input_shape=(1, 1, 28, 28), calibration_data=train)
        cm.fit(train, epochs=qat_epochs, val_loader=val, lr=1e-3, schedule="cosine", augment=random_shift(1, seed),
               teacher=copy.deepcopy(model), monitor="accuracy", restore_best=True, progress=progress)
        qm = convert(cm)
        path = out / f"lenet5_{key}.dmc"
        qm.save(path)
        qm.summary()
        deployed = qm.predict(x_test.numpy())
        with torch.no_grad():
            fq = cm.eval()(x_test).numpy()
        row = {"model": title, "accuracy": float((deployed.argmax(1) == y_test).mean()),
               "model_bytes": qm.model_bytes, "file": path.name,
               "agreement_with_fake_quant": float((deployed.argmax(1) == fq.argmax(1)).mean()),
               "what_bytes_count": "packed weights + int32 biases + requantization constants"}
        if measure:
            from dmc.deploy.measure import measure_uno
            print(f"== {title}: building the serial-runner sketch for the simulated Uno and streaming "
                  f"{stream} test images")
            row.update(measure_uno(path, qm.quantize_input(x_test.numpy()[:stream])))
        rows.append(row)
    for r in rows:
        r["compression"] = round(rows[0]["model_bytes"] / r["model_bytes"], 2)
    write_tables(rows, out)
    plot(rows, out / "accuracy_vs_bytes.png")
    print(table_markdown(rows))
    print(f"results in {out} ({time.time() - t0:.0f} s)")
    return rows


COLUMNS = [("model", "model"), ("accuracy", "test accuracy"), ("model_bytes", "model bytes"),
           ("compression", "compression"), ("arena_bytes", "arena B"), ("flash_bytes", "sketch flash B"),
           ("sram_bytes", "sketch SRAM B (incl. stack)"), ("fits_uno", "fits Uno"), ("cycles", "cycles / inference"),
           ("cycles_per_mac", "cycles / MAC"), ("ms", "ms @ 16 MHz")]


def _fmt(key, v):
    if v is None or v == "":
        return "-"
    if key == "accuracy":
        return f"{v:.2%}"
    if key == "model_bytes":
        return f"{v} ({v / 1024:.2f} KB)"
    if key == "compression":
        return f"{v:.2f}x"
    if key == "fits_uno":
        return "yes" if v else "no"
    return str(v)


def table_markdown(rows) -> str:
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(k, r.get(k)) for k, _ in COLUMNS) + " |")
    seed = ", ".join(f"{k} {a:.2%} at {kb:.2f} KB" for k, (a, kb) in SEED_TABLE.items())
    return "\n".join(lines) + f"\n\nSeed (reference) Table 1: {seed}.\n"


def write_tables(rows, out: Path) -> None:
    (out / "lenet5_table.md").write_text(table_markdown(rows))
    with open(out / "lenet5_table.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k, _ in COLUMNS] + ["what_bytes_count"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    (out / "lenet5_results.json").write_text(json.dumps(rows, indent=2) + "\n")


def plot(rows, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (acc, kb) in SEED_TABLE.items():
        ax.scatter(kb * 1024, acc * 100, marker="x", color="grey", s=60)
        ax.annotate(f"seed {name}", (kb * 1024, acc * 100), textcoords="offset points", xytext=(6, -12),
                    fontsize=8, color="grey")
    for r in rows:
        ax.scatter(r["model_bytes"], r["accuracy"] * 100, color="tab:blue", s=50)
        ax.annotate(r["model"], (r["model_bytes"], r["accuracy"] * 100), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.margins(x=0.12, y=0.12)
    ax.set_xlabel("model bytes (log scale)")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_title("LeNet-5: accuracy vs model size (deployed integer models)")
    ax.grid(alpha=0.3, which="both")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


