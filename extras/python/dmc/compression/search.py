"""Compression search: per-layer pruning and bit widths under flash/SRAM budgets.

An evolutionary search over, per weighted layer, the fraction of output channels removed, the
weight bit width (8/4/2), the granularity and the output activation bit width (8/4), plus the
input bit width. Each candidate is compressed and converted (its model bytes and arena plan are
exact, not estimated); candidates over budget are discarded without training; the others get a
short quantization-aware fine-tune (distilled from the float model) and are scored on the
validation split. The survivors of the last generation on the accuracy/size frontier are then
trained longer and reported; test data is never used here.
"""
from __future__ import annotations

import copy
import itertools
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..deploy.boards import get_board
from ..deploy.budget import budget
from ..errors import ConfigError, DMCError, QuantizationError
from ..progress import progress as progress_bar
from ..progress import write as progress_write
from .compressed_model import compress
from .conversion import convert
from .graph import trace
from .pruning import channel_groups

SPARSITIES = (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875)
WEIGHT_BITS = (8, 4, 2)
ACT_BITS = (8, 4)
GRANULARITIES = ("per_tensor", "per_channel")


@dataclass
class Candidate:
    genes: dict                           # layer alias -> (sparsity, weight bits, granularity, act bits)
    input_bits: int = 8
    model_bytes: int | None = None
    arena_bytes: int | None = None
    val_accuracy: float | None = None
    feasible: bool = True
    why: str = ""
    final_val_accuracy: float | None = None
    model: object = field(default=None, repr=False)

    def key(self):
        return (tuple(sorted(self.genes.items())), self.input_bits)

    def config(self) -> dict:
        return {"prune_channel": {"sparsity": {k: g[0] for k, g in self.genes.items() if g[0] > 0}},
                "quantize": {"scheme": "static", "input_bitwidth": self.input_bits,
                             "layers": {k: {"bitwidth": g[1], "granularity": g[2], "activation_bitwidth": g[3]}
                                        for k, g in self.genes.items()}}}

    def describe(self) -> str:
        parts = [f"{k}: -{g[0]:.0%} w{g[1]} {'ch' if g[2] == 'per_channel' else 't'} a{g[3]}"
                 for k, g in self.genes.items()]
        return f"in{self.input_bits}; " + ", ".join(parts)


def _layers(model, input_shape):
    graph = trace(copy.deepcopy(model), input_shape)
    prunable = {g.producers[0].attrs["alias"] for g in channel_groups(graph) if not g.fixed}
    return [(n.attrs["alias"], n.attrs["alias"] in prunable) for n in graph.weighted_layers()]


def _random_genes(layers, rng):
    return {a: (rng.choice(SPARSITIES) if p else 0.0, rng.choice(WEIGHT_BITS), rng.choice(GRANULARITIES),
                rng.choice(ACT_BITS)) for a, p in layers}


def _mutate(c: Candidate, layers, rng) -> Candidate:
    genes = dict(c.genes)
    alias, prunable = rng.choice(layers)
    s, w, g, a = genes[alias]
    which = rng.randrange(4 if prunable else 3)
    if which == 0 and prunable:
        s = rng.choice(SPARSITIES)
    elif which in (0, 1):
        w = rng.choice(WEIGHT_BITS)
    elif which == 2:
        g = rng.choice(GRANULARITIES)
    else:
        a = rng.choice(ACT_BITS)
    genes[alias] = (s, w, g, a)
    return Candidate(genes, rng.choice(ACT_BITS) if rng.random() < 0.1 else c.input_bits)


def _crossover(a: Candidate, b: Candidate, rng) -> Candidate:
    return Candidate({k: (a.genes[k] if rng.random() < 0.5 else b.genes[k]) for k in a.genes},
                     rng.choice([a.input_bits, b.input_bits]))


