"""Unstructured magnitude pruning: per-weight masks, their schedule and their ranking.

Structured pruning (:mod:`.pruning`) removes whole channels; this module zeroes single weights,
the ones of smallest magnitude, for sparse storage (dCSR, RLE) on the device.

* Masks are computed on the BatchNorm-folded weights of the quantization-aware layers, so the
  ranking sees the magnitudes that are deployed, and the fake quantization multiplies the
  weights by their mask before it picks the scale and rounds: a pruned weight is exactly 0 in
  the trained model and in the integer model that :func:`dmc.convert` makes of it.
* Schedules: ``oneshot`` prunes to the final sparsity when the model is compressed;
  ``polynomial`` is TF-MOT's PolynomialDecay over the training steps (one step = one training
  batch): ``s(t) = s_f + (s_i - s_f) * (1 - p)^power`` with ``p = (t - begin) / (end - begin)``
  clipped to [0, 1], masks recomputed every ``frequency`` steps from ``begin_step`` and, unlike
  TF-MOT, always at ``end_step`` too, so the final sparsity is reached even when the interval is
  not a multiple of the frequency.
* Ranking ``layer`` keeps the largest ``(1 - s)`` fraction of each layer; ``global`` ranks all
  weights of the model together by magnitude (one sparsity for the model; each layer keeps at
  least its largest weight).

Weights pruned once are ranked as zeros afterwards, so the sparsity only grows and a pruned
weight never comes back. A new schedule can continue from the masks of an earlier one
(:meth:`CompressedModel.set_weight_pruning`): gradual pruning in stages, each trained and
converted on its own.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

from ..errors import ConfigError
from .config import WeightPruningConfig, parse_weight_pruning
from .graph import Graph, trace


def polynomial_sparsity(step: int, initial: float, final: float, begin: int, end: int, power: float) -> float:
    """TF-MOT's PolynomialDecay: sparsity at ``step`` (``initial`` before ``begin``, ``final`` from ``end``)."""
    p = min(1.0, max(0.0, (step - begin) / (end - begin)))
    return final + (initial - final) * (1.0 - p) ** power


def kept_count(numel: int, sparsity: float) -> int:
    """How many weights a layer of ``numel`` weights keeps at ``sparsity`` (the pruned count is
    rounded half up)."""
    return numel - int(math.floor(sparsity * numel + 0.5))


def layer_masks(scores: dict[str, torch.Tensor], sparsity: dict[str, float]) -> dict[str, torch.Tensor]:
    """Per-layer ranking: for each layer keep its ``kept_count`` largest scores (ties broken by
    position, deterministically). Returns float masks of the scores' shapes."""
    masks = {}
    for name, s in scores.items():
        flat = s.reshape(-1)
        keep = kept_count(flat.numel(), sparsity[name])
        masks[name] = _top(flat, keep).reshape(s.shape)
    return masks


