"""Straight-through estimators and the fake-quantization functions built on them.

These are the only places where a float tensor is snapped to an integer grid during training;
:mod:`dmc.convert` calls the very same functions to produce the deployed integers, so the
model that is trained and evaluated is the model that is deployed.
"""
from __future__ import annotations

import torch


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """round() forward (half to even, like numpy.rint), identity gradient backward."""
    return x + (torch.round(x) - x).detach()


def round_half_up_ste(x: torch.Tensor) -> torch.Tensor:
    """floor(x + 0.5) forward, identity gradient backward: the rounding of integer requantization."""
    return x + (torch.floor(x + 0.5) - x).detach()


def weight_qmax(bits: int) -> int:
    """Weights are symmetric with a narrow range: [-qmax, qmax], e.g. [-7, 7] at 4 bits."""
    return (1 << (bits - 1)) - 1


# Clipping ratios tried when choosing a weight scale at low bit widths: the max-abs scale
# wastes most levels on a few outliers at 4 and 2 bits.
_CLIP_RATIOS = torch.linspace(1.0, 0.3, 15)


@torch.no_grad()
def weight_scale(w: torch.Tensor, bits: int, per_channel: bool) -> torch.Tensor:
    """Scale (one per output channel, or one) minimising the squared quantization error over a
    grid of clipping ratios. Shape: (C, 1, ...) per channel, (1, 1, ...) per tensor."""
    qmax = weight_qmax(bits)
    flat = w.detach().float().reshape(w.shape[0] if per_channel else 1, -1)
    amax = flat.abs().amax(1)
    # a channel whose weights are all zero (pruned) takes the tensor's range: any scale stores
    # its zeros exactly, and a tiny one would blow its bias (at scale s_in * s_w) past int32
    amax = torch.where(amax > 0, amax, amax.max()).clamp_min(1e-8)
    ratios = _CLIP_RATIOS if bits < 8 else _CLIP_RATIOS[:1]
    best_s, best_err = None, None
    for r in ratios:
        s = amax * r / qmax
        err = ((torch.clamp(torch.round(flat / s[:, None]), -qmax, qmax) * s[:, None] - flat) ** 2).sum(1)
        if best_s is None:
            best_s, best_err = s, err
        else:
            better = err < best_err
            best_s = torch.where(better, s, best_s)
            best_err = torch.where(better, err, best_err)
    return best_s.reshape((-1,) + (1,) * (w.dim() - 1))


def quantize_weight(w: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """Integer weights (as float tensor, STE gradient): clamp(round(w / s), -qmax, qmax)."""
    qmax = weight_qmax(bits)
    return torch.clamp(round_ste(w / scale), -qmax, qmax)


def quantize_bias(b: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Integer bias at scale s_in * s_w (as float tensor, STE gradient)."""
    return round_ste(b / scale)


def quantize_activation(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    """Unsigned activation codes: clamp(round(x / s) + z, 0, 2**bits - 1) (STE gradient)."""
    return torch.clamp(round_ste(x / scale) + zero_point, 0, (1 << bits) - 1)


def fake_quantize_activation(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    return (quantize_activation(x, scale, zero_point, bits) - zero_point) * scale
