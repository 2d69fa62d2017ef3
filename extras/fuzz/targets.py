"""What the Python fuzz targets do with one input, and what counts as a bug.

Shared by the atheris harnesses (``artifact_fuzzer.py``, ``frames_fuzzer.py``) and by the
pytest suite, which replays every committed seed and regression input through the same
functions without atheris. A function returns normally when the input was handled: accepted,
or refused with one of dmc's named errors (:class:`dmc.errors.DMCError`). Any other exception,
including the AssertionErrors of the checks below, is a bug.
"""
from __future__ import annotations

import json
import random
import re
import struct
import zlib
from contextlib import contextmanager

import numpy as np

from dmc.core.intmodel import loads
from dmc.core.planner import plan
from dmc.deploy import protocol
from dmc.deploy.codegen import generate
from dmc.errors import DMCError

PREFIX = struct.Struct("<4sHHII")
# Activations of a hostile model may legally be large (a chain of pads): running them costs
# time, not coverage. Models above this many activation elements are loaded and compiled only.
MAX_RUN_ELEMENTS = 1 << 16
_PRINTABLE_LINE = re.compile(r"[\x20-\x7e]*")
_NON_FINITE = re.compile(r"_SCALE [-+]?(inf|nan)", re.I)   # a float literal the compiler rejects


# -- .dmc artifacts ------------------------------------------------------------------------------

def repaired(data: bytes) -> bytes | None:
    """``data`` with its data length and CRC-32 made consistent (so that mutations of the header
    and the arrays reach the checks behind the checksum), or None when the header length does
    not fit the input."""
    if len(data) < PREFIX.size + 4:
        return None
    magic, version, flags, hlen, _ = PREFIX.unpack_from(data)
    dlen = len(data) - PREFIX.size - 4 - hlen
    if dlen < 0:
        return None
    body = PREFIX.pack(magic, version, flags, hlen, dlen) + data[PREFIX.size:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def check_generated(model, files: dict[str, str]) -> None:
    """The generated C++ is well-formed line by line: printable ASCII only, no line splicing,
    and one kernel call per planned step (nothing swallowed by a comment)."""
    for fname, text in files.items():
        for n, line in enumerate(text.split("\n"), 1):
            if not _PRINTABLE_LINE.fullmatch(line) or line.endswith("\\"):
                raise AssertionError(f"{fname}:{n}: unsafe generated line {line!r}")
            if _NON_FINITE.search(line):
                raise AssertionError(f"{fname}:{n}: non-finite constant in {line!r}")
    cpp = files["fuzzed.cpp"]
    body = cpp[cpp.index("void fuzzed_predict() {"):]
    calls = sum(1 for line in body.split("\n")          # kernel calls, not the DSP scratch hand-over
                if line.startswith("  dmc::") and not line.startswith("  dmc::arm::set_scratch"))
    steps = len(plan(model).steps)
    if calls != steps:
        raise AssertionError(f"generated predict() makes {calls} kernel calls for {steps} planned steps")


def exercise(model) -> None:
    """Run the interpreter on the input extremes and a ramp; compile the model."""
    if sum(int(np.prod(t["shape"])) for t in model.tensors.values()) <= MAX_RUN_ELEMENTS:
        shape = model.input_shape
        if model.scheme == "static":
            qmax = (1 << model.input_quant["bits"]) - 1
            x = np.stack([np.zeros(shape, np.int32), np.full(shape, qmax, np.int32),
                          np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape) % (qmax + 1)])
        else:
            x = np.stack([np.zeros(shape, np.float32), np.full(shape, -3.5, np.float32)])
        y = model.predict(x)
        if y.shape != (len(x),) + model.output_shape:
            raise AssertionError(f"predict returned shape {y.shape}, expected {(len(x),) + model.output_shape}")
        if model.scheme == "static":
            qmax_out = (1 << model.output_quant["bits"]) - 1
            if y.dtype != np.int32 or y.min() < 0 or y.max() > qmax_out:
                raise AssertionError(f"static output codes {y.dtype} in [{y.min()}, {y.max()}], not in [0, {qmax_out}]")
    files = generate(model, "fuzzed")
    check_generated(model, files)


def artifact_one_input(data: bytes) -> None:
    """Load ``data`` as a .dmc file (as is, and repaired); run and compile what loads."""
    fixed = repaired(data)
    for candidate in (data, fixed) if fixed not in (None, data) else (data,):
        try:
            model = loads(candidate)
        except DMCError:
            continue
        try:
            exercise(model)
        except DMCError:
            pass


# Values a hostile header might hold where the reader expects something else.
_ODD_VALUES = [0, 1, -1, 2, 3, 4, 7, 8, 9, 16, 62, 63, 127, 255, 256, 32767, 32768, 65535, 65536, 2 ** 31 - 1,
               2 ** 31, 2 ** 63, 10 ** 30, 0.0, -0.5, 0.5, 1e-50, 1e39, 1e308, float("nan"), float("inf"), "",
               "x", "relu", "relu6", "step1", "a b", "q\n//", "x\\", None, True, False, [], {}, [0], [1, 1],
               [0, 0, 0, 0], [1, 1, 1, 1], [2, 2], [255, 255], [1, 2, 3]]


def _containers(node, out):
    """Every dict and list in a JSON tree."""
    if isinstance(node, (dict, list)):
        out.append(node)
        for v in (node.values() if isinstance(node, dict) else node):
            _containers(v, out)
    return out


def _strings(node, out):
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, dict):
        for k, v in node.items():
            out.append(k)
            _strings(v, out)
    elif isinstance(node, list):
        for v in node:
            _strings(v, out)
    return out


