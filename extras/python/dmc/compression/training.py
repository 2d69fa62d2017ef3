"""Training helpers shared by dmc.Sequential and CompressedModel: ``fit`` (progress bar on a
terminal, a line per epoch in logs; early stopping on a validation loader, never on test data)
and ``evaluate``."""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

from ..errors import DataError
from ..progress import progress as progress_bar
from ..progress import write as progress_write
from . import distributed


def batches(data):
    """Yield input batches from a DataLoader/iterable of tensors or (x, y) pairs, or a tensor."""
    if isinstance(data, torch.Tensor):
        yield from torch.split(data, 256)
        return
    try:
        it = iter(data)
    except TypeError:
        raise DataError(f"expected a DataLoader, an iterable of batches or a tensor, got "
                        f"{type(data).__name__}") from None
    for item in it:
        x = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(x)
        yield x.float()


def _pairs(loader, where):
    for item in loader:
        if not (isinstance(item, (tuple, list)) and len(item) >= 2):
            raise DataError(f"{where}: each batch must be an (inputs, targets) pair")
        yield item[0].float(), item[1]


@torch.no_grad()
def evaluate(model: nn.Module, loader, loss_fn=None, device="cpu") -> dict:
    """Mean loss and, for class targets, accuracy of ``model`` over ``loader``."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    was = model.training
    model.eval()
    total, loss_sum, correct = 0, 0.0, 0
    try:
        for x, y in _pairs(loader, "evaluate"):
            x, y = x.to(device), y.to(device)
            out = model(x)
            loss_sum += float(loss_fn(out, y)) * len(x)
            if out.dim() == 2 and out.shape[1] > 1 and not torch.is_floating_point(y):
                correct += int((out.argmax(1) == y).sum())
            total += len(x)
    finally:
        model.train(was)
    if total == 0:
        raise DataError("evaluate: the loader yielded no data")
    return {"loss": loss_sum / total, "accuracy": correct / total}


def fit(model: nn.Module, train_loader, epochs: int = 10, val_loader=None, lr: float = 1e-3,
        optimizer=None, loss_fn=None, scheduler=None, patience: int | None = None,
        monitor: str = "loss", weight_decay: float = 0.0, device="cpu", progress: bool = True,
        schedule: str | None = None, augment=None, teacher: nn.Module | None = None,
        distill_alpha: float = 0.5, distill_temperature: float = 4.0,
        restore_best: bool | None = None, start_epoch: int = 1, on_epoch_end=None) -> list[dict]:
    """Train ``model``. Returns the per-epoch history.

    * ``val_loader`` + ``patience``: stop after ``patience`` epochs without improvement of the
      validation ``monitor`` ("loss" or "accuracy"). ``restore_best`` (default: on with
      patience) reloads the weights of the best validation epoch. Never pass test data here.
    * ``schedule="cosine"``: cosine learning-rate decay over ``epochs`` (or pass ``scheduler``).
    * ``augment``: a function applied to each training batch of inputs (e.g. random shifts).
    * ``teacher``: knowledge distillation; the loss becomes
      ``(1 - a) * loss_fn + a * T^2 * KL(softmax(teacher / T) || softmax(model / T))``.
    * ``start_epoch`` > 1 resumes a run (pass the restored optimizer and scheduler);
      ``on_epoch_end(row)`` is called after each epoch with its history row (e.g. to checkpoint).
    * Under ``torchrun --nproc-per-node N`` it trains data-parallel (:mod:`dmc.compression.distributed`):
      each rank takes 1/N of every batch of ``train_loader``; validation runs whole on every rank,
      so every rank keeps the same best epoch; only rank 0 shows progress.
    """
    if epochs < 1:
        raise DataError(f"epochs must be >= 1, got {epochs}")
    if patience is not None and val_loader is None:
        raise DataError("early stopping (patience) needs a val_loader: never stop on test data")
    if monitor not in ("loss", "accuracy"):
        raise DataError(f"monitor must be 'loss' or 'accuracy', got {monitor!r}")
    if schedule not in (None, "cosine"):
        raise DataError(f"schedule must be None or 'cosine', got {schedule!r}")
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if schedule == "cosine" and scheduler is None:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if restore_best is None:
        restore_best = patience is not None
    if restore_best and val_loader is None:
        raise DataError("restore_best needs a val_loader: never select on test data")
    if teacher is not None:
        teacher.eval()
    model.to(device)
    net = model
    if distributed.init_from_env():
        train_loader = distributed.shard(train_loader)
        net = distributed.wrap(model)
        progress = progress and distributed.rank() == 0
    history, best, best_state, stale = [], None, None, 0
    for epoch in range(start_epoch, epochs + 1):
        model.train()
        distributed.set_epoch(train_loader, epoch - 1)
        seen, loss_sum = 0, 0.0
        bar = progress_bar(_pairs(train_loader, "fit"), total=_len(train_loader), desc=f"epoch {epoch}/{epochs}",
                           enabled=progress, leave=False, unit="batch")
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            if augment is not None:
                x = augment(x)
            optimizer.zero_grad(set_to_none=True)
            out = net(x)
            loss = loss_fn(out, y)
            if teacher is not None:
                with torch.no_grad():
                    soft = torch.softmax(teacher(x) / distill_temperature, dim=1)
                kd = nn.functional.kl_div(torch.log_softmax(out / distill_temperature, dim=1), soft,
                                          reduction="batchmean") * distill_temperature ** 2
                loss = (1 - distill_alpha) * loss + distill_alpha * kd
            value = loss.item()
            if not math.isfinite(value):
                raise DataError(f"training diverged at epoch {epoch}: loss is {value}")
            loss.backward()
            optimizer.step()
            seen += len(x)
            loss_sum += value * len(x)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        if scheduler is not None:
            scheduler.step()
        row = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1)}
        if val_loader is not None:
            v = evaluate(model, val_loader, loss_fn, device)
            row.update(val_loss=v["loss"], val_accuracy=v["accuracy"])
            score = v[monitor] if monitor == "accuracy" else -v["loss"]
            if best is None or score > best:
                best, best_state, stale = score, copy.deepcopy(model.state_dict()), 0
            else:
                stale += 1
        history.append(row)
        if on_epoch_end is not None:
            on_epoch_end(row)
        if progress:
            progress_write("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        if patience is not None and stale >= patience:
            break
    if best_state is not None and restore_best:
        model.load_state_dict(best_state)
    return history


def random_shift(max_shift: int = 2, seed: int | None = None):
    """Augmentation: shift each image of an (N, C, H, W) batch by up to ``max_shift`` pixels in
    each direction, filling with zeros."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None

    def augment(x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        padded = nn.functional.pad(x, (max_shift,) * 4)
        dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
        rows = (dy[:, None] + torch.arange(h)[None, :])                      # (n, h)
        cols = (dx[:, None] + torch.arange(w)[None, :])                      # (n, w)
        idx = torch.arange(n)[:, None, None]
        return padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    return augment


def random_flip(seed: int | None = None):
    """Augmentation: mirror each image of an (N, C, H, W) batch left-right with probability 1/2
    (for classes that look the same mirrored: clothing, CIFAR-10's objects; not digits)."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None

    def augment(x: torch.Tensor) -> torch.Tensor:
        flip = torch.rand(len(x), generator=gen) < 0.5
        return torch.where(flip[:, None, None, None], x.flip(3), x)
    return augment


def recipe_augment(recipe: dict, seed: int, max_shift: int | None = None):
    """The training augmentation of a tools recipe (model.yaml): random shifts of up to
    ``augment_shift`` pixels (at most ``max_shift``), then mirroring when ``augment_flip``;
    None when the recipe asks for neither."""
    shift = recipe.get("augment_shift", 0) or 0
    if max_shift is not None:
        shift = min(shift, max_shift)
    steps = ([random_shift(shift, seed)] if shift else []) + ([random_flip(seed + 1)] if recipe.get("augment_flip") else [])
    if not steps:
        return None

    def augment(x: torch.Tensor) -> torch.Tensor:
        for step in steps:
            x = step(x)
        return x
    return augment


def _len(loader):
    try:
        return len(loader)
    except TypeError:
        return None


class TrainableMixin:
    """``fit`` / ``evaluate`` methods for nn.Modules (dmc.Sequential, CompressedModel)."""

    def fit(self, train_loader, epochs: int = 10, val_loader=None, **kwargs) -> list[dict]:
        return fit(self, train_loader, epochs, val_loader, **kwargs)

    def evaluate(self, loader, **kwargs) -> dict:
        return evaluate(self, loader, **kwargs)
