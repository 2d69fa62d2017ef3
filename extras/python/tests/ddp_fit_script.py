"""Trains a small compressed model with fit and writes its integer models; run alone or under torchrun.

Used by test_distributed.py: the same global batches, seed and data in one process and in two
(the data-parallel path of dmc.compression.distributed).
"""
import sys

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import dmc


def main(out_prefix):
    for act_range in ("ema", "learned"):
        train(f"{out_prefix}_{act_range}.dmc", act_range)


def train(out, act_range):
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 1, 8, 8, generator=g)
    teacher = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    y = teacher(x).argmax(1).detach()
    model = dmc.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 6 * 6, 3))
    ds = TensorDataset(x, y)
    # one process: the permutation a 1-replica DistributedSampler draws, i.e. the same global batches
    loader = DataLoader(ds, batch_size=32, sampler=DistributedSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=7))
    val = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=64)
    model.fit(loader, epochs=2, lr=1e-2, progress=False)
    cfg = {"quantize": {"scheme": "static", "bitwidth": 4, "granularity": "per_channel", "activation_bitwidth": 8,
                        "activation_range": act_range}}
    cm = dmc.compress(model, cfg, input_shape=(1, 1, 8, 8), calibration_data=loader)
    cm.fit(loader, epochs=2, val_loader=val, lr=1e-3, progress=False, monitor="accuracy", restore_best=True)
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        dmc.convert(cm).save(out)


if __name__ == "__main__":
    main(sys.argv[1])
