"""Channel scaling to an SRAM budget, measured with the planner's exact arena.

A candidate set of per-stage channels is built untrained, reparameterized, compressed with the
deployment recipe (calibrated on a few random inputs: the arena depends on shapes and bit widths,
not on ranges) and converted; :func:`dmc.core.planner.plan` then gives the arena the C++ runtime
will allocate. Channels are trimmed greedily, always in the stage whose trim lowers the arena
most, until it fits; stages are then widened again, last first, as far as the budget allows.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ..compression.compressed_model import compress
from ..compression.conversion import convert
from ..core.planner import plan
from ..errors import ConfigError


def deployed_arena(model: nn.Module, input_shape, config: dict, prepare: Callable | None = None) -> int:
    """Arena bytes of ``model`` deployed with ``config`` (its ``quantize`` section)."""
    if prepare is not None:
        model = prepare(model)
    gen = torch.Generator().manual_seed(0)
    calibration = torch.rand((4,) + tuple(input_shape[1:]), generator=gen)
    cm = compress(model.eval(), {"quantize": config["quantize"]}, input_shape, calibration_data=calibration,
                  calibration_batches=1)
    return plan(convert(cm)).arena_bytes


def _step(c: int) -> int:
    return max(1, c // 8)


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

    ch = list(channels)
    while arena(ch) > budget:
        trials = []
        for i, c in enumerate(ch):
            if c > min_channels:
                trial = ch[:i] + [max(min_channels, c - _step(c))] + ch[i + 1:]
                trials.append((arena(trial), -c, i, trial))
        if not trials:
            raise ConfigError(f"sram_budget={budget} B cannot be met: with {min_channels} channels in every "
                              f"stage the deployed arena is {arena(ch)} B (the input alone takes part of it)")
        ch = min(trials)[3]
    for i in reversed(range(len(ch))):            # widen again where the budget allows
        while ch[i] < channels[i]:
            trial = ch[:i] + [min(channels[i], ch[i] + _step(ch[i]))] + ch[i + 1:]
            if arena(trial) > budget:
                break
            ch = trial
    return ch
