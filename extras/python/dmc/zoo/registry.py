"""The architecture registry: a name -> builder(in_channels, input_size, num_classes, **options)
table that the tools (train, test, benchmark, compare, ...) build every model through, and the
deployment form of each (e.g. a reparameterized copy) that compression starts from.

Zoo modules join either in the lazy table below (imported on first use, skipped while the
module is absent) or by defining a module-level ``ARCHITECTURES`` dict of the same shape (every
zoo module is looked at the first time a name is not found); users call :func:`register`.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Callable

import torch.nn as nn

from ..errors import ConfigError
from .lenet import lenet5
from .reference import ds_cnn, mobilenet_v2, resnet8

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "lenet5": lenet5,
    "resnet8": resnet8,
    "ds_cnn": ds_cnn,
    "mobilenet_v2": mobilenet_v2,
}
# name -> (zoo module, builder, function giving the deployment form or None), imported lazily
LAZY = {
    "edge_nano": ("microsign_edge", "edge_nano", "reparameterize"),
    "edge_micro": ("microsign_edge", "edge_micro", "reparameterize"),
    "edge_small": ("microsign_edge", "edge_small", "reparameterize"),
}
DEPLOYMENT_FORMS: dict[str, Callable[[nn.Module], nn.Module]] = {}
_discovered = False


def register(name: str, builder: Callable[..., nn.Module],
             deployment_form: Callable[[nn.Module], nn.Module] | None = None) -> None:
    """Add a builder under ``name``; it must accept in_channels, input_size and num_classes.
    ``deployment_form(model)`` returns the copy that compression and deployment start from."""
    params = inspect.signature(builder).parameters
    missing = [p for p in ("in_channels", "input_size", "num_classes") if p not in params]
    if missing:
        raise ConfigError(f"architecture '{name}': its builder lacks the parameters {missing}")
    ARCHITECTURES[name] = builder
    if deployment_form is not None:
        DEPLOYMENT_FORMS[name] = deployment_form


def _discover() -> None:
    """Pick up the ``ARCHITECTURES`` tables of the other zoo modules (once)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for name, (module, builder, form) in LAZY.items():
        if name in ARCHITECTURES:
            continue
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"{__package__}.{module}":
                raise
            continue
        register(name, getattr(mod, builder), getattr(mod, form) if form else None)
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name in ("registry", "__init__"):
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        for name, builder in getattr(module, "ARCHITECTURES", {}).items():
            if name not in ARCHITECTURES:
                register(name, builder)


def available() -> list[str]:
    """Names of every registered architecture."""
    _discover()
    return sorted(ARCHITECTURES)


def builder_options(name: str) -> list[str] | None:
    """The extra keyword options of an architecture (beyond channels, size and classes); None
    when its builder takes any keyword (``**kwargs``) and checks them itself."""
    params = inspect.signature(get_builder(name)).parameters
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return [p for p in params if p not in ("in_channels", "input_size", "num_classes")]


def deployment_form(name: str, model: nn.Module, calibration=None) -> nn.Module:
    """The form of ``model`` (built as ``name``) that compression starts from: a reparameterized
    copy for architectures that have one, the model itself otherwise. ``calibration`` inputs go
    to a form that takes them (the backbones measure the channel ranges they equalize on them)."""
    get_builder(name)
    form = DEPLOYMENT_FORMS.get(name)
    if form is None:
        return model
    if calibration is not None and "calibration" in inspect.signature(form).parameters:
        return form(model, calibration=calibration).eval()
    return form(model).eval()


def get_builder(name: str) -> Callable[..., nn.Module]:
    if name not in ARCHITECTURES:
        _discover()
    if name not in ARCHITECTURES:
        hint = difflib.get_close_matches(str(name), list(ARCHITECTURES), n=1)
        raise ConfigError(f"unknown architecture '{name}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                          + f"; available: {available()}")
    return ARCHITECTURES[name]


def build(name: str, in_channels: int, input_size, num_classes: int, **options) -> nn.Module:
    """Build the architecture ``name`` for inputs of ``in_channels`` x ``input_size`` (an int or
    (height, width)) and ``num_classes`` outputs; ``options`` go to its builder."""
    builder = get_builder(name)
    allowed = builder_options(name)
    unknown = [k for k in options if allowed is not None and k not in allowed]
    if unknown:
        raise ConfigError(f"architecture '{name}': unknown option(s) {unknown}; its options: {allowed}")
    if isinstance(input_size, (tuple, list)) and len(input_size) == 2 and input_size[0] == input_size[1]:
        input_size = int(input_size[0])
    return builder(in_channels=in_channels, input_size=input_size, num_classes=num_classes, **options)
