"""compress(): trace, prune, fold BatchNorm, and wrap the model for quantization-aware training.

The result, :class:`CompressedModel`, is an ordinary nn.Module: train it with ``fit`` or any
torch loop. Its layer list is already the deployed one (BatchNorm folded, ReLU fused into the
layer before it, zero padding merged into the conv that follows), so :func:`dmc.convert` maps
it one to one onto the integer model.
"""
from __future__ import annotations

import copy
import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError, DataError, UnsupportedModelError
from .config import Config, Granularity, QuantizationScheme, parse_config, parse_weight_pruning
from .graph import Graph, Node, trace
from .layers import shift_channels
from .pruning import prune_graph
from .quant_layers import ActQuantizer, QConv2d, QLinear
from .ste import round_half_up_ste, round_ste
from .training import TrainableMixin, batches
from .weight_pruning import WeightPruner

# ops of the lowered graph, shared with the integer model
WEIGHTED = ("conv2d", "linear")
OWN_QPARAMS = ("input", "conv2d", "linear", "add", "mul", "hardsigmoid", "hardswish")  # own output scale


def fold_batchnorm(layer: nn.Module, bn: nn.Module) -> None:
    """Fold an eval-mode BatchNorm into the conv/linear before it (in place)."""
    with torch.no_grad():
        std = torch.sqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.weight is not None else torch.ones_like(std)
        beta = bn.bias if bn.bias is not None else torch.zeros_like(std)
        factor = gamma / std
        w = layer.weight * factor.reshape((-1,) + (1,) * (layer.weight.dim() - 1))
        b = layer.bias if layer.bias is not None else torch.zeros_like(std)
        layer.weight = nn.Parameter(w)
        layer.bias = nn.Parameter((b - bn.running_mean) * factor + beta)


def lower(graph: Graph) -> tuple[list[Node], str]:
    """Deployed form of the traced graph: BN folded, activations fused, zero pads merged.
    Returns (nodes, output node name). Modules are folded in place (graph owns copies)."""
    n_consumers = {n.name: len(graph.consumers(n.name)) for n in graph.nodes}
    n_consumers[graph.output] = n_consumers.get(graph.output, 0) + 1
    alias: dict[str, str] = {}
    out: dict[str, Node] = {}
    for n in graph.nodes:
        ins = [alias.get(i, i) for i in n.inputs]
        prev = out.get(ins[0]) if ins else None
        sole = bool(n.inputs) and n_consumers[n.inputs[0]] == 1
        if n.op == "bn":
            if not (sole and prev.op in WEIGHTED and "act" not in prev.attrs and prev.attrs.get("folded") is None):
                raise UnsupportedModelError(
                    f"BatchNorm '{n.path}' must directly follow a Conv2d or Linear whose output it alone "
                    "consumes, so that it can be folded into that layer")
            fold_batchnorm(prev.module, n.module)
            prev.attrs["folded"] = n.path
            alias[n.name] = prev.name
        elif n.op in ("relu", "relu6") and sole and prev.op in WEIGHTED + ("add",) and "act" not in prev.attrs:
            prev.attrs["act"] = n.op
            alias[n.name] = prev.name
        else:
            op, attrs = n.op, dict(n.attrs)
            if op in ("relu", "relu6"):
                op, attrs = "clamp", {"act": n.op}
            if op == "linear" and len(graph[n.inputs[0]].shape) != 1:
                raise UnsupportedModelError(f"Linear '{n.path}' is applied to a tensor of shape "
                                            f"{graph[n.inputs[0]].shape}; flatten it first")
            node = Node(n.name, op, ins, path=n.path, module=n.module, shape=n.shape, attrs=attrs)
            out[n.name] = node
    output = alias.get(graph.output, graph.output)
    nodes = list(out.values())
    # merge a zero pad into the conv that alone consumes it (the conv pads with the zero point)
    for pad in [n for n in nodes if n.op == "pad" and n.attrs["value"] == 0.0 and n.name != output]:
        users = [m for m in nodes if pad.name in m.inputs]
        if len(users) == 1 and users[0].op == "conv2d":
            conv = users[0]
            conv.attrs["padding"] = tuple(a + b for a, b in zip(conv.attrs["padding"], pad.attrs["padding"]))
            conv.inputs = [pad.inputs[0]]
            conv.attrs["merged_pad"] = pad.path
            nodes.remove(pad)
    for n in nodes:
        if n.op in WEIGHTED + ("add",):
            n.attrs.setdefault("act", None)
    return nodes, output


