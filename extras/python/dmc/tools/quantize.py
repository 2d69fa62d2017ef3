"""``dmc quantize``: quantize a checkpoint with the compression pipeline (BN folded, fake-quant):

* dynamic: integer weights, float activations (weights only, no calibration data);
* static: integer weights and activations (integer-only, deployable as a .dmc), activation
  ranges calibrated on a folder of images (or on the checkpoint's training split);

optionally followed by quantization-aware training distilled from the float model. The result is
a checkpoint in the input's format that also holds the compression config and the quantized
state, so ``dmc test`` / ``benchmark`` / ``compare`` rebuild exactly that model, and ``--dmc``
writes the deployable artifact.
"""
from __future__ import annotations

import copy

import torch

from ..compression.compressed_model import compress
from ..compression.conversion import convert
from ..compression.training import recipe_augment
from ..data import make_loaders
from ..errors import ConfigError
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint, teacher_model
from .evaluate import checkpoint_splits

TYPES = ("dynamic", "static")


def quantization_config(kind: str, bits: int = 8, granularity: str = "per_channel", activation_bits: int = 8) -> dict:
    if kind not in TYPES:
        raise ConfigError(f"quantization type must be one of {list(TYPES)}, got {kind!r}")
    q = {"scheme": kind, "bitwidth": bits, "granularity": granularity}
    if kind == "static":
        q["activation_bitwidth"] = activation_bits
    return {"quantize": q}


def calibration_inputs(ck, folder=None, count: int = 512) -> tuple[torch.Tensor, str]:
    """(inputs, where they came from): images of ``folder`` resized to the checkpoint's input, or
    the first ``count`` images of its training split."""
    from ..data.splits import to_nchw_float
    c, h, w = ck.input_shape
    if folder is not None:
        from ..data.image_folder import read_flat_folder
        x = to_nchw_float(read_flat_folder(folder, c, (h, w)), str(folder))
        return torch.from_numpy(x[:count]), str(folder)
    splits = checkpoint_splits(ck)
    return torch.from_numpy(splits.x_train[:count]), f"{count} images of the {splits.name} training split"


def quantize_checkpoint(src, dst, kind: str = "static", bits: int = 8, granularity: str = "per_channel",
                        activation_bits: int = 8, calibration=None, calibration_count: int = 512,
                        qat_epochs: int = 0, lr: float = 1e-4, dmc_out=None, progress: bool = True,
                        config: dict | None = None, teacher=None) -> dict:
    """Quantize ``src`` into ``dst`` (and the .dmc into ``dmc_out`` for static); returns the record.
    ``config``: a whole compression config (``prune_channel`` + ``quantize``, see
    :mod:`dmc.compression.config`) instead of the one made of kind / bits / granularity.
    ``teacher``: a trained checkpoint whose soft targets QAT distills from (default: the
    checkpoint's own float model)."""
    ck = load_checkpoint(src)
    if ck.quantized:
        raise CheckpointError(f"{src}: is already quantized")
    if qat_epochs < 0:
        raise ConfigError(f"qat epochs must be >= 0, got {qat_epochs}")
    cfg = config if config is not None else quantization_config(kind, bits, granularity, activation_bits)
    if not isinstance(cfg, dict) or not isinstance(cfg.get("quantize"), dict):
        raise ConfigError("a compression config needs a 'quantize' section (scheme, bitwidth, ...)")
    kind = cfg["quantize"].get("scheme", "static")
    if dmc_out is not None and kind != "static":
        raise ConfigError("--dmc needs --type static: only integer-only models deploy")
    from ..zoo.registry import deployment_form
    calib, source = (calibration_inputs(ck, calibration, calibration_count) if kind == "static" else (None, None))
    model = deployment_form(ck.arch, ck.float_model(), calibration=calib)
    cm = compress(model, cfg, (1,) + ck.input_shape, calibration_data=calib)
    if qat_epochs:
        recipe = ck.data.get("recipe") or {}
        splits = checkpoint_splits(ck)
        train, val, _ = make_loaders(splits, ck.data["dataset"].get("batch_size", 128), recipe.get("seed", 25))
        cm.fit(train, epochs=qat_epochs, val_loader=val, lr=lr, schedule="cosine",
               augment=recipe_augment(recipe, recipe.get("seed", 25), max_shift=1),
               teacher=teacher_model(teacher, ck.input_shape, ck.data["num_classes"]) or copy.deepcopy(model),
               monitor="accuracy",
               restore_best=True, progress=progress)
    cm.eval()
    record = {"config": cfg, "calibration": source, "qat_epochs": int(qat_epochs), "source": str(src),
              "teacher": str(teacher) if teacher else None,
              "state_dict": {k: v.detach().clone() for k, v in cm.state_dict().items()}}
    meta = {k: v for k, v in ck.meta().items() if k not in ("format", "version")}
    save_checkpoint(dst, dict(meta, quantization=record), ck.data["state_dict"])
    if dmc_out is not None:
        convert(cm).save(dmc_out)
    return {k: v for k, v in record.items() if k != "state_dict"}

