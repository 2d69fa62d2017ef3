"""The compression config: the seed's dict shape, validated up front with errors that list the
valid keys and layer names.

    {"prune_channel": {"sparsity": {"conv2d_1": 9, "linear_0": 0.75}, "metric": "l2"},
     "quantize": {"scheme": "static", "bitwidth": 4, "granularity": "per_tensor",
                  "activation_bitwidth": 8, "input_bitwidth": 8, "activation_range": "ema",
                  "layers": {"conv2d_0": {"bitwidth": 8, "granularity": "per_channel",
                                          "activation_bitwidth": 4}}}}

    {"prune_weight": {"sparsity": 0.9, "schedule": "polynomial", "end_step": 2000, "ranking": "global"}}

``"storage"`` (optional) is how each layer's weights are kept in the artifact: ``"dense"`` (the
default), ``"dcsr"`` (sparse, nibble-step CSR) or ``"auto"`` (the smaller of the two), for all
layers or as a dict of layer name -> choice (unnamed layers stay dense).

``"overlap"`` (optional) fixes how the C++ runtime's memory plan may write a conv's output over
its input ("auto", "always", "input" or "never", see :func:`dmc.core.planner.plan`); the
converted model carries it, so every build of it plans the same way.

Layers are named by module path or by the seed's alias (``conv2d_0``, ``linear_1``: the n-th
Conv2d / Linear in execution order). ``prune_channel`` sparsity per layer: a float is the
fraction of output channels removed, an int the number removed. ``prune_weight`` sparsity is the
fraction of a layer's weights set to zero (unstructured), one float for every layer or a dict
per layer; see :mod:`dmc.compression.weight_pruning` for the schedules and rankings.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, replace
from enum import Enum

from ..errors import ConfigError


class QuantizationScheme(str, Enum):
    STATIC = "static"     # integer-only: int weights, int activations, integer requantization
    DYNAMIC = "dynamic"   # weights only: int weights, float activations (labelled as such)


class Granularity(str, Enum):
    PER_TENSOR = "per_tensor"
    PER_CHANNEL = "per_channel"


WEIGHT_BITS = (8, 4, 2)
ACTIVATION_BITS = (8, 4)
TOP_KEYS = ("prune_channel", "prune_weight", "quantize", "storage", "overlap")
STORAGE_CHOICES = ("auto", "dense", "dcsr")  # weight storage in the artifact (dmc.core.weights)
PRUNE_KEYS = ("sparsity", "metric")
QUANT_KEYS = ("scheme", "bitwidth", "granularity", "activation_bitwidth", "input_bitwidth", "activation_range",
              "calibration", "layers")
ACTIVATION_RANGES = ("ema", "learned")
CALIBRATIONS = ("minmax", "mse")   # how calibration sets activation ranges
LAYER_KEYS = ("bitwidth", "granularity", "activation_bitwidth")
WEIGHT_PRUNE_KEYS = ("sparsity", "schedule", "ranking", "initial_sparsity", "begin_step", "end_step", "frequency",
                     "power")
SCHEDULES = ("oneshot", "polynomial")
RANKINGS = ("layer", "global")
POLYNOMIAL_KEYS = ("initial_sparsity", "begin_step", "end_step", "frequency", "power")


@dataclass(frozen=True)
class WeightPruningConfig:
    """Unstructured magnitude pruning. ``sparsity`` maps each accepted layer name given in the
    config to its final sparsity; ``default`` (one float for every layer) applies to the others.
    The polynomial schedule follows TF-MOT's PolynomialDecay (see weight_pruning.py)."""
    sparsity: dict = field(default_factory=dict)
    default: float | None = None
    schedule: str = "oneshot"
    ranking: str = "layer"
    initial_sparsity: float = 0.0
    begin_step: int = 0
    end_step: int = 0
    frequency: int = 100
    power: float = 3.0

    def target(self, names: tuple[str, ...]) -> float:
        """Final sparsity of the layer known by any of ``names`` (0.0 when it is not pruned)."""
        for n in names:
            if n in self.sparsity:
                return self.sparsity[n]
        return self.default or 0.0


@dataclass(frozen=True)
class LayerQuant:
    weight_bits: int = 8
    granularity: Granularity = Granularity.PER_TENSOR
    activation_bits: int = 8


