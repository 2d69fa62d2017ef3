"""Where the C++ runtime (the library's src/) is, and how to build a generated model with it
for the host, so that pytest and ``dmc verify --host`` can run the real C++ against the
interpreter."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..core.intmodel import IntModel
from ..core.packing import pack, packed_size, unpack
from ..errors import DMCError
from .codegen import codegen

HOST_FLAGS = ["-std=c++11", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
# AddressSanitizer + UndefinedBehaviorSanitizer: any out-of-bounds access, overflow of a signed
# integer, misaligned read or bad shift in the runtime or the generated code stops the program.
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]


class BuildError(DMCError):
    pass


def runtime_dir() -> Path:
    """The folder holding DeepMicroCompression.h: $DMC_RUNTIME_DIR, else the copy an installed
    package carries (dmc/runtime, put there by the wheel build), else the library's src/ when the
    package runs from extras/python of a checkout."""
    env = os.environ.get("DMC_RUNTIME_DIR")
    here = Path(__file__).resolve()
    candidates = [Path(env)] if env else []
    candidates += [here.parents[1] / "runtime", here.parents[4] / "src"]
    for c in candidates:
        if (c / "DeepMicroCompression.h").is_file():
            return c
    raise BuildError("cannot find the C++ runtime (DeepMicroCompression.h): set DMC_RUNTIME_DIR to the "
                     f"library's src/ folder (looked in {', '.join(map(str, candidates))})")


def _harness(names: list[str]) -> str:
    cases = []
    for i, n in enumerate(names):
        up = n.upper()
        cases.append(f"""      case {i}:
        if (fread({n}.input(), 1, {up}_INPUT_BYTES, stdin) != {up}_INPUT_BYTES) return 2;
        {n}.predict();
        fwrite({n}.output(), 1, {up}_OUTPUT_BYTES, stdout);
        break;""")
    includes = "\n".join(f'#include "{n}.h"' for n in names)
    return f"""// Host test harness: reads [model index][packed input] records, writes packed outputs.
#include <stdio.h>
{includes}

int main() {{
  int id;
  while ((id = getchar()) != EOF) {{
    switch (id) {{
{chr(10).join(cases)}
      default:
        return 3;
    }}
  }}
  return 0;
}}
"""


class HostBuild:
    """Models compiled into one host executable; ``run(i, codes)`` streams inputs through model i.
    With ``sanitize=True`` the executable is built with ASan and UBSan (SANITIZE_FLAGS); ``overlap``
    is the planner's (:func:`dmc.core.planner.plan`)."""

    def __init__(self, models: list[IntModel], names: list[str], workdir, compiler: str | None = None,
                 extra_flags=(), sanitize: bool = False, overlap: str = "auto"):
        self.models, self.names = list(models), list(names)
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        for m, n in zip(self.models, self.names):
            codegen(m, self.dir, n, overlap)
        (self.dir / "harness.cpp").write_text(_harness(self.names))
        cxx = compiler or os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
        if not cxx:
            raise BuildError("no host C++ compiler found (install g++ or set CXX)")
        self.exe = self.dir / "harness"
        sources = [str(self.dir / f"{n}.cpp") for n in self.names] + [str(self.dir / "harness.cpp")]
        cmd = [cxx, *HOST_FLAGS, *(SANITIZE_FLAGS if sanitize else []), *extra_flags, f"-I{runtime_dir()}", f"-I{self.dir}", *sources, "-o", str(self.exe)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"host build failed ({' '.join(cmd)}):\n{proc.stderr[-4000:]}")
        self.warnings = proc.stderr

    def run(self, index: int, codes: np.ndarray) -> np.ndarray:
        """Integer input codes (N, *input_shape) -> output codes (N, *output_shape) from the C++ build."""
        m = self.models[index]
        in_bits, out_bits = m.input_quant["bits"], m.output_quant["bits"]
        n_in, n_out = int(np.prod(m.input_shape)), int(np.prod(m.output_shape))
        codes = np.asarray(codes).reshape(len(codes), n_in)
        header = bytes([index])
        payload = b"".join(header + pack(c, in_bits) for c in codes)
        proc = subprocess.run([str(self.exe)], input=payload, capture_output=True)
        if proc.returncode != 0:
            raise BuildError(f"host model '{self.names[index]}' exited with status {proc.returncode}:\n"
                             f"{proc.stderr.decode(errors='replace')[-4000:]}")
        nb = packed_size(n_out, out_bits)
        if len(proc.stdout) != nb * len(codes):
            raise BuildError(f"host model '{self.names[index]}' wrote {len(proc.stdout)} bytes, "
                             f"expected {nb * len(codes)}")
        out = [unpack(proc.stdout[i * nb:(i + 1) * nb], out_bits, n_out) for i in range(len(codes))]
        return np.array(out, dtype=np.int32).reshape((len(codes),) + m.output_shape)


