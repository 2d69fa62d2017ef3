"""Deployment figures of a model on the simulated Arduino Uno: the whole serial-runner sketch is
built with PlatformIO for simavr, a few inputs are streamed through it (outputs checked against
the interpreter), and flash, SRAM (static + measured stack peak) and exact cycles are read off."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..core.intmodel import load
from ..errors import DMCError
from .budget import budget
from .device import DeviceSession, ProcessTransport
from .firmware import FirmwareError, build_sim_firmware

UNO_FLASH, UNO_SRAM, UNO_HZ = 32256, 2048, 16_000_000


def avr_sizes(elf: Path) -> tuple[int, int]:
    """(flash, static SRAM) of an AVR ELF: .text + .data, .data + .bss + .noinit."""
    out = subprocess.run(["avr-size", "-A", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    sec = {p[0]: int(p[1]) for p in (ln.split() for ln in out.splitlines()) if len(p) >= 2 and p[1].isdigit()}
    return sec.get(".text", 0) + sec.get(".data", 0), sec.get(".data", 0) + sec.get(".bss", 0) + sec.get(".noinit", 0)


def measure_uno(model_path, codes) -> dict:
    """Build, run and measure ``model_path`` on the simulated Uno with input ``codes``.

    Returns model_bytes, arena_bytes, macs and, when it links, flash_bytes, static_sram_bytes,
    sram_bytes (static + stack peak as measured by the firmware), cycles (median, exact),
    cycles_per_mac, ms (at 16 MHz) and fits_uno; otherwise fits_uno=False and a note."""
    model = load(model_path)
    b = budget(model)
    row = {"model_bytes": model.model_bytes, "arena_bytes": b["arena_bytes"], "macs": model.total_macs}
    with tempfile.TemporaryDirectory(prefix="dmc-uno-") as tmp:
        try:
            program = build_sim_firmware(model_path, "uno", tmp)
        except FirmwareError as e:
            if "not within region" not in str(e):
                raise
            row.update(fits_uno=False, note="does not link for an Uno: .bss exceeds its 2 KB of SRAM")
            return row
        flash, static = avr_sizes(program.parent / "firmware.elf")
        session = DeviceSession(model, ProcessTransport([str(program)]), timeout=120)
        try:
            got = session.run(codes)
            expected = model.predict(codes)
            if not np.array_equal(got, expected):
                raise DMCError(f"{model_path}: the simulated Uno's outputs differ from the interpreter")
            free, total = session.stats()
        finally:
            session.close()
    cycles = int(np.median(session.cycles))
    sram = total - free
    row.update(flash_bytes=flash, static_sram_bytes=static, sram_bytes=sram, cycles=cycles,
               cycles_per_mac=round(cycles / max(row["macs"], 1), 2), ms=round(cycles / UNO_HZ * 1e3, 2),
               exact_cycles=session.exact_cycles, fits_uno=flash <= UNO_FLASH and sram <= UNO_SRAM)
    return row


def measure_qemu(model_path, codes, sim: str, build_flags: str = "") -> dict:
    """Build and run ``model_path`` on a QEMU board (``sim`` "m4" or "rv32") with input ``codes``:
    exact instructions per inference (median; outputs checked against the interpreter) and per
    MAC. ``build_flags`` e.g. -DDMC_NO_ARM_DSP measures the M4 with the portable kernels."""
    model = load(model_path)
    with tempfile.TemporaryDirectory(prefix=f"dmc-{sim}-") as tmp:
        program = build_sim_firmware(model_path, sim, tmp, build_flags)
        session = DeviceSession(model, ProcessTransport([str(program)]), timeout=120)
        try:
            got = session.run(codes)
        finally:
            session.close()
    if not np.array_equal(got, model.predict(codes)):
        raise DMCError(f"{model_path}: the QEMU {sim} outputs differ from the interpreter")
    if session.unit != "instructions":
        raise DMCError(f"the {sim} firmware did not report exact instruction counts")
    instructions = int(np.median(session.cycles))
    return {"macs": model.total_macs, "instructions": instructions,
            "instructions_per_mac": round(instructions / max(model.total_macs, 1), 2)}