@dataclass
class Config:
    sparsity: dict = field(default_factory=dict)
    metric: str = "l2"
    scheme: QuantizationScheme | None = None
    default: LayerQuant = LayerQuant()
    layers: dict = field(default_factory=dict)       # layer name -> LayerQuant
    input_bits: int = 8
    activation_range: str = "ema"      # how QAT moves activation ranges: moving average or learned
    calibration: str = "minmax"        # calibrated ranges: min/max, or clipped to the least squared error
    prune_weight: WeightPruningConfig | None = None
    storage: dict = field(default_factory=dict)      # layer name -> "auto" | "dense" | "dcsr"
    default_storage: str = "dense"
    overlap: str = "auto"              # memory plan: may a conv write over its input (planner modes)

    def storage_for(self, names: tuple[str, ...]) -> str:
        """Weight storage of the layer known by any of ``names``: dense, dcsr or auto (the smaller)."""
        for n in names:
            if n in self.storage:
                return self.storage[n]
        return self.default_storage

    def layer(self, names: tuple[str, ...]) -> LayerQuant:
        """Quantization of the layer known by any of ``names`` (path, alias)."""
        for n in names:
            if n in self.layers:
                return self.layers[n]
        return self.default


def _enum(cls, value, where):
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        key = value.strip().lower().replace("-", "_")
        for member in cls:
            if member.value == key:
                return member
    raise ConfigError(f"{where}: {value!r} is not one of {[m.value for m in cls]}")


def _keys(d, allowed, where):
    if not isinstance(d, dict):
        raise ConfigError(f"{where} must be a dict, got {type(d).__name__}")
    for k in d:
        if k not in allowed:
            hint = difflib.get_close_matches(str(k), allowed, n=1)
            raise ConfigError(f"{where}: unknown key '{k}'"
                              + (f" (did you mean '{hint[0]}'?)" if hint else "")
                              + f"; valid keys: {list(allowed)}")


def _bits(value, allowed, where):
    if isinstance(value, bool) or value not in allowed:
        raise ConfigError(f"{where}: {value!r} bits is not supported; use one of {list(allowed)}")
    return int(value)


def parse_config(cfg: dict | None, layer_names) -> Config:
    """Validate ``cfg`` against the model's layer names (an iterable of accepted names)."""
    cfg = {} if cfg is None else cfg
    _keys(cfg, TOP_KEYS, "config")
    valid = sorted(set(layer_names), key=str)
    out = Config()
    prune = cfg.get("prune_channel") or {}
    _keys(prune, PRUNE_KEYS, "config['prune_channel']")
    sparsity = prune.get("sparsity", {})
    if not isinstance(sparsity, dict):
        raise ConfigError("config['prune_channel']['sparsity'] must be a dict of layer name -> amount")
    for name in sparsity:
        _check_layer(name, valid, "config['prune_channel']['sparsity']")
    out.sparsity = dict(sparsity)
    out.metric = str(prune.get("metric", "l2")).lower()
    if out.metric not in ("l1", "l2"):
        raise ConfigError(f"config['prune_channel']['metric']: {out.metric!r} is not one of ['l1', 'l2']")

    if cfg.get("prune_weight") is not None:
        out.prune_weight = parse_weight_pruning(cfg["prune_weight"], valid)

    _parse_storage(cfg.get("storage", "dense"), valid, out)
    from ..core.planner import OVERLAP_MODES
    out.overlap = cfg.get("overlap", "auto")
    if out.overlap not in OVERLAP_MODES:
        raise ConfigError(f"config['overlap']: {out.overlap!r} is not one of {list(OVERLAP_MODES)}")
    q = cfg.get("quantize")
    if q is None:
        return out
    _keys(q, QUANT_KEYS, "config['quantize']")
    where = "config['quantize']"
    out.scheme = _enum(QuantizationScheme, q.get("scheme", "static"), f"{where}['scheme']")
    act_bits = _bits(q.get("activation_bitwidth", 8), ACTIVATION_BITS, f"{where}['activation_bitwidth']")
    out.default = LayerQuant(
        weight_bits=_bits(q.get("bitwidth", 8), WEIGHT_BITS, f"{where}['bitwidth']"),
        granularity=_enum(Granularity, q.get("granularity", "per_tensor"), f"{where}['granularity']"),
        activation_bits=act_bits)
    out.input_bits = _bits(q.get("input_bitwidth", act_bits), ACTIVATION_BITS, f"{where}['input_bitwidth']")
    out.activation_range = q.get("activation_range", "ema")
    if out.activation_range not in ACTIVATION_RANGES:
        raise ConfigError(f"{where}['activation_range']: {out.activation_range!r} is not one of {list(ACTIVATION_RANGES)}")
    out.calibration = q.get("calibration", "minmax")
    if out.calibration not in CALIBRATIONS:
        raise ConfigError(f"{where}['calibration']: {out.calibration!r} is not one of {list(CALIBRATIONS)}")
    layers = q.get("layers", {})
    if not isinstance(layers, dict):
        raise ConfigError(f"{where}['layers'] must be a dict of layer name -> settings")
    for name, lq in layers.items():
        _check_layer(name, valid, f"{where}['layers']")
        w = f"{where}['layers']['{name}']"
        _keys(lq, LAYER_KEYS, w)
        base = out.default
        out.layers[name] = replace(
            base,
            weight_bits=_bits(lq.get("bitwidth", base.weight_bits), WEIGHT_BITS, f"{w}['bitwidth']"),
            granularity=_enum(Granularity, lq.get("granularity", base.granularity), f"{w}['granularity']"),
            activation_bits=_bits(lq.get("activation_bitwidth", base.activation_bits), ACTIVATION_BITS,
                                  f"{w}['activation_bitwidth']"))
    return out


