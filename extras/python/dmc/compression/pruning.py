"""Structured channel pruning that physically removes channels.

Channels are grouped by a dependency graph built from the traced model: every tensor carries a
"channel space"; convs and linears create a new one, BatchNorm, activations, pooling, padding
depthwise convs and channel shifts pass theirs through (a depthwise conv couples its in and out
channels), Flatten expands a channel into C*H*W features, and a residual add or a channel
multiply (squeeze-excitation gate times features) merges the spaces of its inputs, so that all
members of such a group are pruned together. A space that reaches the model output, comes from
the model input, or enters or leaves a grouped conv (whose groups tie channels to positions)
is never pruned.

Removing a channel slices, in one step, the producers' output rows, the passengers' per-channel
parameters (BatchNorm statistics, depthwise filters) and the consumers' input columns.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..errors import ConfigError, UnsupportedModelError
from .graph import Graph, Node, trace
from .layers import ChannelShift

METRICS = ("l1", "l2")


@dataclass
class ChannelGroup:
    """Channels that must be removed together."""
    producers: list[Node] = field(default_factory=list)
    passengers: list[Node] = field(default_factory=list)
    consumers: list[tuple[Node, int]] = field(default_factory=list)   # (node, features per channel)
    fixed: str | None = None                                           # why it cannot be pruned
    channels: int = 0

    @property
    def name(self) -> str:
        return self.producers[0].path if self.producers else "<input>"

    def layer_names(self) -> list[str]:
        return [x for p in self.producers for x in (p.path, p.attrs["alias"])]


def channel_groups(graph: Graph) -> list[ChannelGroup]:
    """The channel groups of ``graph``, in the order of their first producer."""
    parent: list[int] = []

    def new() -> int:
        parent.append(len(parent))
        return len(parent) - 1

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    space: dict[str, tuple[int, int]] = {}          # tensor -> (space id, features per channel)
    producers, passengers, consumers, fixed = {}, {}, {}, {}
    for n in graph.nodes:
        if n.op == "input":
            s = new()
            fixed[s] = "it is the model input"
            space[n.name] = (s, 1)
            continue
        src, expand = space[n.inputs[0]]
        if n.op in ("conv2d", "linear") and not n.attrs.get("depthwise"):
            consumers.setdefault(src, []).append((n, expand))
            s = new()
            producers.setdefault(s, []).append(n)
            space[n.name] = (s, 1)
            if n.attrs.get("groups", 1) > 1:
                why = f"grouped conv '{n.path}' (groups={n.attrs['groups']}) ties its channels to its groups"
                fixed.setdefault(src, why)
                fixed[s] = why
        elif n.op in ("conv2d", "bn", "shift"):         # depthwise conv, BatchNorm, shift ride along
            passengers.setdefault(src, []).append(n)
            space[n.name] = (src, expand)
        elif n.op == "flatten":
            c, *spatial = graph[n.inputs[0]].shape
            hw = 1
            for d in spatial:
                hw *= d
            space[n.name] = (src, expand * hw)
        elif n.op in ("add", "mul"):
            spaces = [space[i] for i in n.inputs]
            for other, e in spaces[1:]:
                if e != expand:
                    fixed[find(src)] = fixed[find(other)] = f"{n.op} '{n.name}' mixes flattened and unflattened tensors"
                if find(other) != find(src):
                    a, b = find(other), find(src)
                    parent[a] = b
            space[n.name] = (find(src), expand)
        else:
            space[n.name] = (src, expand)
    out_space = find(space[graph.output][0])
    fixed.setdefault(out_space, "it feeds the model output")

    groups: dict[int, ChannelGroup] = {}
    for table, attr in ((producers, "producers"), (passengers, "passengers"), (consumers, "consumers")):
        for s, items in table.items():
            g = groups.setdefault(find(s), ChannelGroup())
            getattr(g, attr).extend(items)
    for s, why in fixed.items():
        if find(s) in groups:
            groups[find(s)].fixed = groups[find(s)].fixed or why
    result = []
    for g in groups.values():
        if not g.producers:
            continue
        p = g.producers[0]
        g.channels = p.module.out_channels if p.op == "conv2d" else p.module.out_features
        g.producers.sort(key=lambda x: graph.nodes.index(x))
        result.append(g)
    result.sort(key=lambda g: graph.nodes.index(g.producers[0]))
    return result


def channel_importance(graph: Graph, group: ChannelGroup, metric: str = "l2") -> torch.Tensor:
    """Per-channel importance: the summed norm of the producers' filters, measured after folding
    a following BatchNorm (whose scale would otherwise hide the filter's real magnitude)."""
    if metric not in METRICS:
        raise ConfigError(f"pruning metric '{metric}' is not supported; use one of {METRICS}")
    score = torch.zeros(group.channels, dtype=torch.float64)
    for p in group.producers:
        w = p.module.weight.detach().double().reshape(group.channels, -1)
        nxt = graph.consumers(p.name)
        if len(nxt) == 1 and nxt[0].op == "bn":
            bn = nxt[0].module
            gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones(group.channels)
            w = w * (gamma / torch.sqrt(bn.running_var.double() + bn.eps)).abs()[:, None]
        score += w.abs().sum(1) if metric == "l1" else w.pow(2).sum(1).sqrt()
    return score


def prune_graph(graph: Graph, amounts: dict[str, int | float], metric: str = "l2") -> list[dict]:
    """Remove channels in place. ``amounts`` maps a layer name (module path or seed alias) to a
    fraction (float) or a number (int) of its output channels to remove. Returns a report."""
    groups = channel_groups(graph)
    by_name = {name: g for g in groups for name in g.layer_names()}
    valid = sorted(graph.layer_names(), key=str)
    chosen: dict[int, tuple[str, int]] = {}
    for name, amount in amounts.items():
        if name not in graph.layer_names():
            raise ConfigError(f"prune_channel.sparsity: unknown layer '{name}'; valid layer names: {valid}")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise ConfigError(f"prune_channel.sparsity['{name}'] must be a float fraction or an int count, "
                              f"got {amount!r}")
        g = by_name.get(name)
        if g is None:                          # a depthwise conv: it produces no channels of its own
            node = graph[graph.layer_names()[name]]
            if _count(name, amount, node.module.out_channels):
                owner = next((x for x in groups if node in x.passengers), None)
                raise ConfigError(
                    f"prune_channel.sparsity['{name}']: '{name}' is a depthwise conv, whose channels are "
                    "those of its input; " + (f"prune {owner.layer_names()[::2]} instead" if owner else
                                              "they come from the model input and cannot be pruned"))
            continue
        n = _count(name, amount, g.channels)
        if n and g.fixed:
            raise ConfigError(f"prune_channel.sparsity['{name}']: the output channels of '{name}' cannot be "
                              f"pruned because {g.fixed}")
        key = id(g)
        if key in chosen and chosen[key][1] != n:
            raise ConfigError(
                f"prune_channel.sparsity: '{chosen[key][0]}' and '{name}' are pruned together "
                f"(residual add group {g.layer_names()[::2]}) but ask for {chosen[key][1]} and {n} channels")
        chosen[key] = (name, n)
    report = []
    for g in groups:
        if id(g) not in chosen or chosen[id(g)][1] == 0:
            continue
        n = chosen[id(g)][1]
        score = channel_importance(graph, g, metric)
        keep = torch.sort(torch.topk(score, g.channels - n, largest=True, sorted=False).indices).values
        _apply(g, keep)
        report.append({"layer": g.name, "members": g.layer_names()[::2], "before": g.channels,
                       "after": g.channels - n})
    graph.refresh_shapes()
    return report


def prune(model: nn.Module, sparsity: dict, input_shape, metric: str = "l2") -> nn.Module:
    """Return a pruned copy of ``model`` (a torch.fx.GraphModule) with channels removed.

    ``sparsity`` maps layer names (module paths or ``conv2d_0``-style aliases) to the fraction
    (float) or number (int) of output channels to remove. The original model is not modified.
    """
    graph = trace(copy.deepcopy(model), input_shape)
    prune_graph(graph, sparsity, metric)
    return graph.gm


def _count(name: str, amount, channels: int) -> int:
    if isinstance(amount, float):
        if not 0.0 <= amount < 1.0:
            raise ConfigError(f"prune_channel.sparsity['{name}'] = {amount}: a fraction must be in [0, 1)")
        n = int(round(amount * channels))
    else:
        n = int(amount)
    if not 0 <= n < channels:
        raise ConfigError(f"prune_channel.sparsity['{name}'] = {amount}: '{name}' has {channels} output "
                          f"channels, so between 0 and {channels - 1} can be removed")
    return n


def _param(t: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(t.detach().clone())


def _apply(g: ChannelGroup, keep: torch.Tensor) -> None:
    k = len(keep)
    for p in g.producers:                      # output rows
        m = p.module
        m.weight = _param(m.weight[keep])
        if m.bias is not None:
            m.bias = _param(m.bias[keep])
        if isinstance(m, nn.Conv2d):
            m.out_channels = k
        else:
            m.out_features = k
    for p in g.passengers:                     # per-channel parameters riding along
        m = p.module
        if isinstance(m, ChannelShift):        # recount the channels of each direction
            m.keep_channels(keep)
            p.attrs["counts"] = tuple(m.groups)
        elif isinstance(m, nn.Conv2d):         # depthwise: one filter per channel
            m.weight = _param(m.weight[keep])
            if m.bias is not None:
                m.bias = _param(m.bias[keep])
            m.in_channels = m.out_channels = m.groups = k
        else:
            if m.weight is not None:
                m.weight = _param(m.weight[keep])
                m.bias = _param(m.bias[keep])
            m.running_mean = m.running_mean[keep].clone()
            m.running_var = m.running_var[keep].clone()
            m.num_features = k
    for c, expand in g.consumers:              # input columns
        m = c.module
        if isinstance(m, nn.Conv2d):
            if expand != 1:
                raise UnsupportedModelError(f"conv '{c.path}' reads a flattened tensor")
            m.weight = _param(m.weight[:, keep])
            m.in_channels = k
        else:
            cols = (keep[:, None] * expand + torch.arange(expand)[None, :]).reshape(-1)
            m.weight = _param(m.weight[:, cols])
            m.in_features = k * expand
