"""Write the sparse model of PlatformIO's on-device parity test (test/data/sparse_parity.dmc and
test/data/sparse_parity_inputs.npz): a small random CNN whose every weighted layer is stored as
"dcsr" -- a 1x1 conv2d over input planes 256 bytes apart (its rows need padding entries),
conv2d with zero padding (windows inside and across the border), a depthwise conv2d, a strided
conv2d, two linear layers -- with 8-, 4- and 2-bit weights, 80% of them zero. No training: the parity test
compares the device's outputs with the integer interpreter, not with labels.

    .venv/bin/python extras/scripts/make_sparse_parity_model.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "extras" / "python"))

INPUT = (1, 2, 16, 16)
SAMPLES = 16


def build():
    import torch
    import torch.nn as nn

    import dmc
    torch.manual_seed(9)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 1), nn.ReLU(), nn.MaxPool2d(2),               # 1x1 over input planes 256 B apart
        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),                     # 6 x 8 x 8
        nn.Conv2d(6, 6, 3, padding=1, groups=6), nn.ReLU(),           # depthwise
        nn.Conv2d(6, 8, 3, padding=1, stride=2), nn.ReLU(),           # 8 x 4 x 4
        nn.Flatten(), nn.Linear(128, 24), nn.ReLU(), nn.Linear(24, 5))
    g = torch.Generator().manual_seed(10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                keep = (torch.rand(m.weight.shape, generator=g) >= 0.8).float()
                keep.reshape(keep.shape[0], -1)[:, 0] = 1  # every filter keeps a weight
                m.weight.mul_(keep)
    config = {"quantize": {"scheme": "static", "bitwidth": 4, "activation_bitwidth": 8,
                           "layers": {"conv2d_0": {"bitwidth": 8}, "conv2d_1": {"bitwidth": 2},
                                      "linear_1": {"bitwidth": 8}}},
              "storage": "dcsr"}
    cal = torch.randn((64,) + INPUT[1:], generator=g)
    qm = dmc.convert(dmc.compress(model, config, INPUT, calibration_data=cal))
    x = torch.randn((SAMPLES,) + INPUT[1:], generator=g).numpy().astype(np.float32)
    return qm, x


def main() -> int:
    qm, x = build()
    kinds = [(o["attrs"]["alias"], o["attrs"]["weight_bits"], o["attrs"].get("storage", "dense")) for o in qm.ops
             if "weight_bits" in o["attrs"]]
    if any(s != "dcsr" for _, _, s in kinds):
        print(f"make_sparse_parity_model: a layer is not sparse: {kinds}", file=sys.stderr)
        return 1
    out = ROOT / "test" / "data"
    qm.save(out / "sparse_parity.dmc")
    np.savez_compressed(out / "sparse_parity_inputs.npz", x=x)
    print(f"wrote {out / 'sparse_parity.dmc'} ({qm.model_bytes} model bytes; {kinds}) and {SAMPLES} inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