def _parse_storage(st, valid, out: Config) -> None:
    """``"storage"``: one choice for every weighted layer, or a dict layer name -> choice."""
    where = "config['storage']"
    layers = st if isinstance(st, dict) else {}
    if not isinstance(st, dict):
        out.default_storage = st
    for name, choice in [(None, out.default_storage)] + list(layers.items()):
        w = where if name is None else f"{where}['{name}']"
        if name is not None:
            _check_layer(name, valid, where)
        if choice not in STORAGE_CHOICES:
            raise ConfigError(f"{w}: {choice!r} is not one of {list(STORAGE_CHOICES)}")
    out.storage = dict(layers)


def _check_layer(name, valid, where):
    if name not in valid:
        hint = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
        raise ConfigError(f"{where}: unknown layer '{name}'"
                          + (f" (did you mean '{hint[0]}'?)" if hint else "")
                          + f"; valid layer names: {valid}")


def _fraction(value, where) -> float:
    """A sparsity: a real number in [0, 1) (1 would leave a layer without weights)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} must be a number in [0, 1) (the fraction of weights set to zero), "
                          f"got {type(value).__name__} {value!r}")
    if math.isnan(value) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{where} = {value!r}: a weight sparsity must be in [0, 1); 1 would remove every "
                          "weight of the layer")
    return float(value)


def _int(value, where, lo) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(f"{where} must be an int >= {lo}, got {value!r}")
    return value


def parse_weight_pruning(pw, valid) -> WeightPruningConfig:
    """Validate ``config['prune_weight']``: a float (every layer, one shot) or a dict."""
    where = "config['prune_weight']"
    if not isinstance(pw, dict):
        if isinstance(pw, bool) or not isinstance(pw, (int, float)):
            raise ConfigError(f"{where} must be a sparsity (float) or a dict with keys {list(WEIGHT_PRUNE_KEYS)}, "
                              f"got {type(pw).__name__}")
        pw = {"sparsity": pw}
    _keys(pw, WEIGHT_PRUNE_KEYS, where)
    if "sparsity" not in pw:
        raise ConfigError(f"{where}: 'sparsity' is required (a float for every layer or a dict per layer)")
    sparsity, default = {}, None
    if isinstance(pw["sparsity"], dict):
        for name, value in pw["sparsity"].items():
            _check_layer(name, valid, f"{where}['sparsity']")
            sparsity[name] = _fraction(value, f"{where}['sparsity']['{name}']")
    else:
        default = _fraction(pw["sparsity"], f"{where}['sparsity']")
    schedule = pw.get("schedule", "oneshot")
    if schedule not in SCHEDULES:
        raise ConfigError(f"{where}['schedule']: {schedule!r} is not one of {list(SCHEDULES)}")
    ranking = pw.get("ranking", "layer")
    if ranking not in RANKINGS:
        raise ConfigError(f"{where}['ranking']: {ranking!r} is not one of {list(RANKINGS)}")
    if ranking == "global" and default is None:
        raise ConfigError(f"{where}: global ranking takes one float sparsity for the whole model; per-layer "
                          "sparsities need ranking 'layer'")
    out = WeightPruningConfig(sparsity=sparsity, default=default, schedule=schedule, ranking=ranking)
    if schedule == "oneshot":
        extra = [k for k in POLYNOMIAL_KEYS if k in pw]
        if extra:
            raise ConfigError(f"{where}: {extra} only apply to schedule 'polynomial'")
        return out
    if "end_step" not in pw:
        raise ConfigError(f"{where}: schedule 'polynomial' needs 'end_step' (the training step at which the final "
                          "sparsity is reached)")
    begin = _int(pw.get("begin_step", 0), f"{where}['begin_step']", 0)
    end = _int(pw["end_step"], f"{where}['end_step']", begin + 1)
    power = pw.get("power", 3.0)
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not power > 0 or math.isinf(power):
        raise ConfigError(f"{where}['power'] must be a positive number, got {power!r}")
    initial = _fraction(pw.get("initial_sparsity", 0.0), f"{where}['initial_sparsity']")
    finals = list(sparsity.values()) + ([default] if default is not None else [])
    if finals and initial > min(finals):
        raise ConfigError(f"{where}['initial_sparsity'] = {initial} exceeds a final sparsity ({min(finals)})")
    return replace(out, initial_sparsity=initial, begin_step=begin, end_step=end, power=float(power),
                   frequency=_int(pw.get("frequency", 100), f"{where}['frequency']", 1))
