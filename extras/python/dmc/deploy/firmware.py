"""Firmware for the simulated boards, built with PlatformIO and the library's own development
platforms, so that ``dmc verify --sim uno|m4|rv32|host`` needs no hand-made project."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from ..errors import DMCError

SIMS = {
    "uno": ("dmcsimavr", "uno_sim"),
    "m4": ("dmcqemu", "mps2_an386"),
    "rv32": ("dmcqemurv32", "virt_rv32"),
    "host": ("dmchost", "host"),
}
# The serial runner reads each byte as it arrives and the host waits for every reply, so the
# Arduino core's 64-byte UART buffers can shrink to 16 bytes: 96 bytes of SRAM back on an Uno.
SERIAL_BUFFER_FLAGS = "-DSERIAL_RX_BUFFER_SIZE=16 -DSERIAL_TX_BUFFER_SIZE=16"
RUNNER_SKETCH = """#include <Arduino.h>
#include <DeepMicroCompression.h>
#include <DMCSerialRunner.h>
#include "model.h"

static DMCSerialRunner<ModelModel> runner("model");

void setup() { runner.begin(115200); }
void loop() { runner.poll(); }
"""


class FirmwareError(DMCError):
    pass


def library_root() -> Path:
    """The DeepMicroCompression library folder (library.json, src/, extras/platformio/):
    $DMC_LIBRARY_DIR, else the checkout the package runs from. An installed wheel carries the
    runtime but not the PlatformIO platforms that the simulated boards need."""
    env = os.environ.get("DMC_LIBRARY_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[4])
    for root in candidates:
        if (root / "library.json").is_file() and (root / "extras" / "platformio" / "platforms").is_dir():
            return root
    raise FirmwareError("simulated boards need the DeepMicroCompression library folder (its PlatformIO platforms "
                        "are not part of the installed package): set DMC_LIBRARY_DIR to a checkout or to the "
                        f"unpacked `pio pkg pack` archive (looked in {', '.join(map(str, candidates))})")


def build_sim_firmware(model_path, sim: str, workdir, build_flags: str = "") -> Path:
    """Build the serial-runner firmware for ``model_path`` on a simulated board; returns the
    launcher that runs it with its UART on stdin/stdout. ``build_flags`` are added to the
    compiler's (e.g. ``-DDMC_PROFILE`` for per-step markers, ``-DDMC_NO_ARM_DSP`` for the portable
    kernels on the M4)."""
    if sim not in SIMS:
        raise FirmwareError(f"unknown simulator '{sim}'; choose one of {sorted(SIMS)}")
    platform, board = SIMS[sim]
    root = library_root()
    if importlib.util.find_spec("platformio") is None:
        raise FirmwareError(f"simulated boards are built with PlatformIO, which this Python ({sys.executable}) lacks: "
                            "pip install platformio")
    proj = Path(workdir)
    (proj / "src").mkdir(parents=True, exist_ok=True)
    (proj / "src" / "main.cpp").write_text(RUNNER_SKETCH)
    (proj / "platformio.ini").write_text(
        f"[env:{sim}]\nplatform = symlink://{root / 'extras' / 'platformio' / 'platforms' / platform}\n"
        f"board = {board}\nframework = arduino\nlib_deps = DeepMicroCompression=symlink://{root}\n"
        f"custom_dmc_model = {Path(model_path).resolve()}\ncustom_dmc_name = model\n"
        f"build_flags = {SERIAL_BUFFER_FLAGS} {build_flags}\n")
    env = dict(os.environ)
    env.setdefault("PLATFORMIO_CORE_DIR", str(root / ".pio-core"))
    env.setdefault("PLATFORMIO_SETTING_ENABLE_TELEMETRY", "no")
    proc = subprocess.run([sys.executable, "-m", "platformio", "run", "-d", str(proj), "-e", sim],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise FirmwareError(f"building the {sim} firmware with PlatformIO failed:\n{tail}")
    program = proj / ".pio" / "build" / sim / "program"
    if not program.exists():
        raise FirmwareError(f"PlatformIO built no {program}")
    return program
