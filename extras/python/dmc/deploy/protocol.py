"""The serial protocol between a host and the firmware runner (src/dmc/serial_runner.h).

Frame (little-endian)::

    0xD3 | version (1) | type | length (u16) | payload (length bytes) | CRC-16 (u16)

The CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over version, type, length and
payload. Requests and replies:

=========  ====  =========================================  ====  ==================================
request    type  payload                                    reply payload
=========  ====  =========================================  ====  ==================================
HELLO      0x01  (none)                                     0x81  INFO (see :class:`DeviceInfo`)
INFER      0x02  packed input (the model's input bytes)     0x82  cycles (u32) + packed output
STATS      0x03  (none)                                     0x83  stack free minimum (u16), SRAM (u16)
=========  ====  =========================================  ====  ==================================

The device answers a bad frame with ERROR (0x7F, one byte: 1 bad CRC, 2 bad length, 3 unknown
type, 4 unsupported version, 5 timeout inside a frame) and resynchronizes on the next 0xD3, so
garbage on the line costs a retry, never a hang.
"""
from __future__ import annotations

import binascii
import struct
import time
from dataclasses import dataclass

from ..errors import DMCError

SYNC = 0xD3
VERSION = 1
HELLO, INFER, STATS = 0x01, 0x02, 0x03
INFO, RESULT, STATS_REPLY, ERROR = 0x81, 0x82, 0x83, 0x7F
ERRORS = {1: "bad CRC", 2: "bad length", 3: "unknown type", 4: "unsupported protocol version",
          5: "timeout inside a frame"}
MAX_PAYLOAD = 0xFFFF


class ProtocolError(DMCError):
    pass


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (the standard library's table-driven CRC-CCITT from ``crc``).

    >>> hex(crc16(b"123456789"))
    '0x29b1'
    """
    return binascii.crc_hqx(data, crc)


def encode(ftype: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = struct.pack("<BBH", version, ftype, len(payload)) + payload
    return bytes([SYNC]) + body + struct.pack("<H", crc16(body))


@dataclass
class DeviceInfo:
    """What the firmware says about itself in its INFO reply."""
    protocol: int
    input_bytes: int
    output_bytes: int
    input_bits: int
    output_bits: int
    arena_bytes: int
    model_bytes: int
    macs: int
    cpu_hz: int
    name: str

    FORMAT = "<BHHBBIIII"

    @classmethod
    def decode(cls, payload: bytes) -> "DeviceInfo":
        n = struct.calcsize(cls.FORMAT)
        if len(payload) < n:
            raise ProtocolError(f"INFO payload of {len(payload)} bytes is shorter than {n}")
        fields = struct.unpack_from(cls.FORMAT, payload)
        return cls(*fields, name=payload[n:].decode("ascii", "replace"))


class FrameReader:
    """Incremental frame parser: feed bytes, get complete frames; skips garbage and bad CRCs."""

    def __init__(self, max_payload: int = 4096):
        self.buf = bytearray()
        self.dropped = 0
        self.max_payload = max_payload

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        self.buf += data
        frames = []
        while True:
            start = self.buf.find(SYNC)
            if start < 0:
                self.dropped += len(self.buf)
                self.buf.clear()
                return frames
            if start:
                self.dropped += start
                del self.buf[:start]
            if len(self.buf) < 5:
                return frames
            version, ftype, length = struct.unpack_from("<BBH", self.buf, 1)
            if version != VERSION or length > self.max_payload:
                self.dropped += 1          # a stray 0xD3 in garbage, not a frame header
                del self.buf[:1]
                continue
            total = 5 + length + 2
            if len(self.buf) < total:
                return frames
            body = bytes(self.buf[1:5 + length])
            (crc,) = struct.unpack_from("<H", self.buf, 5 + length)
            if crc != crc16(body):
                self.dropped += 1
                del self.buf[:1]           # not a frame after all: resync on the next 0xD3
                continue
            frames.append((version, ftype, body[4:]))
            del self.buf[:total]


class Link:
    """Request/reply over a byte stream ``io`` with ``write(bytes)`` and ``read(n, timeout)``
    (returning what arrived, possibly nothing). Retries on timeouts, garbage and device errors."""

    def __init__(self, io, timeout: float = 5.0, retries: int = 3):
        self.io, self.timeout, self.retries = io, timeout, retries
        self.reader = FrameReader()
        self.retried = 0

    def request(self, ftype: int, payload: bytes, expect: int, timeout: float | None = None) -> bytes:
        last = "no reply"
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
            self.io.write(encode(ftype, payload))
            deadline = time.monotonic() + (timeout or self.timeout)
            while time.monotonic() < deadline:
                data = self.io.read(4096, max(0.0, deadline - time.monotonic()))
                if not data:
                    continue
                for version, rtype, body in self.reader.feed(data):
                    if rtype == expect:
                        return body
                    if rtype == ERROR:
                        last = f"device error: {ERRORS.get(body[0] if body else 0, 'unknown')}"
                        deadline = 0          # retry now
                        break
                    last = f"unexpected reply type {rtype:#04x}"
            else:
                last = f"no reply within {timeout or self.timeout:.1f} s"
        raise ProtocolError(f"request {ftype:#04x} failed after {self.retries + 1} attempts: {last}")

    def hello(self, timeout: float | None = None) -> DeviceInfo:
        return DeviceInfo.decode(self.request(HELLO, b"", INFO, timeout))

    def infer(self, packed_input: bytes, timeout: float | None = None) -> tuple[int, bytes]:
        body = self.request(INFER, packed_input, RESULT, timeout)
        if len(body) < 4:
            raise ProtocolError(f"RESULT payload of {len(body)} bytes has no cycle count")
        return struct.unpack_from("<I", body)[0], body[4:]

    def stats(self) -> tuple[int, int]:
        body = self.request(STATS, b"", STATS_REPLY)
        if len(body) < 4:
            raise ProtocolError("STATS payload too short")
        return struct.unpack_from("<HH", body)