class CompressedModel(TrainableMixin, nn.Module):
    """A pruned, BN-folded, fake-quantized model, ready for quantization-aware training."""

    def __init__(self, nodes: list[Node], output: str, cfg: Config, input_shape, prune_report, source: str):
        super().__init__()
        self.nodes, self.output_name, self.config = nodes, output, cfg
        self.input_shape = tuple(input_shape)
        self.prune_report, self.source = prune_report, source
        self.static = cfg.scheme == QuantizationScheme.STATIC
        self.layers = nn.ModuleDict()
        self.quantizers = nn.ModuleDict()
        self.qsource: dict[str, str] = {}           # tensor -> quantizer that owns its qparams
        for n in nodes:
            if n.op in WEIGHTED:
                lq = cfg.layer((n.path, n.attrs["alias"]))
                n.attrs.update(weight_bits=lq.weight_bits, granularity=lq.granularity.value)
                per_ch = lq.granularity == Granularity.PER_CHANNEL
                dyn = not self.static
                self.layers[n.name] = (QConv2d(n.module, n.attrs["padding"], lq.weight_bits, per_ch, dyn)
                                       if n.op == "conv2d" else QLinear(n.module, lq.weight_bits, per_ch, dyn))
                n.module = None
            if self.static:
                if n.op in OWN_QPARAMS:
                    bits = (cfg.input_bits if n.op == "input" else
                            cfg.layer((n.path, n.attrs.get("alias"))).activation_bits if n.op in WEIGHTED else
                            cfg.default.activation_bits)
                    self.quantizers[n.name] = ActQuantizer(bits, learn_range=cfg.activation_range == "learned")
                    self.qsource[n.name] = n.name
                else:
                    self.qsource[n.name] = self.qsource[n.inputs[0]]
        # unstructured pruning: masks on the folded weights, before calibration sees them
        self.weight_pruner = None
        if cfg.prune_weight is not None:
            names = {n.name: (n.path, n.attrs["alias"]) for n in nodes if n.op in WEIGHTED}
            self.weight_pruner = WeightPruner(cfg.prune_weight, self.layers, names)

    def set_weight_pruning(self, prune_weight) -> None:
        """Start a new unstructured-pruning schedule (a ``config['prune_weight']`` value) from the
        current masks and weights, with its step counter at 0: pruning in stages, e.g. 50% ->
        70% -> 90%, each stage fine-tuned (and converted) before the next one."""
        names = {n.name: (n.path, n.attrs["alias"]) for n in self.nodes if n.op in WEIGHTED}
        pw = parse_weight_pruning(prune_weight, sorted({x for v in names.values() for x in v}, key=str))
        self.config.prune_weight = pw
        self.weight_pruner = WeightPruner(pw, self.layers, names)

    # -- running ---------------------------------------------------------------------------------
    def forward(self, x):
        if x.dim() == len(self.input_shape) - 1:
            x = x.unsqueeze(0)
        if self.weight_pruner is not None and self.training and torch.is_grad_enabled():
            self.weight_pruner.training_step(self.layers)
        env = {}
        for n in self.nodes:
            if n.op == "input":
                y = self.quantizers[n.name](x) if self.static else x
                env[n.name] = y
                continue
            a = env[n.inputs[0]]
            shared = self.quantizers[self.qsource[n.name]] if self.static and n.op not in OWN_QPARAMS else None
            if n.op in WEIGHTED:
                in_scale = self._scale(n.inputs[0])
                y = _activation(self.layers[n.name](a, in_scale), n.attrs["act"])
            elif n.op == "add":
                y = _activation(a + env[n.inputs[1]], n.attrs["act"])
            elif n.op == "maxpool2d":
                y = F.max_pool2d(a, n.attrs["kernel"], n.attrs["stride"], n.attrs["padding"])
            elif n.op in ("avgpool2d", "gap"):
                if self.static:
                    # average the integer codes (q - z) exactly, then round half up like the
                    # integer op: averaging dequantized floats would misplace the many .5 ties
                    scale, zp = shared.qparams()
                    a = round_ste(a / scale)
                y = (F.avg_pool2d(a, n.attrs["kernel"], n.attrs["stride"], n.attrs["padding"], count_include_pad=True)
                     if n.op == "avgpool2d" else a.mean((2, 3), keepdim=True))
                if self.static:
                    qmax = (1 << shared.bits) - 1
                    y = (torch.clamp(round_half_up_ste(y) + zp, 0, qmax) - zp) * scale
            elif n.op == "clamp":
                y = _activation(a, n.attrs["act"])
            elif n.op == "pad":
                t, b, l, r = n.attrs["padding"]
                y = F.pad(a, (l, r, t, b), value=n.attrs["value"])
            elif n.op == "flatten":
                y = a.flatten(1)
            elif n.op == "shift":
                y = shift_channels(a, n.attrs["counts"])   # moves codes, fills with real 0: on the grid
            elif n.op == "hardsigmoid":
                y = F.hardsigmoid(a)
            elif n.op == "hardswish":
                y = F.hardswish(a)
            elif n.op == "mul":
                y = a * env[n.inputs[1]]
            else:  # pragma: no cover - lower() only emits the ops above
                raise UnsupportedModelError(f"internal: unknown op {n.op}")
            if self.static:
                if n.op in OWN_QPARAMS:
                    y = self.quantizers[n.name](y)
                elif n.op not in ("maxpool2d", "flatten", "avgpool2d", "gap", "shift"):   # these keep the grid
                    y = shared.apply_quant(y)
            env[n.name] = y
        return env[self.output_name]

    def _scale(self, tensor: str):
        if not self.static:
            return None
        q = self.quantizers[self.qsource[tensor]]
        return q.qparams()[0] if bool(q.initialized) else None

    # -- calibration -----------------------------------------------------------------------------
    @torch.no_grad()
    def calibrate(self, data, max_batches: int | None = 64) -> None:
        """Record activation ranges on float activations: min/max over the data, then with
        ``calibration="mse"`` in the config each range clipped to the least squared error."""
        if not self.static:
            return
        was = self.training
        self.eval()
        mse = self.config.calibration == "mse"
        for q in self.quantizers.values():
            q.calibrating = True
            q.keep_samples = 4096 if mse else 0
        seen = 0
        try:
            for x in itertools.islice(batches(data), max_batches):
                self(x)
                seen += 1
        finally:
            for q in self.quantizers.values():
                q.calibrating = False
            self.train(was)
        if seen == 0:
            raise DataError("calibration_data yielded no batches")
        for q in self.quantizers.values():
            q.fit_range_mse()


