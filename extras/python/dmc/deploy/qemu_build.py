"""Generated models compiled into one bare-metal firmware for a QEMU board (Cortex-M4 with its
DSP kernels, RISC-V RV32) and run there, with the same ``run(i, codes)`` as
:class:`dmc.deploy.host_build.HostBuild`: the parity tests compare the target's own kernels with
the interpreter on many models at once, without PlatformIO or the serial protocol.

The firmware reads records ``[model index][packed input]`` from its UART and answers each with
the packed output; it uses the same board shim (start-up, linker script, UART) as the
PlatformIO platforms in extras/platformio."""
from __future__ import annotations

import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.intmodel import IntModel
from ..core.packing import pack, packed_size, unpack
from .codegen import codegen
from .firmware import library_root
from .host_build import BuildError, runtime_dir


@dataclass(frozen=True)
class QemuTarget:
    cxx: str
    flags: tuple
    link: tuple
    port: str           # shim source with the board's UART and counters
    startup: str
    qemu: tuple


TARGETS = {
    "m4": QemuTarget(
        "arm-none-eabi-g++", ("-mcpu=cortex-m4", "-mthumb", "-DDMC_QEMU_ICOUNT_SHIFT=7"),
        ("--specs=nano.specs", "--specs=nosys.specs", "-T", "mps2_an386.ld"), "port_mps2.cpp", "startup_mps2.c",
        ("qemu-system-arm", "-M", "mps2-an386", "-icount", "shift=7,sleep=off")),
    "rv32": QemuTarget(
        "riscv64-unknown-elf-g++", ("-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs",
                                    "-DDMC_QEMU_ICOUNT_SHIFT=0"),
        ("-Wl,--no-warn-rwx-segments", "-T", "rv32_virt.ld"), "port_rv32.cpp", "startup_rv32.c",
        ("qemu-system-riscv32", "-M", "virt", "-bios", "none", "-icount", "shift=0,sleep=off")),
}
FLAGS = ["-std=gnu++11", "-Os", "-Wall", "-Wextra", "-Werror", "-fno-exceptions", "-fno-rtti",
         "-ffunction-sections", "-fdata-sections", "-DDMC_INSTRUCTION_COUNTER"]


def _harness(names: list[str]) -> str:
    cases = []
    for i, n in enumerate(names):
        up = n.upper()
        cases.append(f"    case {i}:\n      get({n}.input(), {up}_INPUT_BYTES);\n      {n}.predict();\n"
                     f"      put({n}.output(), {up}_OUTPUT_BYTES);\n      break;")
    includes = "\n".join(f'#include "{n}.h"' for n in names)
    return f"""// QEMU test harness: reads [model index][packed input] records from the UART, writes packed outputs.
#include "Arduino.h"
{includes}

static uint8_t get_byte() {{
  int c;
  while ((c = Serial.read()) < 0) {{
  }}
  return (uint8_t)c;
}}
static void get(uint8_t *p, uint32_t n) {{
  while (n--) *p++ = get_byte();
}}
static void put(const uint8_t *p, uint32_t n) {{
  while (n--) Serial.write(*p++);
}}

void setup() {{ Serial.begin(115200); }}

void loop() {{
  switch (get_byte()) {{
{chr(10).join(cases)}
    default:
      Serial.write(0xEE);  // unknown model index
  }}
}}
"""


class QemuBuild:
    """Models compiled into one firmware for QEMU board ``target`` ("m4" or "rv32")."""

    def __init__(self, models: list[IntModel], names: list[str], workdir, target: str, extra_flags=(),
                 overlap: str = "auto"):
        if target not in TARGETS:
            raise BuildError(f"unknown QEMU target '{target}'; known: {sorted(TARGETS)}")
        t = self.target = TARGETS[target]
        for tool in (t.cxx, t.qemu[0]):
            if not shutil.which(tool):
                raise BuildError(f"{tool} is not installed (run extras/scripts/setup.sh)")
        self.models, self.names = list(models), list(names)
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        for m, n in zip(self.models, self.names):
            codegen(m, self.dir, n, overlap)
        (self.dir / "harness.cpp").write_text(_harness(self.names))
        shim = library_root() / "extras" / "platformio" / "shim"
        self.elf = self.dir / "harness.elf"
        link = [a if not a.endswith(".ld") else str(shim / a) for a in t.link]
        cc = t.cxx[:-3] + "gcc"            # the start-up code is C; linking as C needs no libstdc++
        self._compile([cc, *t.flags, "-Os", "-Wall", "-Wextra", "-Werror", "-c", str(shim / t.startup)], target)
        sources = [str(self.dir / f"{n}.cpp") for n in self.names] + [
            str(self.dir / "harness.cpp"), str(shim / "shim_common.cpp"), str(shim / t.port)]
        self.warnings = self._compile([t.cxx, *t.flags, *FLAGS, *extra_flags, f"-I{runtime_dir()}", f"-I{shim}",
                                       f"-I{self.dir}", "-c", *sources], target)
        objects = [str(self.dir / (Path(src).stem + ".o")) for src in sources + [t.startup]]
        self._compile([cc, *t.flags, *objects, "-nostartfiles", "-Wl,--gc-sections", *link, "-o", str(self.elf)],
                      target)

    def _compile(self, cmd: list[str], target: str) -> str:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.dir)
        if proc.returncode != 0:
            raise BuildError(f"{target} build failed ({' '.join(cmd)}):\n{proc.stderr[-4000:]}")
        return proc.stderr

    def run(self, index: int, codes: np.ndarray, timeout: float = 300.0) -> np.ndarray:
        """Integer input codes (N, *input_shape) -> output codes (N, *output_shape) from QEMU."""
        m = self.models[index]
        in_bits, out_bits = m.input_quant["bits"], m.output_quant["bits"]
        n_in, n_out = int(np.prod(m.input_shape)), int(np.prod(m.output_shape))
        codes = np.asarray(codes).reshape(len(codes), n_in)
        payload = b"".join(bytes([index]) + pack(c, in_bits) for c in codes)
        nb = packed_size(n_out, out_bits)
        want = nb * len(codes)
        cmd = [*self.target.qemu, "-nographic", "-monitor", "none", "-chardev", "stdio,id=uart,mux=off,signal=off",
               "-serial", "chardev:uart", "-kernel", str(self.elf)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        got = bytearray()
        done = threading.Event()

        def reader():
            while len(got) < want:
                chunk = proc.stdout.read1(65536)
                if not chunk:
                    break
                got.extend(chunk)
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        try:
            proc.stdin.write(payload)
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        finished = done.wait(timeout)
        proc.kill()
        proc.wait()
        if not finished or len(got) < want:
            err = proc.stderr.read().decode(errors="replace")[-2000:]
            raise BuildError(f"QEMU model '{self.names[index]}' answered {len(got)} of {want} bytes "
                             f"{'in ' + str(timeout) + ' s' if not finished else ''}{': ' + err if err else ''}")
        out = [unpack(bytes(got[i * nb:(i + 1) * nb]), out_bits, n_out) for i in range(len(codes))]
        return np.array(out, dtype=np.int32).reshape((len(codes),) + m.output_shape)