def mutate_artifact(data: bytes, rng: random.Random) -> bytes | None:
    """A structure-aware mutation of a .dmc file: change one place in the JSON header (a value
    replaced by an odd one, by a name from elsewhere in the file or by another subtree; a key
    dropped; a list element dropped or duplicated) or a few bytes of the data section, then
    re-frame the file with correct lengths and CRC. None when ``data`` has no JSON header."""
    if len(data) < PREFIX.size + 4:
        return None
    magic, version, flags, hlen, _ = PREFIX.unpack_from(data)
    try:
        header = json.loads(data[PREFIX.size:PREFIX.size + hlen])
    except (ValueError, RecursionError):
        return None
    blob = bytearray(data[PREFIX.size + hlen:-4])
    if blob and rng.random() < 0.15:
        for _ in range(rng.randint(1, 4)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
    else:
        nodes = [n for n in _containers(header, []) if n]
        if not nodes:
            return None
        node = rng.choice(nodes)
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        what = rng.random()
        if what < 0.45:
            node[key] = rng.choice(_ODD_VALUES)
        elif what < 0.6:
            node[key] = rng.choice(_strings(header, []) or [""])
        elif what < 0.7:
            node[key] = json.loads(json.dumps(rng.choice(nodes)))
        elif what < 0.8 and isinstance(node[key], (int, float)) and not isinstance(node[key], bool):
            node[key] = node[key] + rng.choice([-1, 1, -2, 2, 100]) if node[key] == node[key] else 0
        elif what < 0.9:
            del node[key]
        elif isinstance(node, list):
            node.insert(key, json.loads(json.dumps(node[key])))
        else:
            node[rng.choice(["act", "alias", "depthwise", "value", "multiplier", "shift", "bits", "clamp"])] = \
                rng.choice(_ODD_VALUES)
    hb = json.dumps(header).encode()
    hb += b" " * ((-len(hb)) % 4)
    body = PREFIX.pack(magic, version, flags, len(hb), len(blob)) + hb + bytes(blob)
    return body + struct.pack("<I", zlib.crc32(body))


# -- serial frames (host side) -------------------------------------------------------------------

class _FakeClock:
    """Stands in for the time module inside dmc.deploy.protocol: a read that returns nothing
    advances the clock by a second, so a Link's timeouts pass without waiting."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class _ReplayIO:
    """A serial port whose replies are the fuzz input, in chunks of ``chunk`` bytes."""

    def __init__(self, data: bytes, clock: _FakeClock, chunk: int):
        self.data, self.pos, self.clock, self.chunk, self.written = data, 0, clock, chunk, []

    def write(self, b: bytes) -> None:
        self.written.append(bytes(b))

    def read(self, n: int, timeout: float) -> bytes:
        out = self.data[self.pos:self.pos + min(n, self.chunk)]
        self.pos += len(out)
        if not out:
            self.clock.now += 1.0
        return out


@contextmanager
def _fake_time(clock: _FakeClock):
    real = protocol.time
    protocol.time = clock
    try:
        yield
    finally:
        protocol.time = real


def frames_one_input(data: bytes) -> None:
    """Feed ``data`` to FrameReader whole and in pieces (same frames, same accounting), and
    answer a Link's HELLO, INFER and STATS requests with it."""
    whole = protocol.FrameReader()
    frames = whole.feed(data)
    # piece size from the input (1..16 bytes): the fuzzer picks where the pieces break
    step = 1 + (data[-1] % 16 if data else 0)
    pieces = protocol.FrameReader()
    frames_1 = [f for i in range(0, len(data), step) for f in pieces.feed(data[i:i + step])]
    if frames != frames_1 or whole.dropped != pieces.dropped or whole.buf != pieces.buf:
        raise AssertionError(f"fed whole: {len(frames)} frames, {whole.dropped} dropped; in {step}-byte pieces: "
                             f"{len(frames_1)} frames, {pieces.dropped} dropped")
    used = sum(7 + len(p) for _, _, p in frames)
    if used + whole.dropped + len(whole.buf) != len(data):
        raise AssertionError(f"{len(data)} bytes fed, {used} in frames + {whole.dropped} dropped + "
                             f"{len(whole.buf)} buffered")
    for version, ftype, payload in frames:
        if protocol.encode(ftype, payload, version) not in data:
            raise AssertionError(f"frame type {ftype:#04x} with {len(payload)} bytes was not in the input")

    # one Link asks HELLO, INFER and STATS in turn; the replies are the input, read in chunks
    # of 1 to 8 bytes (a chosen size, so that the same input always takes the same path)
    clock = _FakeClock()
    link = protocol.Link(_ReplayIO(data, clock, 1 + len(data) % 8), timeout=2.0, retries=1)
    with _fake_time(clock):
        for call in ("hello", "infer", "stats"):
            try:
                if call == "hello":
                    info = link.hello()
                    if not isinstance(info, protocol.DeviceInfo) or not isinstance(info.name, str):
                        raise AssertionError(f"hello() returned {info!r}")
                elif call == "infer":
                    cycles, out = link.infer(b"\x01\x02")
                    if not isinstance(cycles, int) or not isinstance(out, bytes):
                        raise AssertionError(f"infer() returned {(cycles, out)!r}")
                else:
                    free, total = link.stats()
                    if not 0 <= free <= 0xFFFF or not 0 <= total <= 0xFFFF:
                        raise AssertionError(f"stats() returned {(free, total)!r}")
            except DMCError:
                pass