# Cross builds: prove the generated code and the runtime compile warning-free for the MCUs
# and, on AVR, that a static-quantized model links no soft-float routine.
CROSS_TARGETS = {
    "avr": (["avr-g++", "-mmcu=atmega328p", "-DF_CPU=16000000UL"], "avr-nm"),
    "cortex-m4": (["arm-none-eabi-g++", "-mcpu=cortex-m4", "-mthumb", "--specs=nosys.specs"], "arm-none-eabi-nm"),
    # RV32 (ESP32-C3, CH32V003 class): the C driver compiling C++, since Debian ships no RV32 libstdc++
    "rv32": (["riscv64-unknown-elf-gcc", "-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs", "-x", "c++"],
             "riscv64-unknown-elf-nm"),
}
CROSS_FLAGS = ["-std=gnu++11", "-Os", "-Wall", "-Wextra", "-Werror", "-fno-exceptions", "-fno-rtti",
               "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections"]
_SOFT_FLOAT = ("__addsf3", "__subsf3", "__mulsf3", "__divsf3", "__fixsfsi", "__fixunssfsi", "__floatsisf",
               "__floatunsisf", "__cmpsf2", "__ltsf2", "__gtsf2", "__lesf2", "__gesf2", "__eqsf2", "__nesf2",
               "__unordsf2", "__aeabi_fadd", "__aeabi_fmul", "__aeabi_fdiv", "__aeabi_f2iz", "__aeabi_i2f",
               "floor", "floorf")


def cross_build(model: IntModel, name: str, target: str, workdir) -> Path:
    """Compile and link ``model`` with the runtime and a minimal main for ``target``; returns the ELF."""
    if target not in CROSS_TARGETS:
        raise BuildError(f"unknown target '{target}'; known: {sorted(CROSS_TARGETS)}")
    (cxx, *flags), _ = CROSS_TARGETS[target]
    if not shutil.which(cxx):
        raise BuildError(f"{cxx} is not installed (run extras/scripts/setup.sh)")
    d = Path(workdir)
    d.mkdir(parents=True, exist_ok=True)
    codegen(model, d, name)
    up = name.upper()
    (d / "main.cpp").write_text(f"""#include "{name}.h"
int main() {{
  for (dmc::index_t i = 0; i < {up}_INPUT_SIZE; ++i) {name}.set_input(i, (uint8_t)(i & 0x0F));
  {name}.predict();
  return (int){name}.argmax();
}}
""")
    elf = d / f"{name}.elf"
    cmd = [cxx, *flags, *CROSS_FLAGS, f"-I{runtime_dir()}", f"-I{d}", str(d / f"{name}.cpp"), str(d / "main.cpp"),
           "-o", str(elf)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{target} build failed ({' '.join(cmd)}):\n{proc.stderr[-4000:]}")
    return elf


def symbols(elf: Path, target: str) -> list[str]:
    nm = CROSS_TARGETS[target][1]
    proc = subprocess.run([nm, "--defined-only", str(elf)], capture_output=True, text=True, check=True)
    return [line.split()[-1] for line in proc.stdout.splitlines() if line.strip()]


def soft_float_symbols(elf: Path, target: str) -> list[str]:
    """Soft-float routines linked into ``elf`` (empty for an integer-only build)."""
    return sorted(s for s in symbols(elf, target) if s in _SOFT_FLOAT or s.startswith("__fp_"))
