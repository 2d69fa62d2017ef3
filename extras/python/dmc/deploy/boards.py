"""Boards the budget check knows. Flash and SRAM are what a sketch may use; the runtime
overheads are what the Arduino core, the kernels, the serial runner and the stack take besides
the model's constants and arena. On the Uno they are measured (simulated Uno, serial-runner
sketch with 16-byte UART buffers, LeNet-5 models): 9.8-10.4 KB of flash and 365 B of SRAM
including the stack peak; other boards are estimates. On the AVR boards the budget check prices
the flash per kernel instantiation instead (dmc.deploy.flash): the kernels a model needs range
from 7 to 14 KB, and the flat overhead (used by the search's model-byte cap) is only a guide."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import DMCError


@dataclass(frozen=True)
class Board:
    key: str
    name: str
    flash: int            # bytes available to the program
    sram: int             # bytes of data memory
    overhead_flash: int   # estimated flash for core, runtime kernels and serial runner
    overhead_sram: int    # estimated SRAM for core, serial buffers and stack
    arm_dsp: bool = False  # runs the Cortex-M DSP kernels, whose scratch joins the arena
    avr: bool = False     # flash is estimated per kernel instantiation (dmc.deploy.flash)


BOARDS = {b.key: b for b in (
    Board("uno", "Arduino Uno (ATmega328P)", 32256, 2048, 10500, 370, avr=True),
    Board("nano", "Arduino Nano (ATmega328P)", 30720, 2048, 10500, 370, avr=True),
    Board("mega", "Arduino Mega 2560 (ATmega2560)", 253952, 8192, 10500, 400, avr=True),
    Board("m4", "Cortex-M4 (QEMU mps2-an386)", 4 << 20, 4 << 20, 12000, 2048, arm_dsp=True),
    Board("rv32", "RISC-V RV32IMC (QEMU virt)", 4 << 20, 4 << 20, 12000, 2048),
    Board("esp32", "ESP32 (default app partition)", 1310720, 327680, 250000, 40000),
)}


def get_board(key: str) -> Board:
    if key not in BOARDS:
        raise DMCError(f"unknown board '{key}'; known boards: {', '.join(sorted(BOARDS))}")
    return BOARDS[key]