def search(model, train_loader, val_loader, input_shape, *, max_model_bytes: int | None = None,
           board: str | None = None, population: int = 12, generations: int = 4, quick_epochs: int = 1,
           quick_batches: int | None = 100, final_epochs: int = 8, finalists: int = 3, seeds=(), seed: int = 25,
           augment=None, progress: bool = True) -> list[Candidate]:
    """Search compression configs of ``model`` (a trained float model) that fit the budget.

    Budgets: ``max_model_bytes`` (packed weights + biases + requantization constants) and/or a
    ``board`` whose flash and SRAM (minus the runtime's estimated overhead) bound the model bytes
    and the arena. ``seeds`` are configs (Candidate or genes dicts) to start from. Returns the
    final frontier, best first, each trained ``final_epochs`` epochs with its ``model`` attached
    (a CompressedModel).
    """
    if max_model_bytes is None and board is None:
        raise ConfigError("search needs a budget: max_model_bytes and/or board")
    b = get_board(board) if board else None
    flash_cap = min(x for x in (max_model_bytes, b and b.flash - b.overhead_flash) if x)
    sram_cap = b.sram - b.overhead_sram if b else None
    rng = random.Random(seed)
    layers = _layers(model, input_shape)
    teacher = copy.deepcopy(model).eval()
    seen: dict = {}

    def evaluate(c: Candidate, epochs, batches, quick=True) -> Candidate:
        if quick and c.key() in seen:
            return seen[c.key()]
        try:
            cm = compress(model, c.config(), input_shape, calibration_data=train_loader, calibration_batches=8)
            qm = convert(cm)
        except (ConfigError, QuantizationError, DMCError) as e:
            c.feasible, c.why = False, str(e)
            if quick:
                seen[c.key()] = c
            return c
        c.model_bytes, c.arena_bytes = qm.model_bytes, budget(qm)["arena_bytes"]
        if c.model_bytes > flash_cap or (sram_cap and c.arena_bytes > sram_cap):
            c.feasible, c.why = False, "over budget"
            if quick:
                seen[c.key()] = c
            return c
        loader = list(itertools.islice(train_loader, batches)) if batches else train_loader
        cm.fit(loader, epochs=epochs, val_loader=val_loader, lr=1e-3, schedule="cosine", teacher=teacher,
               augment=augment, monitor="accuracy", restore_best=True, progress=False)
        c.val_accuracy = cm.evaluate(val_loader)["accuracy"]
        c.model = cm
        if quick:
            seen[c.key()] = c
        return c

    pop = [s if isinstance(s, Candidate) else Candidate(dict(s)) for s in seeds]
    while len(pop) < population:
        pop.append(Candidate(_random_genes(layers, rng), rng.choice(ACT_BITS)))
    bar = progress_bar(total=population * generations, desc="search", unit="candidate", enabled=progress)
    for gen in range(generations):
        for c in pop:
            evaluate(c, quick_epochs, quick_batches)
            bar.update()
        ok = sorted((c for c in pop if c.feasible and c.val_accuracy is not None),
                    key=lambda c: (-c.val_accuracy, c.model_bytes))
        if progress and ok:
            progress_write(f"generation {gen + 1}: best val {ok[0].val_accuracy:.4f} at {ok[0].model_bytes} B "
                           f"({ok[0].describe()}); {len(ok)}/{len(pop)} within budget")
        parents = ok[:max(2, population // 3)] or [Candidate(_random_genes(layers, rng)) for _ in range(2)]
        children = []
        while len(children) < population - len(parents):
            a, b2 = rng.sample(parents, 2) if len(parents) >= 2 else (parents[0], parents[0])
            child = _mutate(_crossover(a, b2, rng), layers, rng)
            if child.key() not in seen:
                children.append(child)
        pop = parents + children
    bar.close()
    pool = sorted((c for c in seen.values() if c.feasible and c.val_accuracy is not None),
                  key=lambda c: (-c.val_accuracy, c.model_bytes))
    frontier = [c for c in pool if not any(o is not c and o.val_accuracy >= c.val_accuracy and
                                           o.model_bytes <= c.model_bytes and
                                           (o.val_accuracy, -o.model_bytes) != (c.val_accuracy, -c.model_bytes)
                                           for o in pool)]
    final = []
    for c in frontier[:finalists]:
        f = Candidate(dict(c.genes), c.input_bits)
        evaluate(f, final_epochs, None, quick=False)
        f.final_val_accuracy = f.val_accuracy
        f.val_accuracy = c.val_accuracy
        final.append(f)
    final.sort(key=lambda c: (-(c.final_val_accuracy or 0), c.model_bytes))
    return final


def write_search(final, test_loader, out_dir) -> list[dict]:
    """Report the search frontier: each finalist's integer model is saved and its test accuracy
    measured once (reported, never used to choose)."""
    from .compression.conversion import convert
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x_test, y_test = test_loader.dataset.tensors[0].numpy(), test_loader.dataset.tensors[1].numpy()
    rows = []
    for i, c in enumerate(final):
        qm = convert(c.model)
        path = out / f"lenet5_search_{i}.dmc"
        qm.save(path)
        rows.append({"rank": i, "config": c.describe(), "model_bytes": qm.model_bytes,
                     "arena_bytes": c.arena_bytes, "search_val_accuracy": c.val_accuracy,
                     "val_accuracy": c.final_val_accuracy,
                     "test_accuracy": float((qm.predict(x_test).argmax(1) == y_test).mean()), "file": path.name})
    text = frontier_markdown(rows)
    (out / "search_frontier.md").write_text(text)
    (out / "search_frontier.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(text)
    return rows


def frontier_markdown(rows) -> str:
    lines = ["| # | model bytes | arena B | val accuracy | test accuracy | config (per layer: channels removed, "
             "weight bits, granularity, activation bits) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['rank']} | {r['model_bytes']} | {r['arena_bytes']} | {r['val_accuracy']:.2%} | "
                     f"{r['test_accuracy']:.2%} | {r['config'].replace('|', ';')} |")
    return "\n".join(lines) + "\n"
