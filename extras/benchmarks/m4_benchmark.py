"""Benchmark: the deployed models on the QEMU Cortex-M4 (portable kernels, then the DSP-extension
kernels of src/dmc/kernels/arm/) and on the QEMU RISC-V RV32IMC (portable kernels).

QEMU is not cycle-accurate, but under -icount its virtual clock advances exactly per executed
instruction, so the serial runner reports exact instruction counts per inference (see
extras/platformio/shim/port_mps2.cpp and port_rv32.cpp): repeatable figures, whatever the host
is doing. Each model runs on 3 inputs (outputs checked against the interpreter); the median is
reported.

    .venv/bin/python extras/benchmarks/m4_benchmark.py      # writes results/m4.json and .md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "extras" / "python"))

import dmc  # noqa: E402
from dmc.deploy.measure import measure_qemu  # noqa: E402

MODELS = [("LeNet-5 Tiny", ROOT / "examples/MnistLeNet5/lenet5_tiny.dmc", "mnist"),
          ("LeNet-5 Ultra", ROOT / "examples/MnistLeNet5/lenet5_ultra.dmc", "mnist"),
          ("Sine regressor", ROOT / "examples/SineRegressor/sine.dmc", "sine")]
# (column key, simulated board, extra build flags)
RUNS = [("m4_portable", "m4", "-DDMC_NO_ARM_DSP"), ("m4_dsp", "m4", ""), ("rv32", "rv32", "")]


def main() -> int:
    with np.load(ROOT / "test" / "data" / "mnist_test_256.npz") as z:
        images = z["x"][:3]
    rows = []
    bar = tqdm(total=len(MODELS) * len(RUNS), desc="m4 benchmark", unit="build")
    for title, path, kind in MODELS:
        model = dmc.load(path)
        if kind == "mnist":
            codes = model.input_codes(images.reshape((len(images),) + model.input_shape))
        else:
            codes = model.quantize_input(np.linspace(0, 2 * np.pi, 3, dtype=np.float32)[:, None])
        row = {"model": title, "file": str(path.relative_to(ROOT)), "macs": model.total_macs}
        for key, sim, flags in RUNS:
            r = measure_qemu(path, codes, sim, flags)
            row[key] = {"instructions": r["instructions"], "instructions_per_mac": r["instructions_per_mac"]}
            bar.update()
        row["m4_dsp_speedup"] = round(row["m4_portable"]["instructions"] / row["m4_dsp"]["instructions"], 2)
        rows.append(row)
    bar.close()
    out = ROOT / "extras" / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "m4.json").write_text(json.dumps(rows, indent=2) + "\n")
    head = ("| model | MACs | M4 portable: instructions | / MAC | M4 DSP kernels: instructions | / MAC | "
            "DSP speed-up | RV32IMC: instructions | / MAC |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        p, d, v = r["m4_portable"], r["m4_dsp"], r["rv32"]
        lines.append(f"| {r['model']} | {r['macs']} | {p['instructions']} | {p['instructions_per_mac']} | "
                     f"{d['instructions']} | {d['instructions_per_mac']} | {r['m4_dsp_speedup']}x | "
                     f"{v['instructions']} | {v['instructions_per_mac']} |")
    table = "\n".join(lines) + "\n"
    (out / "m4.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
