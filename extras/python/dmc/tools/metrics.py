"""Model figures for the tools: parameter count, multiply-accumulates per inference, host
latency (median of N timed runs) and top-1 accuracy."""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch
import torch.nn as nn

from ..errors import DataError


def count_params(model: nn.Module) -> int:
    """Trainable and frozen parameters (BatchNorm included; buffers such as running stats not)."""
    return sum(p.numel() for p in model.parameters())


def count_nonzero_params(model: nn.Module) -> int:
    return sum(int(torch.count_nonzero(p)) for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, input_shape) -> int:
    """Multiply-accumulates of one inference in Conv2d and Linear layers (the work that dominates;
    BatchNorm, activations and pooling are not counted), measured with forward hooks."""
    total = [0]

    def conv(m, _, out):
        total[0] += out[0].numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m, _, out):
        total[0] += out[0].numel() * m.in_features

    hooks = [m.register_forward_hook(conv if isinstance(m, nn.Conv2d) else linear)
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = model.training
    try:
        model.eval()
        model(torch.zeros((1,) + tuple(input_shape)))
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return total[0]


@torch.no_grad()
def host_latency_ms(model: nn.Module, input_shape, runs: int = 50, warmup: int = 5) -> float:
    """Median wall time of one batch-1 inference on this host's CPU, in milliseconds."""
    if runs < 1:
        raise DataError(f"runs must be >= 1, got {runs}")
    model.eval()
    x = torch.rand((1,) + tuple(input_shape))
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


@torch.no_grad()
def top1(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    """Fraction of ``x`` whose largest output is the label ``y``."""
    if len(x) == 0 or len(x) != len(y):
        raise DataError(f"top1: {len(x)} inputs and {len(y)} labels")
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        out = model(torch.from_numpy(x[i:i + batch_size]))
        correct += int((out.argmax(1).numpy() == y[i:i + batch_size]).sum())
    return correct / len(x)
