"""Which serial ports look like a board: ``dmc ports`` and ``dmc verify --port auto``.

A port is a likely board when its USB vendor ID belongs to a board maker or to a USB-serial chip
that boards carry (CH340, FTDI, CP210x, ...). Built-in UARTs (/dev/ttyS*) and Bluetooth ports
have no USB IDs and are listed but never picked.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import DMCError

# USB vendor ID -> who makes the board or its USB-serial chip
BOARD_VENDORS = {
    0x2341: "Arduino",
    0x2A03: "Arduino (arduino.org)",
    0x1A86: "QinHeng CH340/CH9102 USB-serial",
    0x0403: "FTDI USB-serial",
    0x10C4: "Silicon Labs CP210x USB-serial",
    0x067B: "Prolific PL2303 USB-serial",
    0x239A: "Adafruit",
    0x1B4F: "SparkFun",
    0x303A: "Espressif",
    0x2E8A: "Raspberry Pi (RP2040)",
    0x16C0: "PJRC Teensy",
    0x0483: "STMicroelectronics (ST-LINK, STM32)",
    0x0D28: "Arm DAPLink (mbed)",
    0x1366: "SEGGER J-Link",
}


class PortError(DMCError):
    pass


@dataclass(frozen=True)
class Port:
    device: str
    description: str
    vid: int | None
    pid: int | None

    @property
    def maker(self) -> str | None:
        """The board maker or USB-serial chip behind the port, or None when unknown."""
        return BOARD_VENDORS.get(self.vid) if self.vid is not None else None

    @property
    def likely_board(self) -> bool:
        return self.maker is not None

    @property
    def vid_pid(self) -> str:
        return f"{self.vid:04X}:{self.pid or 0:04X}" if self.vid is not None else "-"

    def label(self) -> str:
        return f"{self.device} ({self.description}, {self.vid_pid})"


def list_ports() -> list[Port]:
    """The serial ports pyserial sees, likely boards first, each group sorted by device name."""
    try:
        from serial.tools import list_ports as pyserial_ports
    except ImportError:
        raise PortError("listing serial ports needs pyserial: pip install pyserial") from None
    ports = [Port(p.device, p.description or "n/a", p.vid, p.pid) for p in pyserial_ports.comports()]
    return sorted(ports, key=lambda p: (not p.likely_board, p.device))


def ports_table(ports: list[Port]) -> str:
    """One line per port; likely boards are marked with '*'."""
    if not ports:
        return "no serial ports found\n"
    rows = [("  ", "device", "VID:PID", "board / USB-serial", "description")]
    rows += [("* " if p.likely_board else "  ", p.device, p.vid_pid, p.maker or "-", p.description) for p in ports]
    widths = [max(len(r[i]) for r in rows) for i in range(1, 4)]
    lines = [r[0] + "  ".join(c.ljust(w) for c, w in zip(r[1:4], widths)) + "  " + r[4] for r in rows]
    legend = "* a likely board (its USB vendor ID is a board maker's or a USB-serial chip's)"
    return "\n".join([line.rstrip() for line in lines] + [legend]) + "\n"


def resolve_port(spec: str) -> str:
    """``spec`` itself, or for ``auto`` the one port that looks like a board (an error that lists
    the candidates when there is none or more than one)."""
    if spec != "auto":
        return spec
    ports = list_ports()
    boards = [p for p in ports if p.likely_board]
    if len(boards) == 1:
        return boards[0].device
    if not boards:
        seen = "; ".join(p.label() for p in ports) or "none"
        raise PortError(f"--port auto: no serial port looks like a board (ports found: {seen}); connect the board "
                        "or name its port, e.g. --port /dev/ttyACM0 (see `dmc ports`)")
    raise PortError(f"--port auto: {len(boards)} ports look like boards: "
                    f"{'; '.join(p.label() for p in boards)}; name one with --port")
