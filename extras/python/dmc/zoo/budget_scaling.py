"""Channel scaling to an SRAM budget, measured with the planner's exact arena.

A candidate set of per-stage channels is built untrained, reparameterized, traced and lowered
as :func:`dmc.compress` does with the deployment recipe; :func:`dmc.core.planner.plan` then gives,
from the deployed ops, shapes and bit widths, the arena the C++ runtime will allocate. All stages are first scaled by one factor (bisection) until the model fits; each
stage is then widened again, last first (late stages are small in SRAM), while it still fits.
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import torch
import torch.nn as nn

from ..compression.compressed_model import CompressedModel, lower
from ..compression.config import parse_config
from ..compression.graph import trace
from ..core.packing import packed_size
from ..core.planner import plan
from ..errors import ConfigError


class _Shapes:
    """What the planner reads of an integer model (op list, tensor shapes and bit widths), taken
    from the lowered graph of a CompressedModel: the ops and shapes convert() would emit."""
    scheme = "static"

    def __init__(self, cm: CompressedModel):
        self.meta = {"overlap": cm.config.overlap}
        self.output = cm.output_name
        self.tensors = {n.name: {"shape": [int(d) for d in n.shape], "bits": cm.quantizers[cm.qsource[n.name]].bits}
                        for n in cm.nodes}
        self.ops = [{"name": n.name, "op": n.op, "inputs": list(n.inputs), "attrs": _attrs(n, cm.layers[n.name] if n.name in cm.layers else None)}
                    for n in cm.nodes]

    def tensor_bytes(self, name: str) -> int:
        t = self.tensors[name]
        return packed_size(math.prod(t["shape"]), t["bits"])


def _attrs(node, layer) -> dict:
    """A node's attributes plus, for a conv or linear (its quantized ``layer``), the weight shape
    (the planner reads the kernel size of a conv written over its input from it)."""
    attrs = dict(node.attrs)
    weight = getattr(layer, "weight", None)
    if weight is not None:
        attrs.setdefault("weight_shape", list(weight.shape))
    return attrs


def deployed_arena(model: nn.Module, input_shape, config: dict, prepare: Callable | None = None) -> int:
    """Arena bytes of ``model`` deployed with ``config`` (its ``quantize`` section; static).

    The plan is computed from the lowered graph's shapes and bit widths, without calibration: the
    arena depends on those alone, and an untrained model's activation ranges may be degenerate.
    """
    if prepare is not None:
        model = prepare(model)
    cfg = {"quantize": config["quantize"], "overlap": config.get("overlap", "auto")}
    if cfg["quantize"].get("scheme", "static") != "static":
        raise ConfigError("sram_budget needs a static (integer-only) deployment config")
    graph = trace(model.eval() if prepare is not None else copy.deepcopy(model).eval(), input_shape)
    nodes, output = lower(graph)
    cm = CompressedModel(nodes, output, parse_config(cfg, graph.layer_names()), input_shape, [], "")
    return plan(_Shapes(cm)).arena_bytes


def _step(c: int) -> int:
    return max(1, c // 8)     # widen in steps of an eighth


def fit_channels(make: Callable[[list[int]], nn.Module], channels: list[int], input_shape, budget: int,
                 config: dict, min_channels: int = 4, prepare: Callable | None = None) -> list[int]:
    """Per-stage channels (at most ``channels``) whose deployed arena is <= ``budget`` bytes.

    ``make(channels)`` builds a model; ``prepare`` (e.g. reparameterization) turns it into the
    deployable form. Raises :class:`ConfigError` when even ``min_channels`` everywhere does not fit.
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ConfigError(f"sram_budget must be a positive number of bytes, got {budget!r}")
    if "quantize" not in (config or {}):
        raise ConfigError("the deployment config for sram_budget needs a 'quantize' section")
    cache: dict[tuple, int] = {}

    def arena(ch) -> int:
        key = tuple(ch)
        if key not in cache:
            with torch.no_grad():
                cache[key] = deployed_arena(make(list(ch)), input_shape, config, prepare)
        return cache[key]

    # the trial models are tiny: one thread avoids thread start-up costs that dominate each conv
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _search(arena, list(channels), budget, min_channels)
    finally:
        torch.set_num_threads(threads)


def _search(arena, channels, budget, min_channels):
    if arena(channels) <= budget:
        return channels

    def scaled(f):
        return [max(min_channels, min(c, int(round(c * f)))) for c in channels]

    if arena(scaled(0.0)) > budget:
        raise ConfigError(f"sram_budget={budget} B cannot be met: with {min_channels} channels in every stage "
                          f"the deployed arena is {arena(scaled(0.0))} B (the input alone takes part of it)")
    lo, hi = 0.0, 1.0                      # all stages together: scaled(lo) fits, scaled(hi) does not
    for _ in range(7):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if arena(scaled(mid)) <= budget else (lo, mid)
    ch = scaled(lo)
    for i in reversed(range(len(ch))):     # then widen each stage, last first, while it still fits
        while ch[i] < channels[i]:
            trial = ch[:i] + [min(channels[i], ch[i] + _step(ch[i]))] + ch[i + 1:]
            if arena(trial) > budget:
                break
            ch = trial
    return ch
