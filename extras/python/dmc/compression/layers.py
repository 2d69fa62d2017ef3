"""Building-block modules of our own that the pipeline traces as single operations.

:class:`ChannelShift` moves channel groups by one pixel (the shift-mix of the MicroSign-Edge
blocks): no weights and no multiplies, so it is one op of the integer model, not a graph of
slicing and padding that the tracer would have to understand.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# direction of each group in order: content moves up, left, down, right by one pixel
DIRECTIONS = ("up", "left", "down", "right")


def shift_channels(x: torch.Tensor, groups) -> torch.Tensor:
    """The shift of :class:`ChannelShift` on an (N, C, H, W) tensor, zero filled."""
    parts, c = [], 0
    for n, d in zip(groups, DIRECTIONS):
        g = x[:, c:c + n]
        c += n
        if d == "up":
            g = F.pad(g[:, :, 1:], (0, 0, 0, 1))
        elif d == "down":
            g = F.pad(g[:, :, :-1], (0, 0, 1, 0))
        elif d == "left":
            g = F.pad(g[:, :, :, 1:], (0, 1))
        else:
            g = F.pad(g[:, :, :, :-1], (1, 0))
        parts.append(g)
    parts.append(x[:, c:])
    return torch.cat(parts, 1)


class ChannelShift(nn.Module):
    """Shift channel groups by one pixel, filling the vacated row or column with zeros.

    ``groups = [n_up, n_left, n_down, n_right]``: the first ``n_up`` channels move up (output
    row y reads input row y + 1), the next ``n_left`` move left, then down, then right; the
    remaining channels pass unchanged. :meth:`for_channels` splits ``channels`` the usual way
    (an eighth of them per direction).
    """

    def __init__(self, channels: int, groups):
        super().__init__()
        groups = [int(g) for g in groups]
        if len(groups) != 4 or min(groups) < 0 or sum(groups) > channels:
            raise ValueError(f"ChannelShift: groups {groups} must be 4 non-negative counts summing to at most "
                             f"channels={channels}")
        self.channels = int(channels)
        self.groups = groups

    @classmethod
    def for_channels(cls, channels: int, fraction: float = 0.5) -> "ChannelShift":
        """``fraction`` of the channels shifted, split evenly over the four directions."""
        fold = int(channels * fraction) // 4
        return cls(channels, [fold] * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:
            raise ValueError(f"ChannelShift expects {self.channels} channels, got {x.shape[1]}")
        return shift_channels(x, self.groups)

    def keep_channels(self, keep: torch.Tensor) -> None:
        """Channel pruning: keep only the channels at indices ``keep`` (sorted), recounting groups."""
        keep = [int(k) for k in keep]
        bounds, c = [], 0
        for n in self.groups:
            bounds.append((c, c + n))
            c += n
        self.groups = [sum(lo <= k < hi for k in keep) for lo, hi in bounds]
        self.channels = len(keep)

    def extra_repr(self):
        return f"channels={self.channels}, groups={self.groups}"


class ShiftTracer(torch.fx.Tracer):
    """torch.fx tracer that keeps our modules whole (as it does torch.nn's own)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, ChannelShift) or super().is_leaf_module(m, qualname)


def symbolic_trace(model: nn.Module) -> torch.fx.GraphModule:
    """torch.fx.symbolic_trace with our modules kept whole (also when the model is one of them)."""
    if isinstance(model, ChannelShift):
        model = nn.Sequential(model)
    graph = ShiftTracer().trace(model)
    name = model.__class__.__name__ if isinstance(model, nn.Module) else model.__name__
    return torch.fx.GraphModule(model, graph, name)
