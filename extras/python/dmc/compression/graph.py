"""Tracing: an ordinary torch.nn.Module -> a small, validated graph of supported operations.

torch.fx traces the model symbolically; shape propagation on an example input gives every
tensor's shape. Anything outside the supported set is rejected here, at the start of the
pipeline, with the module path, its type and the list of what is supported.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import UnsupportedModelError
from .layers import ChannelShift, symbolic_trace

SUPPORTED_MODULES = ("Conv2d (any groups), Linear, BatchNorm1d, BatchNorm2d, ReLU, ReLU6, Hardsigmoid, "
                     "Hardswish, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), Flatten, Dropout, ZeroPad2d, "
                     "ConstantPad2d, Identity, dmc ChannelShift")
SUPPORTED_FUNCTIONS = ("x + y / torch.add (residual), x * gate with gate of shape (N, C, 1, 1) (channel "
                       "scaling), relu, relu6, hardsigmoid, hardswish, torch.flatten(x, 1), "
                       "x.view(N, -1) / x.reshape(N, -1) / x.flatten(1), dropout")

_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


@dataclass
class Node:
    """One operation of the traced model. ``shape`` is the output shape without the batch."""
    name: str
    op: str
    inputs: list[str]
    path: str | None = None
    module: nn.Module | None = None
    shape: tuple[int, ...] = ()
    attrs: dict = field(default_factory=dict)

    def describe(self) -> str:
        if self.path is not None:
            return f"'{self.path}' ({type(self.module).__name__})"
        return f"'{self.name}' ({self.op})"


class Graph:
    """Traced model: nodes in execution order, the fx GraphModule that owns the modules, and
    the seed-style aliases (``conv2d_0``, ``linear_1``, ...) of the weighted layers."""

    def __init__(self, gm: torch.fx.GraphModule, nodes: list[Node], output: str, input_shape):
        self.gm = gm
        self.nodes = nodes
        self.output = output
        self.input_shape = tuple(input_shape)
        self._by_name = {n.name: n for n in nodes}
        self.aliases: dict[str, str] = {}
        counters: dict[str, int] = {}
        for n in nodes:
            if n.op in ("conv2d", "linear"):
                k = counters.get(n.op, 0)
                counters[n.op] = k + 1
                n.attrs["alias"] = f"{n.op}_{k}"
                self.aliases[f"{n.op}_{k}"] = n.name

    def __getitem__(self, name: str) -> Node:
        return self._by_name[name]

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    def weighted_layers(self) -> list[Node]:
        return [n for n in self.nodes if n.op in ("conv2d", "linear")]

    def layer_names(self) -> dict[str, str]:
        """Every accepted name of a weighted layer (module path and seed alias) -> node name."""
        names = {}
        for n in self.weighted_layers():
            names[n.path] = n.name
            names[n.attrs["alias"]] = n.name
        return names

    def refresh_shapes(self) -> None:
        """Re-run shape propagation, e.g. after pruning changed channel counts."""
        _propagate(self.gm, self.input_shape)
        for fx_node in self.gm.graph.nodes:
            if fx_node.name in self._by_name and "tensor_meta" in fx_node.meta:
                self._by_name[fx_node.name].shape = tuple(fx_node.meta["tensor_meta"].shape[1:])


def _propagate(gm, input_shape):
    example = torch.zeros((2,) + tuple(input_shape[1:]))   # batch 2 tells the batch dim apart
    was_training = gm.training
    gm.eval()
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(example)
    except Exception as e:  # the model's own forward failed on this shape
        raise UnsupportedModelError(
            f"running the model on an input of shape {tuple(input_shape)} failed: {e}") from None
    finally:
        gm.train(was_training)


def trace(model: nn.Module, input_shape) -> Graph:
    """Trace ``model`` (which the caller owns: pass a copy to keep the original intact)."""
    if not isinstance(model, nn.Module):
        raise UnsupportedModelError(f"expected a torch.nn.Module, got {type(model).__name__}")
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) not in (2, 4) or min(input_shape) < 1:
        raise UnsupportedModelError(
            f"input_shape must be (N, C, H, W) or (N, features) with positive sizes, got {input_shape}")
    try:
        gm = symbolic_trace(model)
    except Exception as e:
        raise UnsupportedModelError(
            f"torch.fx cannot trace {type(model).__name__}: {e}. The forward must not branch on "
            "tensor values; supported modules: " + SUPPORTED_MODULES) from None
    _propagate(gm, input_shape)

    nodes: list[Node] = []
    alias: dict[str, str] = {}          # fx node name -> node name it forwards (identities)
    size_nodes: set[str] = set()        # x.size(...) helpers, only valid as view() arguments
    output = None
    for fx in gm.graph.nodes:
        meta = fx.meta.get("tensor_meta")
        shape = tuple(meta.shape[1:]) if meta is not None and hasattr(meta, "shape") else ()
        tensor_args = [a for a in fx.args if isinstance(a, torch.fx.Node)]

        def ins(args=tensor_args):
            return [alias.get(a.name, a.name) for a in args if a.name not in size_nodes]

        if fx.op == "placeholder":
            if any(n.op == "input" for n in nodes):
                raise UnsupportedModelError(f"the model takes more than one input ('{fx.name}'); "
                                            "exactly one tensor input is supported")
            nodes.append(Node(fx.name, "input", [], shape=tuple(input_shape[1:])))
        elif fx.op == "output":
            out = fx.args[0]
            if not isinstance(out, torch.fx.Node):
                raise UnsupportedModelError("the model must return exactly one tensor, "
                                            f"it returns {type(out).__name__}")
            output = alias.get(out.name, out.name)
        elif fx.op == "call_module":
            mod = gm.get_submodule(fx.target)
            op, attrs = _module_op(fx.target, mod, gm, fx)
            if op == "identity":
                alias[fx.name] = ins()[0]
                continue
            nodes.append(Node(fx.name, op, ins(), path=str(fx.target), module=mod, shape=shape, attrs=attrs))
        elif fx.op == "call_function" or fx.op == "call_method":
            op, attrs = _function_op(fx, size_nodes)
            if op == "size":
                size_nodes.add(fx.name)
                continue
            if op == "identity" or (op == "flatten" and len(fx.args[0].meta["tensor_meta"].shape) == 2):
                alias[fx.name] = ins()[0]
                continue
            args = ins()
            if op == "add" and len(args) != 2:
                raise UnsupportedModelError(
                    f"'{fx.name}': only the sum of two tensors is supported (residual add), "
                    "not the addition of a constant")
            if op == "mul":
                args = _mul_inputs(fx, args)
            nodes.append(Node(fx.name, op, args[:1] if op not in ("add", "mul") else args, shape=shape, attrs=attrs))
        else:  # get_attr: a parameter or buffer used directly in forward
            raise UnsupportedModelError(
                f"'{fx.target}' is a parameter used directly in forward ({fx.op}); only the "
                f"supported modules may hold parameters: {SUPPORTED_MODULES}")
    if output is None:
        raise UnsupportedModelError("the traced model has no output")
    if output == nodes[0].name:
        raise UnsupportedModelError("the model returns its input unchanged")
    return Graph(gm, nodes, output, input_shape)


def _pair(v):
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _unsupported(path, mod, why):
    return UnsupportedModelError(f"module '{path}' ({type(mod).__name__}): {why}")


def _module_op(path, mod, gm, fx):
    if isinstance(mod, nn.Conv2d):
        if mod.padding_mode != "zeros":
            raise _unsupported(path, mod, f"padding_mode='{mod.padding_mode}' is not supported, only 'zeros'")
        depthwise = mod.groups > 1 and mod.groups == mod.in_channels == mod.out_channels
        # torch stores (left, right, top, bottom) after resolving 'same'/'valid'
        l, r, t, b = mod._reversed_padding_repeated_twice
        return "conv2d", {"stride": _pair(mod.stride), "padding": (t, b, l, r),
                          "dilation": _pair(mod.dilation), "depthwise": depthwise, "groups": int(mod.groups)}
    if isinstance(mod, ChannelShift):
        return "shift", {"counts": tuple(mod.groups)}
    if isinstance(mod, nn.Hardsigmoid):
        return "hardsigmoid", {}
    if isinstance(mod, nn.Hardswish):
        return "hardswish", {}
    if isinstance(mod, nn.Linear):
        return "linear", {}
    if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if mod.running_mean is None:
            raise _unsupported(path, mod, "track_running_stats=False cannot be folded into the previous layer")
        return "bn", {}
    if isinstance(mod, nn.ReLU):
        return "relu", {}
    if isinstance(mod, nn.ReLU6) or (isinstance(mod, nn.Hardtanh) and mod.min_val == 0.0 and mod.max_val == 6.0):
        return "relu6", {}
    if isinstance(mod, nn.MaxPool2d):
        if mod.ceil_mode or mod.return_indices or _pair(mod.dilation) != (1, 1):
            raise _unsupported(path, mod, "ceil_mode, return_indices and dilation are not supported")
        k = _pair(mod.kernel_size)
        return "maxpool2d", {"kernel": k, "stride": _pair(mod.stride or k), "padding": _pair(mod.padding)}
    if isinstance(mod, nn.AvgPool2d):
        k, p = _pair(mod.kernel_size), _pair(mod.padding)
        if mod.ceil_mode or mod.divisor_override is not None:
            raise _unsupported(path, mod, "ceil_mode and divisor_override are not supported")
        if p != (0, 0) and not mod.count_include_pad:
            raise _unsupported(path, mod, "padding with count_include_pad=False is not supported")
        return "avgpool2d", {"kernel": k, "stride": _pair(mod.stride or k), "padding": p}
    if isinstance(mod, nn.AdaptiveAvgPool2d):
        if _pair(mod.output_size) != (1, 1):
            raise _unsupported(path, mod, f"output_size={mod.output_size} is not supported, only 1 "
                               "(global average pooling)")
        return "gap", {}
    if isinstance(mod, nn.Flatten):
        ndim = len(fx.args[0].meta["tensor_meta"].shape)
        if mod.start_dim != 1 or mod.end_dim not in (-1, ndim - 1):
            raise _unsupported(path, mod, "only Flatten(start_dim=1, end_dim=-1) is supported")
        return ("flatten" if ndim > 2 else "identity"), {}
    if isinstance(mod, _DROPOUTS) or isinstance(mod, nn.Identity):
        return "identity", {}
    if isinstance(mod, (nn.ZeroPad2d, nn.ConstantPad2d)):
        l, r, t, b = mod.padding
        if min(l, r, t, b) < 0:
            raise _unsupported(path, mod, "negative padding (cropping) is not supported")
        return "pad", {"padding": (t, b, l, r), "value": float(getattr(mod, "value", 0.0))}
    raise UnsupportedModelError(
        f"module '{path}' of type {type(mod).__name__} is not supported. Supported modules: "
        f"{SUPPORTED_MODULES}; functions: {SUPPORTED_FUNCTIONS}")


def _function_op(fx, size_nodes):
    t = fx.target
    name = t if isinstance(t, str) else getattr(t, "__name__", str(t))
    tensor_args = [a for a in fx.args if isinstance(a, torch.fx.Node) and a.name not in size_nodes]
    if t in (operator.add, operator.iadd, torch.add, "add", "add_"):
        if fx.kwargs.get("alpha", 1) != 1:
            raise UnsupportedModelError(f"'{fx.name}': torch.add with alpha is not supported")
        return "add", {}
    if t in (F.relu, torch.relu, "relu", "relu_", torch.relu_):
        return "relu", {}
    if t is F.relu6 or (t is F.hardtanh and fx.args[1:3] == (0.0, 6.0)):
        return "relu6", {}
    if t in (operator.mul, operator.imul, torch.mul, "mul", "mul_"):
        return "mul", {}
    if t in (F.hardsigmoid, "hardsigmoid"):
        return "hardsigmoid", {}
    if t in (F.hardswish, "hardswish"):
        return "hardswish", {}
    if t in (F.dropout, F.dropout2d, "contiguous"):
        return "identity", {}
    if t == "size" or (t is getattr and fx.args[1] == "shape") or (
            t is operator.getitem and isinstance(fx.args[0], torch.fx.Node) and fx.args[0].name in size_nodes):
        return "size", {}
    if t in (torch.flatten, "flatten", "view", "reshape"):
        src = fx.args[0].meta["tensor_meta"].shape
        dst = fx.meta["tensor_meta"].shape
        if len(dst) == 2 and dst[0] == src[0]:
            return "flatten", {}
        raise UnsupportedModelError(
            f"'{fx.name}' ({name}) reshapes {tuple(src)} to {tuple(dst)}; only flattening to "
            "(N, features) is supported")
    if not tensor_args:
        raise UnsupportedModelError(f"'{fx.name}' ({name}) does not operate on a tensor")
    raise UnsupportedModelError(
        f"function '{name}' (node '{fx.name}') is not supported. Supported functions: "
        f"{SUPPORTED_FUNCTIONS}; modules: {SUPPORTED_MODULES}")


def _mul_inputs(fx, args):
    """(features, gate) of a product ``x * gate``: the gate holds one value per channel (shape
    (N, C, 1, 1)) and the features are (N, C, H, W); either operand order is accepted."""
    if len(args) != 2:
        raise UnsupportedModelError(f"'{fx.name}': only the product of two tensors is supported (a feature "
                                    "map times a per-channel gate), not the product with a constant")
    a, b = (x for x in fx.args if isinstance(x, torch.fx.Node))
    sa, sb = (tuple(x.meta["tensor_meta"].shape[1:]) for x in (a, b))
    if len(sa) == 3 and sb == (sa[0], 1, 1):
        return args
    if len(sb) == 3 and sa == (sb[0], 1, 1):
        return args[::-1]
    raise UnsupportedModelError(f"'{fx.name}': a product is supported only between a (C, H, W) feature map and a "
                                f"(C, 1, 1) per-channel gate (squeeze-excitation); got shapes {sa} and {sb}")
