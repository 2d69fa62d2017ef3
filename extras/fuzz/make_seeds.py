"""Regenerate the fuzzers' seed corpora under extras/fuzz/corpus/ (needs torch).

Seeds are small on purpose: valid .dmc files of a few tiny models that together use every op
kind, both schemes and every bit width; valid frames of every type in both directions; and a
few truncated or damaged ones. Regression inputs (crashes that were fixed) live in the
corpora's ``regressions/`` folders and are never rewritten here.

    .venv/bin/python extras/fuzz/make_seeds.py
"""
from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import torch
import torch.nn as nn

import dmc
from dmc.deploy.protocol import ERROR, HELLO, INFER, INFO, RESULT, STATS, STATS_REPLY, DeviceInfo, encode

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
REPO = HERE.parents[1]
# The C++ frame decoder target's stand-in model takes this many input bytes (frame_decoder_fuzzer.cpp).
STUB_INPUT_BYTES = 5


class MixedNet(nn.Module):
    """conv (+ fused max pool), depthwise conv in a residual add, pad, avg pool, 1x1 conv, GAP,
    flatten, linear: every static op kind in one tiny model."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.dw = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1, groups=3), nn.ReLU6())
        self.tail = nn.Sequential(nn.ZeroPad2d((1, 0, 1, 0)), nn.AvgPool2d(2), nn.Conv2d(3, 4, 1, dilation=1),
                                  nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.dw(x))
        return self.tail(x)


def _static(model, shape, bits, act_bits, input_bits, granularity, seed):
    g = torch.Generator().manual_seed(seed)
    cal = torch.randn((32,) + tuple(shape[1:]), generator=g)
    cfg = {"quantize": {"scheme": "static", "bitwidth": bits, "granularity": granularity,
                        "activation_bitwidth": act_bits, "input_bitwidth": input_bits}}
    return dmc.convert(dmc.compress(model, cfg, shape, calibration_data=cal))


def models() -> dict[str, dmc.IntModel]:
    """The seed models, built deterministically."""
    torch.manual_seed(0)
    mixed = MixedNet().eval()
    mlp = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 2)).eval()
    strided = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, dilation=2, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                            nn.Flatten(), nn.Linear(2 * 2 * 2, 2)).eval()
    return {
        "mixed_w8_a4": _static(mixed, (1, 2, 8, 8), 8, 4, 4, "per_channel", 1),
        "mixed_w2_a8": _static(mixed, (1, 2, 8, 8), 2, 8, 8, "per_tensor", 2),
        "mlp_w4_a8": _static(mlp, (1, 3), 4, 8, 8, "per_channel", 3),
        "strided_w4_a4": _static(strided, (1, 1, 7, 7), 4, 4, 8, "per_tensor", 4),
        "mlp_dynamic": dmc.convert(dmc.compress(mlp, {"quantize": {"scheme": "dynamic", "bitwidth": 4}}, (1, 3))),
    }


def _write(folder: Path, seeds: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.bin"):
        old.unlink()
    for name, data in seeds.items():
        (folder / f"{name}.bin").write_bytes(data)


def runner_records(stream: bytes, gap: int = 0) -> bytes:
    """Wrap a byte stream in the runner target's records: [control][chunk], control = gap << 6 |
    chunk length (see runner_fuzzer.cpp)."""
    out = bytearray()
    for i in range(0, len(stream), 63):
        chunk = stream[i:i + 63]
        out += bytes([(gap << 6) | len(chunk)]) + chunk
    return bytes(out)


def main() -> int:
    ms = models()
    arts = {name: m.to_bytes() for name, m in ms.items()}
    arts["sine"] = (REPO / "examples" / "SineRegressor" / "sine.dmc").read_bytes()
    arts["truncated_prefix"] = arts["mlp_w4_a8"][:15]
    arts["truncated_half"] = arts["mlp_w4_a8"][:len(arts["mlp_w4_a8"]) // 2]
    _write(CORPUS / "py_artifact", arts)
    # the runner target's model: the smallest static model with every op kind
    shutil.copyfile(CORPUS / "py_artifact" / "mixed_w8_a4.bin", HERE / "runner_model.dmc")

    # replies the host decodes (Python FrameReader / Link)
    info = struct.pack(DeviceInfo.FORMAT, 1, 64, 2, 4, 8, 200, 1500, 12345, 16000000) + b"fuzzmodel"
    replies = {
        "info": encode(INFO, info),
        "result": encode(RESULT, struct.pack("<I", 123456) + bytes([7, 200])),
        "stats": encode(STATS_REPLY, struct.pack("<HH", 1200, 2048)),
        **{f"error_{code}": encode(ERROR, bytes([code])) for code in range(1, 6)},
        "garbage_then_info": b"\x00\xd3\xd3\x01" + encode(INFO, info),
        "all_replies": encode(INFO, info) + encode(STATS_REPLY, b"\x01\x02\x03\x04")
        + encode(RESULT, b"\0\0\0\0\1\2"),
        "truncated_info": encode(INFO, info)[:11],
        "bad_crc_result": encode(RESULT, b"\1\2\3\4\5\6")[:-1] + b"\xff",
    }
    _write(CORPUS / "py_frames", replies)

    # requests the firmware decodes (C++ SerialRunner)
    def requests(input_bytes):
        return {
            "hello": encode(HELLO),
            "infer": encode(INFER, bytes(range(1, input_bytes + 1))),
            "stats": encode(STATS),
            "all": encode(HELLO) + encode(INFER, bytes(input_bytes)) + encode(STATS),
            "unknown_type": encode(0x42),
            "bad_version": encode(HELLO, version=2),
            "bad_length": encode(INFER, bytes(input_bytes + 1)),
            "truncated_infer": encode(INFER, bytes(input_bytes))[:4 + input_bytes // 2],
            "bad_crc": encode(STATS)[:-1] + b"\x00",
        }
    _write(CORPUS / "cpp_frames", requests(STUB_INPUT_BYTES))
    runner_in = ms["mixed_w8_a4"].tensor_bytes(ms["mixed_w8_a4"].input_name)
    runner = {k: runner_records(v) for k, v in requests(runner_in).items()}
    runner["timeout_inside_frame"] = runner_records(encode(INFER, bytes(runner_in))[:9]) + \
        runner_records(encode(HELLO), gap=3)
    _write(CORPUS / "cpp_runner", runner)
    for folder in sorted(CORPUS.iterdir()):
        print(f"{folder.name}: {len(list(folder.glob('*.bin')))} seeds, "
              f"{sum(p.stat().st_size for p in folder.glob('*.bin'))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
