"""Talking to a running firmware: a board on a serial port, or a simulator process whose UART is
its stdin/stdout (simavr for the Uno, QEMU for the Cortex-M4, or a native build). The same
code streams a test set through all of them (``dmc verify`` and ``pio test`` use it)."""
from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..core.intmodel import IntModel
from ..core.packing import pack, unpack
from ..errors import DMCError
from .protocol import DeviceInfo, Link

STAMP = re.compile(r"DMC_STAMP (\d+) (\d+)")
COUNTER = re.compile(r"DMC_COUNTER (instructions)")   # a QEMU launcher: INFER counts are exact


class DeviceError(DMCError):
    pass


class ProcessTransport:
    """A child process (simulator or native build) whose stdin/stdout are the UART. simavr's
    exact cycle stamps (GPIOR0 writes, printed on stderr) are collected on the side; a QEMU
    launcher announces on stderr that the firmware's own counts are exact instruction counts."""

    def __init__(self, cmd: list[str], cwd=None):
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         bufsize=0, cwd=cwd)
        except OSError as e:
            raise DeviceError(f"cannot start {cmd[0]}: {e.strerror}") from None
        self.chunks: queue.Queue = queue.Queue()
        self.stamps: list[tuple[int, int]] = []
        self.stderr: list[str] = []
        self.counter: str | None = None
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    def _pump_stdout(self):
        while True:
            data = os.read(self.proc.stdout.fileno(), 4096)
            if not data:
                self.chunks.put(b"")
                return
            self.chunks.put(data)

    def _pump_stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            m = STAMP.match(line)
            c = COUNTER.match(line)
            if m:
                self.stamps.append((int(m.group(1)), int(m.group(2))))
            elif c:
                self.counter = c.group(1)
            else:
                self.stderr.append(line)

    def write(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise DeviceError(f"the firmware process exited (status {self.proc.poll()}): "
                              + " | ".join(self.stderr[-5:])) from None

    def read(self, n: int, timeout: float) -> bytes:
        try:
            data = self.chunks.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            return b""
        if data == b"":
            self.chunks.put(b"")
            if self.proc.poll() is not None:
                raise DeviceError(f"the firmware process exited (status {self.proc.returncode}): "
                                  + " | ".join(self.stderr[-5:]))
            time.sleep(timeout)
            return b""
        while not self.chunks.empty():
            more = self.chunks.get_nowait()
            if more == b"":
                self.chunks.put(b"")
                break
            data += more
        return data

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class SerialTransport:
    """A board on a serial port (pyserial). Opening the port resets an Uno: the first HELLO is
    retried until its bootloader has handed over."""

    def __init__(self, port: str, baud: int = 115200):
        try:
            import serial
        except ImportError:
            raise DeviceError("pyserial is needed for --port: pip install pyserial") from None
        try:
            self.ser = serial.Serial(port, baud, timeout=0.1)
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"cannot open serial port {port}: {e}") from None
        self.stamps: list[tuple[int, int]] = []

    def write(self, data: bytes) -> None:
        self.ser.write(data)
        self.ser.flush()

    def read(self, n: int, timeout: float) -> bytes:
        self.ser.timeout = max(timeout, 0.001)
        first = self.ser.read(1)
        return first + self.ser.read(self.ser.in_waiting) if first else b""

    def close(self) -> None:
        self.ser.close()


@dataclass
class DeviceSession:
    """Streams inputs through a device running the serial runner for ``model``."""
    model: IntModel
    transport: object
    timeout: float = 10.0
    info: DeviceInfo | None = None
    cycles: list = field(default_factory=list)
    exact_cycles: bool = False
    unit: str = "cycles"          # what ``cycles`` counts: "instructions" on the QEMU boards

    def __post_init__(self):
        self.link = Link(self.transport, timeout=self.timeout, retries=5)
        # a HELLO that arrives while the firmware boots (before its UART receives) is lost:
        # ask again soon rather than after the full timeout
        self.info = self.link.hello(timeout=min(self.timeout, 3.0))
        if getattr(self.transport, "counter", None) == "instructions":
            self.exact_cycles, self.unit = True, "instructions"
        m = self.model
        expect = (m.tensor_bytes(m.input_name), m.tensor_bytes(m.output), m.input_quant["bits"], m.output_quant["bits"])
        got = (self.info.input_bytes, self.info.output_bytes, self.info.input_bits, self.info.output_bits)
        if expect != got:
            raise DeviceError(f"the device runs a different model ('{self.info.name}': input/output bytes and bits "
                              f"{got}, this model {expect})")

    def run(self, codes) -> np.ndarray:
        """Integer codes (N, *input_shape) -> output codes from the device."""
        m = self.model
        n_out = int(np.prod(m.output_shape))
        outs = []
        for c in np.asarray(codes):
            before = len(self.transport.stamps)
            cycles, raw = self.link.infer(pack(c.ravel(), m.input_quant["bits"]))
            stamps = self.transport.stamps[before:]
            if len(stamps) >= 2 and stamps[-2][0] == 1 and stamps[-1][0] == 2:
                cycles, self.exact_cycles = stamps[-1][1] - stamps[-2][1], True
            self.cycles.append(cycles)
            outs.append(unpack(raw, m.output_quant["bits"], n_out))
        return np.array(outs, dtype=np.int32).reshape((len(outs),) + m.output_shape)

    def stats(self) -> tuple[int, int]:
        """(smallest free stack seen in bytes, SRAM size); (0xFFFF, 0) when the target cannot tell."""
        return self.link.stats()

    def close(self):
        self.transport.close()
