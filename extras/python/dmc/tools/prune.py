"""``dmc prune``: magnitude pruning of a checkpoint with torch's pruning utilities, optionally
fine-tuned with the masks in place, saved as a checkpoint of the same architecture and format.

* unstructured: the ``ratio`` of smallest-magnitude weights over all Conv2d/Linear layers
  (global L1) become zero;
* structured: in every Conv2d/Linear but the classifier, the ``ratio`` of output channels with
  the smallest L2 norm become zero, and so do their biases and the BatchNorm scale and shift
  that follow them, so a pruned channel outputs exactly zero (``dmc.compress``'s channel pruning then removes it).
"""
from __future__ import annotations

import torch.nn as nn
import torch.nn.utils.prune as tprune

from ..compression.graph import trace
from ..compression.training import fit, recipe_augment
from ..data import make_loaders
from ..errors import ConfigError
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .evaluate import checkpoint_splits

TYPES = ("structured", "unstructured")


def _weighted(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _following_batchnorm(model: nn.Module, input_shape) -> dict[str, nn.Module]:
    """Weighted layer path -> the BatchNorm that alone follows it (found on the traced graph)."""
    graph = trace(model, (1,) + tuple(input_shape))
    out = {}
    for n in graph.nodes:
        if n.op == "bn" and n.inputs and graph[n.inputs[0]].op in ("conv2d", "linear"):
            out[graph[n.inputs[0]].path] = model.get_submodule(n.path)
    return out


def apply_pruning(model: nn.Module, kind: str, ratio: float, input_shape) -> list[tuple[nn.Module, str]]:
    """Attach pruning masks (kept during fine-tuning); returns the (module, 'weight') pairs pruned."""
    if kind not in TYPES:
        raise ConfigError(f"pruning type must be one of {list(TYPES)}, got {kind!r}")
    if isinstance(ratio, bool) or not 0 < ratio < 1:
        raise ConfigError(f"pruning ratio must lie in (0, 1), got {ratio!r}")
    layers = _weighted(model)
    if kind == "unstructured":
        params = [(m, "weight") for _, m in layers]
        tprune.global_unstructured(params, pruning_method=tprune.L1Unstructured, amount=ratio)
        return params
    bns = _following_batchnorm(model, input_shape)
    params = []
    for path, m in layers[:-1]:          # the classifier's outputs are the classes: never pruned
        tprune.ln_structured(m, "weight", amount=ratio, n=2, dim=0)
        params.append((m, "weight"))
        keep = m.weight_mask.flatten(1).any(1).to(m.weight.dtype)
        if m.bias is not None:    # a zero channel with a bias left would still output a constant
            tprune.custom_from_mask(m, "bias", keep)
            params.append((m, "bias"))
        bn = bns.get(path)
        if bn is not None and bn.affine:
            tprune.custom_from_mask(bn, "weight", keep)
            tprune.custom_from_mask(bn, "bias", keep)
            params += [(bn, "weight"), (bn, "bias")]
    return params


def sparsity(model: nn.Module) -> float:
    """Fraction of zero weights over all Conv2d/Linear weights."""
    total = zeros = 0
    for _, m in _weighted(model):
        total += m.weight.numel()
        zeros += int((m.weight == 0).sum())
    return zeros / max(total, 1)


def prune_checkpoint(src, dst, kind: str, ratio: float, finetune_epochs: int = 0, lr: float | None = None,
                     progress: bool = True) -> dict:
    """Prune ``src`` into ``dst``; returns the pruning record saved in its metadata."""
    ck = load_checkpoint(src)
    if ck.quantized:
        raise CheckpointError(f"{src}: is already quantized; prune the float checkpoint, then quantize")
    model = ck.float_model()
    params = apply_pruning(model, kind, ratio, ck.input_shape)
    if finetune_epochs:
        if finetune_epochs < 0:
            raise ConfigError(f"finetune epochs must be >= 0, got {finetune_epochs}")
        recipe = ck.data.get("recipe") or {}
        splits = checkpoint_splits(ck)
        train, val, _ = make_loaders(splits, ck.data["dataset"].get("batch_size", 128), recipe.get("seed", 25))
        fit(model, train, finetune_epochs, val, lr=lr or recipe.get("lr", 2e-3) / 10, schedule="cosine",
            augment=recipe_augment(recipe, recipe.get("seed", 25)), monitor="accuracy",
            restore_best=True, progress=progress)
    for m, name in params:
        tprune.remove(m, name)
    record = {"type": kind, "ratio": float(ratio), "sparsity": round(sparsity(model), 6),
              "finetune_epochs": int(finetune_epochs), "source": str(src)}
    meta = {k: v for k, v in ck.meta().items() if k not in ("format", "version")}
    save_checkpoint(dst, dict(meta, pruning=record), {k: v.detach().clone() for k, v in model.state_dict().items()})
    return record

