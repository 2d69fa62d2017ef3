"""Benchmark: the deployed models on the simulated Arduino Uno (simavr, cycle-exact).

For each model: integer-model accuracy on the full MNIST test set (what the device computes,
bit for bit), model bytes, arena SRAM, whole-sketch flash and SRAM (the serial runner sketch,
static + measured stack peak), and cycles per inference from simavr's exact stamps.

    .venv/bin/python extras/benchmarks/uno_benchmark.py      # writes results/uno.json and .md

Timing is simulated: the figures are exact and repeatable, whatever the host is doing.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "extras" / "python"))

import dmc  # noqa: E402
from dmc.budget import budget  # noqa: E402
from dmc.device import DeviceSession, ProcessTransport  # noqa: E402
from dmc.firmware import FirmwareError, build_sim_firmware  # noqa: E402

MODELS = [("LeNet-5 Tiny", ROOT / "examples/MnistLeNet5/lenet5_tiny.dmc", "mnist"),
          ("LeNet-5 Ultra", ROOT / "examples/MnistLeNet5/lenet5_ultra.dmc", "mnist"),
          ("Sine regressor", ROOT / "examples/SineRegressor/sine.dmc", "sine")]
UNO_FLASH, UNO_SRAM = 32256, 2048


def avr_sizes(elf: Path) -> tuple[int, int]:
    out = subprocess.run(["avr-size", "-A", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    sec = {p[0]: int(p[1]) for p in (ln.split() for ln in out.splitlines()) if len(p) >= 2 and p[1].isdigit()}
    return sec.get(".text", 0) + sec.get(".data", 0), sec.get(".data", 0) + sec.get(".bss", 0) + sec.get(".noinit", 0)


def main() -> int:
    from dmc.datasets import mnist_arrays
    *_, x_test, y_test = mnist_arrays()
    rows = []
    for title, path, kind in MODELS:
        model = dmc.load(path)
        b = budget(model)
        row = {"model": title, "file": str(path.relative_to(ROOT)), "model_bytes": model.model_bytes,
               "arena_bytes": b["arena_bytes"], "macs": model.total_macs}
        if kind == "mnist":
            row["accuracy"] = float((model.predict(x_test).argmax(1) == y_test).mean())
            sample = model.quantize_input(x_test[:3])
        else:
            sample = model.quantize_input(np.linspace(0, 2 * np.pi, 3, dtype=np.float32)[:, None])
        with tempfile.TemporaryDirectory() as tmp:
            try:
                program = build_sim_firmware(path, "uno", tmp)
            except FirmwareError as e:
                if "not within region" not in str(e):
                    raise
                row.update(fits_uno=False, flash_bytes=None, static_sram_bytes=None,
                           note="does not link for an Uno: .bss exceeds its 2 KB of SRAM")
                rows.append(row)
                continue
            flash, static = avr_sizes(program.parent / "firmware.elf")
            row.update(flash_bytes=flash, static_sram_bytes=static)
            session = DeviceSession(model, ProcessTransport([str(program)]), timeout=60)
            try:
                got = session.run(sample)
                assert (got == model.predict(sample)).all(), f"{title}: device output differs from the interpreter"
                free, total = session.stats()
            finally:
                session.close()
        cycles = int(np.median(session.cycles))
        row.update(cycles=cycles, cycles_per_mac=round(cycles / row["macs"], 2), ms_at_16mhz=round(cycles / 16e3, 2),
                   sram_bytes=total - free, fits_uno=flash <= UNO_FLASH and total - free <= UNO_SRAM,
                   exact_cycles=session.exact_cycles)
        rows.append(row)
    out = ROOT / "extras" / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "uno.json").write_text(json.dumps(rows, indent=2) + "\n")
    head = ("| model | test accuracy | model bytes | arena B | sketch flash B | sketch SRAM B (with stack) | "
            "MACs | cycles / inference | cycles / MAC | ms @ 16 MHz |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        acc = f"{r['accuracy']:.2%}" if "accuracy" in r else "n/a"
        if "cycles" in r:
            lines.append(f"| {r['model']} | {acc} | {r['model_bytes']} | {r['arena_bytes']} | {r['flash_bytes']} | "
                         f"{r['sram_bytes']} | {r['macs']} | {r['cycles']} | {r['cycles_per_mac']} | {r['ms_at_16mhz']} |")
        else:
            lines.append(f"| {r['model']} | {acc} | {r['model_bytes']} | {r['arena_bytes']} | - | "
                         f"{r['note']} | {r['macs']} | - | - | - |")
    table = "\n".join(lines) + "\n"
    (out / "uno.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
