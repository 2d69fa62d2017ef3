"""``dmc train``: train an architecture of the registry on a data set, keeping the last epoch's
checkpoint (with optimizer and schedule, to resume) and the best one on the validation split.

The recipe: Adam with cosine learning-rate decay, random shifts of up to ``augment_shift``
pixels (and mirroring with ``augment_flip``), cross-entropy (distilled from ``teacher``, a trained
checkpoint, when given); the test split is never looked at.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..compression.training import fit, recipe_augment
from ..data import make_loaders
from ..version import __version__
from ..zoo.registry import build
from .checkpoints import CheckpointError, checkpoint_name, load_checkpoint, save_checkpoint, teacher_model
from .config import dataset_from_config


def train(model_cfg: dict, data_cfg: dict, output_dir, resume=None, extra_epochs: int | None = None,
          progress: bool = True) -> dict:
    """Train; returns {"best": path, "last": path, "best_val_accuracy": ..., "epochs": ...}.

    ``resume``: a ``*_last.pt`` checkpoint; its recipe and dataset are used, and training goes on
    from its next epoch up to its ``epochs`` (or ``extra_epochs`` more when given)."""
    state = None
    if resume is not None:
        ck = load_checkpoint(resume)
        if "optimizer" not in ck.data:
            raise CheckpointError(f"{resume}: holds no optimizer state; resume from the *_last.pt checkpoint")
        model_cfg, data_cfg = dict(ck.data["recipe"]), dict(ck.data["dataset"])
        if extra_epochs:
            model_cfg["epochs"] = ck.data["epoch"] + extra_epochs
        state = ck.data
        if state["epoch"] >= model_cfg["epochs"]:
            raise CheckpointError(f"{resume}: already trained for {state['epoch']} of {model_cfg['epochs']} epochs; "
                                  "pass --epochs N to train N more")
    splits = dataset_from_config(data_cfg)
    c, h, w = splits.input_shape
    torch.manual_seed(model_cfg["seed"])
    model = build(model_cfg["arch"], c, (h, w), splits.num_classes, **model_cfg["options"])
    train_loader, val_loader, _ = make_loaders(splits, data_cfg["batch_size"], model_cfg["seed"])
    optimizer = torch.optim.Adam(model.parameters(), lr=model_cfg["lr"], weight_decay=model_cfg["weight_decay"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=model_cfg["epochs"])
    history, best, start = [], None, 1
    if state is not None:
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scheduler.T_max = model_cfg["epochs"]
        history, best, start = list(state["history"]), state["best_val_accuracy"], state["epoch"] + 1
        train_loader.generator.set_state(state["loader_rng"])
    out = Path(output_dir) / "checkpoints"
    arch, dataset = model_cfg["arch"], data_cfg["dataset"]
    paths = {k: out / checkpoint_name(arch, dataset, k) for k in ("best", "last")}
    meta = {"arch": arch, "options": model_cfg["options"], "in_channels": c, "input_size": [h, w],
            "num_classes": splits.num_classes, "classes": splits.classes, "dataset": data_cfg, "recipe": model_cfg,
            "dmc_version": __version__}
    if progress:
        print(f"training {arch} on {dataset} ({c}x{h}x{w}, {splits.num_classes} classes, {len(splits.x_train)} train / "
              f"{len(splits.x_val)} validation images), epochs {start}..{model_cfg['epochs']}")

    def checkpoint(row):
        nonlocal best
        history.append(row)
        acc = row["val_accuracy"]
        epoch_meta = dict(meta, epoch=row["epoch"], epochs=model_cfg["epochs"], history=history, val_accuracy=acc)
        if best is None or acc > best:
            best = acc
            save_checkpoint(paths["best"], dict(epoch_meta, best_val_accuracy=best), model.state_dict())
        save_checkpoint(paths["last"], dict(epoch_meta, best_val_accuracy=best), model.state_dict(),
                        optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                        loader_rng=train_loader.generator.get_state())

    teacher = teacher_model(model_cfg.get("teacher"), (c, h, w), splits.num_classes)
    t0 = time.time()
    fit(model, train_loader, model_cfg["epochs"], val_loader, optimizer=optimizer, scheduler=scheduler, teacher=teacher,
        augment=recipe_augment(model_cfg, model_cfg["seed"] + start), restore_best=False,
        start_epoch=start, on_epoch_end=checkpoint, progress=progress)
    return {"best": paths["best"], "last": paths["last"], "best_val_accuracy": best, "epochs": model_cfg["epochs"],
            "seconds": time.time() - t0}

