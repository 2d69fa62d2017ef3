"""Sensitivity analysis: how a metric responds to pruning each layer alone.

``dmc.sensitivity(model, eval_fn, input_shape)`` prunes one layer (channel group) at a time at
several sparsities, evaluates the pruned copy with ``eval_fn(model) -> float`` (e.g. validation
accuracy) and returns a :class:`SensitivityResult` with a table, a plot and a suggestion.
``kind="weight"`` sweeps unstructured magnitude pruning instead: the fraction of a layer's
weights set to zero (the ``prune_weight`` config), over every Conv2d and Linear.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch.nn as nn

from ..errors import ConfigError
from ..progress import progress as progress_bar
from .executor import make_executor
from .graph import trace
from .pruning import channel_groups, prune
from .weight_pruning import kept_count, prune_weights

KINDS = ("channel", "weight")

DEFAULT_SPARSITIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class SensitivityResult:
    baseline: float
    sparsities: tuple
    scores: dict = field(default_factory=dict)      # layer alias -> [score per sparsity]
    channels: dict = field(default_factory=dict)    # layer alias -> channel count (weight count for kind "weight")
    kind: str = "channel"

    def table(self) -> str:
        head = "layer".ljust(12) + ("ch" if self.kind == "channel" else "w").rjust(6) + "".join(
            f"{s:>8.0%}" for s in self.sparsities)
        lines = [f"baseline: {self.baseline:.4f}", head, "-" * len(head)]
        for name, row in self.scores.items():
            lines.append(name.ljust(12) + str(self.channels[name]).rjust(6) + "".join(f"{v:8.4f}" for v in row))
        return "\n".join(lines)

    def suggest(self, max_drop: float) -> dict:
        """Per layer, the largest tested sparsity whose score stays within ``max_drop`` of the
        baseline (0.0 when none does): a starting point for a pruning config."""
        out = {}
        for name, row in self.scores.items():
            ok = [s for s, v in zip(self.sparsities, row) if v >= self.baseline - max_drop]
            out[name] = max(ok) if ok else 0.0
        return out

    def plot(self, path=None, ax=None):
        """Metric vs sparsity, one line per layer; saved to ``path`` when given. Returns the figure."""
        import matplotlib
        if ax is None:
            matplotlib.use("Agg", force=False) if path else None
            import matplotlib.pyplot as plt
            fig, ax = plt.subplots(figsize=(7, 4.5))
        else:
            fig = ax.figure
        for name, row in self.scores.items():
            unit = "ch" if self.kind == "channel" else "weights"
            ax.plot([0.0, *self.sparsities], [self.baseline, *row], marker="o", label=f"{name} ({self.channels[name]} {unit})")
        ax.axhline(self.baseline, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("fraction of output channels removed" if self.kind == "channel" else
                      "fraction of weights set to zero")
        ax.set_ylabel("metric")
        ax.set_title("Pruning sensitivity per layer")
        ax.grid(alpha=0.3)
        ax.legend()
        if path:
            fig.savefig(path, dpi=120, bbox_inches="tight")
        return fig


def sensitivity(model: nn.Module, eval_fn, input_shape, sparsities=DEFAULT_SPARSITIES, layers=None,
                metric: str = "l2", progress: bool = True, kind: str = "channel", workers: int = 1,
                ray_address: str | None = None) -> SensitivityResult:
    """Evaluate ``eval_fn`` on copies of ``model`` with one layer pruned at each sparsity.

    ``kind="channel"`` removes output channels (structured, ``prune_channel``); ``kind="weight"``
    sets the smallest weights of the layer to zero (unstructured, ``prune_weight``; magnitudes
    after BatchNorm folding). ``layers`` restricts the analysis to some layer names (module path
    or seed alias); by default every prunable layer is analysed. The model itself is never
    modified. ``workers`` > 1 or ``ray_address`` evaluates the pruned copies as Ray tasks (the
    search's executor; ``eval_fn`` must then be picklable, e.g. a function over a DataLoader).
    """
    if kind not in KINDS:
        raise ConfigError(f"sensitivity: kind {kind!r} is not one of {list(KINDS)}")
    for s in sparsities:
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 < s < 1.0:
            raise ConfigError(f"sensitivity: sparsity {s!r} must be a number in (0, 1)")
    if kind == "weight":
        return _weight_sensitivity(model, eval_fn, input_shape, tuple(sparsities), layers, progress, workers,
                                   ray_address)
    graph = trace(copy.deepcopy(model), input_shape)
    groups = [g for g in channel_groups(graph) if not g.fixed]
    names = {g.producers[0].attrs["alias"]: g for g in groups}
    if layers is not None:
        valid = {n: g for g in groups for n in g.layer_names()}
        unknown = [n for n in layers if n not in valid]
        if unknown:
            raise ConfigError(f"sensitivity: cannot analyse {unknown}; prunable layers: {sorted(map(str, valid))}")
        names = {valid[n].producers[0].attrs["alias"]: valid[n] for n in layers}
    result = SensitivityResult(float(eval_fn(copy.deepcopy(model).eval())), tuple(sparsities))
    jobs = []
    for alias, g in names.items():
        result.channels[alias] = g.channels
        for i, s in enumerate(sparsities):
            amount = {alias: float(s)} if round(s * g.channels) < g.channels else {alias: g.channels - 1}
            jobs.append(((alias, i), _channel_score, (model, amount, input_shape, metric, eval_fn)))
    _fill(result, jobs, workers, ray_address, progress)
    return result


def _channel_score(model, amount, input_shape, metric, eval_fn) -> float:
    return float(eval_fn(prune(model, amount, input_shape, metric).eval()))


def _weight_score(model, amount, input_shape, eval_fn) -> float:
    return float(eval_fn(prune_weights(model, amount, input_shape).eval()))


def _fill(result: SensitivityResult, jobs, workers, ray_address, progress) -> None:
    """Run every (key, function, args) job on the executor and store the scores by layer."""
    executor = make_executor(workers, ray_address)
    rows = {alias: [None] * len(result.sparsities) for alias in result.channels}
    bar = progress_bar(total=len(jobs), desc="sensitivity", unit="pruned model", enabled=progress)
    try:
        for key, fn, args in jobs:
            executor.submit(fn, *args, tag=key)
        while executor.pending():
            (alias, i), score = executor.wait()
            rows[alias][i] = score
            bar.update()
    finally:
        bar.close()
        executor.shutdown()
    result.scores.update(rows)


def _weight_sensitivity(model, eval_fn, input_shape, sparsities, layers, progress, workers,
                        ray_address) -> SensitivityResult:
    graph = trace(copy.deepcopy(model), input_shape)
    by_name = {name: graph[node] for name, node in graph.layer_names().items()}
    if layers is not None:
        unknown = [n for n in layers if n not in by_name]
        if unknown:
            raise ConfigError(f"sensitivity: cannot analyse {unknown}; weighted layers: {sorted(map(str, by_name))}")
        nodes = [by_name[n] for n in layers]
    else:
        nodes = graph.weighted_layers()
    result = SensitivityResult(float(eval_fn(copy.deepcopy(model).eval())), sparsities, kind="weight")
    jobs = []
    for node in nodes:
        alias, numel = node.attrs["alias"], node.module.weight.numel()
        result.channels[alias] = numel
        for i, s in enumerate(sparsities):
            # a tiny layer keeps at least one weight, as prune_weight requires
            s = s if kept_count(numel, s) >= 1 else (numel - 1) / numel
            jobs.append(((alias, i), _weight_score, (model, {alias: s}, input_shape, eval_fn)))
    _fill(result, jobs, workers, ray_address, progress)
    return result
