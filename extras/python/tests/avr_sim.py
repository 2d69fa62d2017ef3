"""Run generated models bare-metal on simavr (no Arduino core, no PlatformIO): the models and their
inputs are compiled into one firmware that runs every input, sends the packed outputs over UART0
and stamps each inference's cycles through GPIOR0. Used by the AVR kernel parity tests."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from dmc.core.packing import pack, packed_size, unpack
from dmc.deploy.codegen import codegen
from dmc.deploy.host_build import runtime_dir

HARNESS_SRC = Path(__file__).resolve().parents[2] / "platformio" / "simavr" / "dmc_simavr.c"
STAMP = re.compile(r"DMC_STAMP (\d+) (\d+)")
MCU = "atmega1284p"  # 16 KB of SRAM: many small models in one firmware (flash data must stay in the first 64 KB)
AVR_FLAGS = ["-std=gnu++11", "-Os", "-Wall", "-Wextra", "-Werror", "-fno-exceptions", "-fno-rtti",
             "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections", f"-mmcu={MCU}", "-DF_CPU=16000000UL"]


def available() -> bool:
    return all(shutil.which(t) for t in ("avr-g++", "gcc")) and Path("/usr/include/simavr/sim_avr.h").exists()


def simulator(workdir: Path) -> Path:
    exe = workdir / "dmc_simavr"
    if not exe.exists():
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(HARNESS_SRC), "-lsimavr", "-lelf"], check=True)
    return exe


def run_firmware(main_cpp: str, workdir: Path, sources=(), extra_flags=()) -> tuple[bytes, list[tuple[int, int]]]:
    """Compile ``main_cpp`` (+ ``sources``) with the runtime for the simulated AVR and run it until
    it writes GPIOR1; returns what it sent over UART0 and its GPIOR0 stamps (value, cycle)."""
    d = Path(workdir)
    (d / "main.cpp").write_text(main_cpp)
    elf = d / "fw.elf"
    cmd = ["avr-g++", *AVR_FLAGS, *extra_flags, f"-I{runtime_dir()}", f"-I{d}", *sources, str(d / "main.cpp"),
           "-o", str(elf)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"AVR build failed:\n{proc.stderr[-4000:]}")
    # stdin stays open (the harness stops 5 simulated seconds after its input closes): the
    # firmware ends the run itself through GPIOR1
    read_end, write_end = os.pipe()
    try:
        run = subprocess.run([str(simulator(d)), "-m", MCU, "-t", "600", str(elf)], stdin=read_end,
                             capture_output=True, timeout=600)
    finally:
        os.close(read_end)
        os.close(write_end)
    if run.returncode != 0:
        raise AssertionError(f"simavr exited with {run.returncode}: {run.stderr.decode(errors='replace')[-2000:]}")
    return run.stdout, [(int(a), int(b)) for a, b in STAMP.findall(run.stderr.decode())]


UART_TX = """static void tx(uint8_t b) {
  while (!(UCSR0A & (1 << UDRE0))) {
  }
  UCSR0A |= (1 << TXC0);
  UDR0 = b;
}
static void uart_begin() {
  UBRR0 = 0;
  UCSR0A = (1 << U2X0);
  UCSR0B = (1 << TXEN0);
}
static void finish() {
  while (!(UCSR0A & (1 << TXC0))) {
  }
  GPIOR1 = 0;
  for (;;) {
  }
}
"""


def run_models(models, codes_per_model, workdir, extra_flags=(), overlap="auto") -> tuple[list[np.ndarray], list[list[int]]]:
    """Build one firmware with every model and its inputs, run it in simavr; returns the output
    codes per model (N, *output_shape) and the cycles of each inference (``overlap``: the planner's)."""
    d = Path(workdir)
    d.mkdir(parents=True, exist_ok=True)
    names = [f"m{i}" for i in range(len(models))]
    main = ["#include <avr/io.h>", "#include <avr/pgmspace.h>", "#include <string.h>"]
    main += [f'#include "{n}.h"' for n in names]
    body = []
    for n, m, codes in zip(names, models, codes_per_model):
        codegen(m, d, n, overlap)
        bits = m.input_quant["bits"]
        raw = b"".join(pack(c.ravel(), bits) for c in np.asarray(codes))
        main.append(f"static const uint8_t in_{n}[{len(raw)}] PROGMEM = {{{', '.join(map(str, raw))}}};")
        up = n.upper()
        body.append(f"""  for (uint16_t s = 0; s < {len(codes)}u; ++s) {{
    memcpy_P({n}.input(), in_{n} + s * {up}_INPUT_BYTES, {up}_INPUT_BYTES);
    GPIOR0 = 1;
    {n}.predict();
    GPIOR0 = 2;
    for (uint16_t j = 0; j < {up}_OUTPUT_BYTES; ++j) tx({n}.output()[j]);
  }}""")
    main.append(UART_TX)
    main.append("int main() {\n  uart_begin();")
    main += body
    main.append("  finish();\n}")
    out, stamps = run_firmware("\n".join(main) + "\n", d, [str(d / f"{n}.cpp") for n in names], extra_flags)
    cycles = [b2 - b1 for (v1, b1), (v2, b2) in zip(stamps[::2], stamps[1::2]) if (v1, v2) == (1, 2)]
    pos, outs, per_model = 0, [], []
    k = 0
    for m, codes in zip(models, codes_per_model):
        n_out, bits = int(np.prod(m.output_shape)), m.output_quant["bits"]
        nb = packed_size(n_out, bits)
        rows = []
        for _ in range(len(codes)):
            rows.append(unpack(out[pos:pos + nb], bits, n_out))
            pos += nb
        outs.append(np.array(rows, dtype=np.int32).reshape((len(codes),) + tuple(m.output_shape)))
        per_model.append(cycles[k:k + len(codes)])
        k += len(codes)
    if pos != len(out):
        raise AssertionError(f"the firmware sent {len(out)} bytes, expected {pos}")
    return outs, per_model