def global_masks(scores: dict[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    """Global ranking: keep the largest scores over all layers together. Every layer keeps at
    least its own largest score (so that none is left without weights); the rest of the kept
    count goes to the largest other scores, so the model's total is exact. Where every layer's
    maximum is among the global top scores anyway, this is plain global top-k."""
    names = list(scores)
    flat = torch.cat([scores[n].reshape(-1).double() for n in names])
    sizes = [scores[n].numel() for n in names]
    starts = [sum(sizes[:i]) for i in range(len(names))]
    own_max = torch.tensor([st + int(torch.argmax(scores[n].reshape(-1))) for n, st in zip(names, starts)])
    rest = flat.clone()
    rest[own_max] = -math.inf
    keep = _top(rest, max(0, kept_count(flat.numel(), sparsity) - len(names)))
    keep[own_max] = 1.0
    return {n: keep[st:st + k].reshape(scores[n].shape) for n, st, k in zip(names, starts, sizes)}


def _top(flat: torch.Tensor, keep: int) -> torch.Tensor:
    mask = torch.zeros(flat.numel(), dtype=torch.float32)
    if keep > 0:
        # a stable sort makes ties (zeros of earlier pruning steps) deterministic
        order = torch.sort(flat.double(), descending=True, stable=True).indices
        mask[order[:keep]] = 1.0
    return mask


def check_targets(pw: WeightPruningConfig, layers: dict[str, tuple[tuple[str, ...], int]]) -> dict[str, float]:
    """Final sparsity per layer key (``layers``: key -> (accepted names, weight count)); a layer
    whose sparsity would remove every one of its weights is a ConfigError naming it."""
    targets = {}
    for key, (names, numel) in layers.items():
        s = pw.target(names)
        if pw.ranking == "layer" and s > 0 and kept_count(numel, s) < 1:
            given = next((n for n in names if n in pw.sparsity), None)
            where = "config['prune_weight']['sparsity']" + (f"['{given}']" if given else "")
            raise ConfigError(f"{where} = {s}: removes all {numel} weights of layer '{names[-1]}' ('{names[0]}'); "
                              "a layer needs at least one weight (lower its sparsity)")
        targets[key] = s
    return targets


class WeightPruner(nn.Module):
    """The pruning state of a CompressedModel: the step counter (a buffer, so it is saved with
    the model) and the schedule. The masks themselves are ``weight_mask`` buffers of the layers."""

    def __init__(self, pw: WeightPruningConfig, layers: nn.ModuleDict, names: dict[str, tuple[str, ...]]):
        super().__init__()
        self.config = pw
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))
        targets = check_targets(pw, {k: (names[k], layers[k].weight.numel()) for k in names})
        self.targets = {k: s for k, s in targets.items() if s > 0}
        self.names = names
        for key in self.targets:
            if getattr(layers[key], "weight_mask", None) is None:    # a new schedule keeps earlier masks
                layers[key].register_buffer("weight_mask", torch.ones_like(layers[key].weight))
        if pw.schedule == "oneshot" or pw.begin_step == 0:
            self.apply_sparsity(layers, 0)

    def sparsity_at(self, final: float, step: int) -> float:
        """The sparsity a layer whose final sparsity is ``final`` has at ``step``."""
        pw = self.config
        if pw.schedule == "oneshot":
            return final
        return polynomial_sparsity(step, min(pw.initial_sparsity, final), final, pw.begin_step, pw.end_step, pw.power)

    def due(self, step: int) -> bool:
        pw = self.config
        if pw.schedule == "oneshot" or not pw.begin_step <= step <= pw.end_step:
            return False
        return (step - pw.begin_step) % pw.frequency == 0 or step == pw.end_step

    @torch.no_grad()
    def apply_sparsity(self, layers: nn.ModuleDict, step: int) -> None:
        """Recompute every mask from the current (masked) weight magnitudes for ``step``."""
        keys = list(self.targets)
        if not keys:
            return
        scores = {k: (layers[k].weight * layers[k].weight_mask).abs() for k in keys}
        if self.config.ranking == "global":
            masks = global_masks(scores, self.sparsity_at(self.config.default, step))
        else:
            masks = layer_masks(scores, {k: self.sparsity_at(self.targets[k], step) for k in keys})
        for k, m in masks.items():
            layers[k].weight_mask.copy_(m.to(layers[k].weight_mask.dtype))

    def training_step(self, layers: nn.ModuleDict) -> None:
        """Called once per training batch, before its forward pass."""
        step = int(self.step)
        if self.due(step):
            self.apply_sparsity(layers, step)
        self.step += 1

    def report(self, layers: nn.ModuleDict) -> list[dict]:
        """Per pruned layer: its target (the model's, with global ranking), the fraction of its
        weights masked now and its weight count."""
        return [{"layer": self.names[k][-1], "path": self.names[k][0], "target": target,
                 "ranking": self.config.ranking, "masked": float(1.0 - layers[k].weight_mask.mean()),
                 "weights": layers[k].weight.numel()} for k, target in self.targets.items()]

    def behind_schedule(self, layers: nn.ModuleDict) -> str | None:
        """Why the masks hold fewer zeros than the final sparsity asks for (a polynomial schedule
        that has not reached its end_step), or None."""
        if self.config.schedule == "oneshot":
            return None
        rows = self.report(layers)
        pruned = {r["layer"]: int(round(r["masked"] * r["weights"])) for r in rows}
        if self.config.ranking == "global":
            total = sum(r["weights"] for r in rows)
            lag = [("the model", sum(pruned.values()), total - kept_count(total, self.config.default), total)]
        else:
            lag = [(f"layer '{r['layer']}'", pruned[r["layer"]], r["weights"] - kept_count(r["weights"], r["target"]),
                    r["weights"]) for r in rows]
        for who, now, want, n in lag:
            if now < want:
                return (f"{who} is at weight sparsity {now / n:.3f}, below its target {want / n:.3f}: the pruning "
                        f"schedule ends at step {self.config.end_step} and the model is at step {int(self.step)}")
        return None


# -- float models (sensitivity analysis, a first look before compress) ------------------------------

def folded_weight(graph: Graph, node) -> torch.Tensor:
    """A layer's weight as it is deployed: scaled by the BatchNorm that follows it (if any)."""
    w = node.module.weight.detach()
    nxt = graph.consumers(node.name)
    if len(nxt) == 1 and nxt[0].op == "bn":
        bn = nxt[0].module
        gamma = bn.weight.detach() if bn.weight is not None else torch.ones_like(bn.running_var)
        w = w * (gamma / torch.sqrt(bn.running_var + bn.eps)).reshape((-1,) + (1,) * (w.dim() - 1))
    return w


@torch.no_grad()
def prune_weights(model: nn.Module, sparsity, input_shape, ranking: str = "layer") -> nn.Module:
    """A copy of ``model`` (a torch.fx.GraphModule) with the smallest weights set to zero, one
    shot. ``sparsity`` is a float for every Conv2d/Linear or a dict of layer name -> float;
    magnitudes are measured after folding the BatchNorm that follows a layer."""
    graph = trace(copy.deepcopy(model), input_shape)
    pw = parse_weight_pruning({"sparsity": sparsity, "ranking": ranking}, sorted(graph.layer_names(), key=str))
    nodes = {n.name: n for n in graph.weighted_layers()}
    names = {k: (n.path, n.attrs["alias"]) for k, n in nodes.items()}
    targets = check_targets(pw, {k: (names[k], nodes[k].module.weight.numel()) for k in nodes})
    keys = [k for k in nodes if targets[k] > 0]
    scores = {k: folded_weight(graph, nodes[k]).abs() for k in keys}
    masks = global_masks(scores, pw.default) if ranking == "global" else layer_masks(scores, targets)
    for k, m in masks.items():
        nodes[k].module.weight.mul_(m.to(nodes[k].module.weight.dtype))
    return graph.gm
