"""The serial protocol: framing, CRC, resynchronization on garbage, retries; and the firmware
runner's side of it, on a native build of the runner, reached both through pipes and through a
pseudo-terminal with pyserial (the path `dmc verify --port` takes to a real board)."""
from __future__ import annotations

import os
import pty
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dmc
from dmc.deploy.device import DeviceSession, ProcessTransport, SerialTransport
from dmc.deploy.protocol import (ERROR, HELLO, INFER, INFO, SYNC, VERSION, FrameReader, Link, ProtocolError, crc16,
                          encode)

REPO = Path(__file__).resolve().parents[3]
TINY = REPO / "examples" / "MnistLeNet5" / "lenet5_tiny.dmc"


def test_crc_and_frame_layout():
    assert crc16(b"123456789") == 0x29B1                # CRC-16/CCITT-FALSE check value
    f = encode(INFER, b"\x01\x02")
    assert f[0] == SYNC and f[1] == VERSION and f[2] == INFER and f[3:5] == b"\x02\x00" and f[5:7] == b"\x01\x02"
    assert struct.unpack("<H", f[7:9])[0] == crc16(f[1:7])


def test_reader_resynchronizes_on_garbage_and_bad_crc():
    good = encode(HELLO)
    bad = bytearray(encode(INFER, b"abc"))
    bad[-1] ^= 0xFF
    stream = b"\xd3\x07\x99" + bytes(bad) + b"noise\xd3" + good + encode(INFER, b"xyz")
    r = FrameReader()
    frames = []
    for i in range(0, len(stream), 3):                  # arbitrary chunking
        frames += r.feed(stream[i:i + 3])
    assert frames == [(VERSION, HELLO, b""), (VERSION, INFER, b"xyz")]
    assert r.dropped > 0


class FlakyDevice:
    """Answers HELLO only on the second try; the first request is met with a device ERROR."""

    def __init__(self):
        self.out, self.requests = b"", 0

    def write(self, data):
        self.requests += 1
        self.out += encode(ERROR, b"\x01") if self.requests == 1 else b"junk" + encode(INFO, bytes(23) + b"x")

    def read(self, n, timeout):
        data, self.out = self.out, b""
        if not data:
            time.sleep(min(timeout, 0.01))
        return data


def test_link_retries_after_device_errors_and_gives_up_clearly():
    dev = FlakyDevice()
    link = Link(dev, timeout=0.2, retries=2)
    info = link.hello()
    assert info.name == "x" and link.retried == 1

    class Silent:
        def write(self, data):
            pass

        def read(self, n, timeout):
            time.sleep(min(timeout, 0.01))
            return b""

    with pytest.raises(ProtocolError, match="failed after 2 attempts: no reply"):
        Link(Silent(), timeout=0.05, retries=1).hello()


@pytest.fixture(scope="module")
def host_runner(tmp_path_factory):
    pytest.importorskip("platformio")
    from dmc.deploy.firmware import build_sim_firmware
    os.environ.setdefault("PLATFORMIO_CORE_DIR", str(REPO / ".pio-core"))
    return build_sim_firmware(TINY, "host", tmp_path_factory.mktemp("fw"))


def test_runner_survives_garbage_bad_frames_and_wrong_lengths(host_runner):
    model = dmc.load(TINY)
    t = ProcessTransport([str(host_runner)])
    try:
        reader = FrameReader()

        def exchange(raw, want):
            t.write(raw)
            deadline = time.monotonic() + 5
            got = []
            while time.monotonic() < deadline and len(got) < want:
                got += reader.feed(t.read(4096, 0.2))
            return got

        bad_crc = bytearray(encode(HELLO))
        bad_crc[-1] ^= 0x55
        assert exchange(b"\x00\xffgarbage" + bytes(bad_crc), 1) == [(VERSION, ERROR, b"\x01")]
        assert exchange(encode(INFER, b"short"), 1) == [(VERSION, ERROR, b"\x02")]      # wrong length
        assert exchange(encode(0x42), 1) == [(VERSION, ERROR, b"\x03")]                 # unknown type
        assert exchange(bytes([SYNC, 9, 1, 0, 0, 0, 0]), 1)[0][1:] == (ERROR, b"\x04")  # newer version
        session = DeviceSession(model, t)                                              # still answers
        codes = np.random.default_rng(0).integers(0, 1 << model.input_quant["bits"], (3,) + model.input_shape)
        assert np.array_equal(session.run(codes), model.predict(codes))
    finally:
        t.close()


def test_serial_port_path_through_a_pseudo_terminal(host_runner):
    pytest.importorskip("serial")
    model = dmc.load(TINY)
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(host_runner)], stdin=master, stdout=master, stderr=subprocess.DEVNULL)
    try:
        session = DeviceSession(model, SerialTransport(os.ttyname(slave)))
        assert session.info.name == "model" and session.info.input_bytes == model.tensor_bytes(model.input_name)
        codes = np.random.default_rng(1).integers(0, 1 << model.input_quant["bits"], (4,) + model.input_shape)
        assert np.array_equal(session.run(codes), model.predict(codes))
        session.close()
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
        os.close(slave)
