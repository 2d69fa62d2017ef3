"""Benchmark: the deployed models on the simulated Arduino Uno (simavr, cycle-exact).

For each model: integer-model accuracy on the full MNIST test set (what the device computes,
bit for bit), model bytes, arena SRAM, whole-sketch flash and SRAM (the serial runner sketch,
static + measured stack peak), cycles per inference from simavr's exact stamps, and the per-layer
profile (`dmc profile`) of one fixed input, whose total the cycle regression test
(extras/python/tests/test_uno_cycles.py) compares against.

    .venv/bin/python extras/benchmarks/uno_benchmark.py      # writes results/uno.json, uno.md, uno_layers.md

Timing is simulated: the figures are exact and repeatable, whatever the host is doing.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "extras" / "python"))

import dmc  # noqa: E402
from dmc.deploy.measure import measure_uno  # noqa: E402
from dmc.deploy.profile import profile, profile_table  # noqa: E402

MODELS = [("LeNet-5 Tiny", ROOT / "examples/MnistLeNet5/lenet5_tiny.dmc", "mnist"),
          ("LeNet-5 Ultra", ROOT / "examples/MnistLeNet5/lenet5_ultra.dmc", "mnist"),
          ("LeNet-5 Ultra, 8-bit input", ROOT / "extras/experiments/lenet5/results/lenet5_ultra8.dmc", "mnist"),
          ("LeNet-5 sparse (4-bit, 80% zero weights)", ROOT / "examples/MnistLeNet5/lenet5_sparse.dmc", "mnist"),
          ("Sine regressor", ROOT / "examples/SineRegressor/sine.dmc", "sine"),
          ("Sine regressor (SineLedPwm)", ROOT / "examples/SineLedPwm/sine.dmc", "sine")]


def main() -> int:
    from dmc.data import mnist_arrays
    *_, x_test, y_test = mnist_arrays()
    rows = []
    for title, path, kind in MODELS:
        model = dmc.load(path)
        row = {"model": title, "file": str(path.relative_to(ROOT))}
        if kind == "mnist":
            row["accuracy"] = float((model.predict(x_test).argmax(1) == y_test).mean())
            codes = model.quantize_input(x_test[:3])
        else:
            codes = model.quantize_input(np.linspace(0, 2 * np.pi, 3, dtype=np.float32)[:, None])
        row.update(measure_uno(path, codes))
        if row.get("fits_uno", True) and "cycles" in row:
            prof = profile(path, "uno")    # one fixed input (profile.default_input)
            row["profile_cycles"] = prof["total"]
            row["layers"] = [{k: r[k] for k in ("layer", "kernel", "macs", "cycles", "cycles_per_mac", "share")}
                             for r in prof["rows"]]
            row["_profile"] = prof
        rows.append(row)
    out = ROOT / "extras" / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    profiles = [(r["model"], r.pop("_profile")) for r in rows if "_profile" in r]
    (out / "uno.json").write_text(json.dumps(rows, indent=2) + "\n")
    layers = "\n".join(f"**{title}** ({prof['total']} cycles, {prof['cycles_per_mac']} per MAC)\n\n"
                       f"{profile_table(prof)}" for title, prof in profiles)
    (out / "uno_layers.md").write_text(layers)
    head = ("| model | test accuracy | model bytes | arena B | sketch flash B | sketch SRAM B (with stack) | "
            "MACs | cycles / inference | cycles / MAC | ms @ 16 MHz |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        acc = f"{r['accuracy']:.2%}" if "accuracy" in r else "n/a"
        if "cycles" in r:
            lines.append(f"| {r['model']} | {acc} | {r['model_bytes']} | {r['arena_bytes']} | {r['flash_bytes']} | "
                         f"{r['sram_bytes']} | {r['macs']} | {r['cycles']} | {r['cycles_per_mac']} | {r['ms']} |")
        else:
            lines.append(f"| {r['model']} | {acc} | {r['model_bytes']} | {r['arena_bytes']} | - | {r['note']} | "
                         f"{r['macs']} | - | - | - |")
    table = "\n".join(lines) + "\n"
    (out / "uno.md").write_text(table)
    print(table)
    print(layers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