def _activation(y, act):
    if act == "relu":
        return F.relu(y)
    if act == "relu6":
        return F.relu6(y)
    return y


def compress(model: nn.Module, config: dict | None, input_shape, calibration_data=None,
             calibration_batches: int | None = 64) -> CompressedModel:
    """Prune, fold and wrap ``model`` according to ``config`` (see :mod:`dmc.config`).

    The user's model is never modified. ``calibration_data`` (a DataLoader, an iterable of
    batches or (x, y) pairs, or a tensor) is required for the static scheme.
    """
    if not isinstance(model, nn.Module):
        raise UnsupportedModelError(f"expected a torch.nn.Module, got {type(model).__name__}")
    graph = trace(copy.deepcopy(model).eval(), input_shape)
    cfg = parse_config(config, graph.layer_names())
    report = prune_graph(graph, cfg.sparsity, cfg.metric) if cfg.sparsity else []
    nodes, output = lower(graph)
    if cfg.scheme is None:
        raise ConfigError("config['quantize'] is missing: compress() produces a quantized model; use "
                          "dmc.prune() for pruning alone")
    cm = CompressedModel(nodes, output, cfg, input_shape, report, type(model).__name__)
    if cfg.scheme == QuantizationScheme.STATIC:
        if calibration_data is None:
            raise ConfigError("calibration_data is required for the static scheme: it sets the activation "
                              "ranges (pass a DataLoader or a tensor of representative inputs)")
        cm.calibrate(calibration_data, calibration_batches)
    cm.train(model.training)
    return cm
