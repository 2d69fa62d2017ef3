"""Checkpoint files of the tools: a torch file holding a dict of plain metadata (architecture,
options, input shape, classes, dataset, training state) and state dicts, loaded with
``torch.load(weights_only=True)`` so that opening one cannot run code.

A checkpoint of a pruned model keeps the architecture's shapes (pruned weights are zeros); one of
a quantized model also holds the compression config and the state of the CompressedModel, so that
every tool rebuilds the exact fake-quantized model (and ``convert`` gives its .dmc).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import DMCError

FORMAT, VERSION = "dmc-checkpoint", 1
REQUIRED = ("arch", "options", "in_channels", "input_size", "num_classes", "classes", "state_dict")


class CheckpointError(DMCError, ValueError):
    """A checkpoint file is not one of ours, is of a newer version, or misses a key."""


def checkpoint_name(arch: str, dataset: str, kind: str) -> str:
    """File name with the architecture in it, e.g. ``resnet8_fashion_mnist_best.pt``."""
    return f"{arch}_{dataset}_{kind}.pt"


def _plain(value, where: str):
    """Check that metadata holds only plain types (what weights_only loading accepts)."""
    if isinstance(value, dict):
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    raise CheckpointError(f"{where}: checkpoint metadata must be plain types, found {type(value).__name__}")


def save_checkpoint(path, meta: dict, state_dict: dict, **extra) -> Path:
    """Write ``meta`` (plain types) + ``state_dict`` + ``extra`` entries (e.g. optimizer state)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    missing = [k for k in REQUIRED if k != "state_dict" and k not in meta]
    if missing:
        raise CheckpointError(f"{path}: metadata lacks {missing}")
    blob = {"format": FORMAT, "version": VERSION, **_plain(meta, "meta"), "state_dict": state_dict, **extra}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)      # a crash mid-write never leaves a truncated checkpoint behind
    return path


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``data`` is the whole dict; helpers build its models."""
    path: Path
    data: dict

    @property
    def arch(self) -> str:
        return self.data["arch"]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        h, w = self.data["input_size"]
        return self.data["in_channels"], h, w

    @property
    def quantized(self) -> bool:
        return self.data.get("quantization") is not None

    @property
    def dataset(self) -> str | None:
        return (self.data.get("dataset") or {}).get("dataset")

    def meta(self) -> dict:
        """The metadata, without state dicts and optimizer state."""
        return {k: v for k, v in self.data.items() if k not in ("state_dict", "optimizer", "scheduler", "loader_rng")
                and not (k == "quantization" and v)} | (
            {"quantization": {k: v for k, v in self.data["quantization"].items() if k != "state_dict"}}
            if self.quantized else {})

    def float_model(self) -> nn.Module:
        """The float model of the checkpoint's architecture with its weights, in eval mode."""
        from ..zoo.registry import build
        d = self.data
        model = build(d["arch"], d["in_channels"], tuple(d["input_size"]), d["num_classes"], **d["options"])
        try:
            model.load_state_dict(d["state_dict"])
        except RuntimeError as e:
            raise CheckpointError(f"{self.path}: its weights do not fit the architecture '{d['arch']}' "
                                  f"{d['options'] or ''}: {str(e).splitlines()[0]}") from None
        return model.eval()

    def model(self) -> nn.Module:
        """The model the checkpoint describes: the float model, or for a quantized checkpoint the
        fake-quantized CompressedModel (exactly the one that converts to the deployed .dmc)."""
        model = self.float_model()
        if not self.quantized:
            return model
        from ..compression.compressed_model import compress
        from ..zoo.registry import deployment_form
        model = deployment_form(self.arch, model)
        q = self.data["quantization"]
        # the calibration ranges are part of the saved state: a zero batch only builds the quantizers
        shape = (1,) + self.input_shape
        cm = compress(model, q["config"], shape, calibration_data=torch.zeros(shape))
        try:
            cm.load_state_dict(q["state_dict"])
        except RuntimeError as e:
            raise CheckpointError(f"{self.path}: the quantized state does not fit its config: "
                                  f"{str(e).splitlines()[0]}") from None
        return cm.eval()


def load_checkpoint(path) -> Checkpoint:
    """Open a checkpoint written by :func:`save_checkpoint` (never unpickles arbitrary objects)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:      # torch raises UnpicklingError, RuntimeError, zip errors, ... on bad files
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a dmc checkpoint (no format '{FORMAT}'); plain state dicts need "
                              "their architecture: use `dmc train` checkpoints")
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data.get('version')!r} is newer than this dmc "
                              f"reads ({VERSION})")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing}")
    return Checkpoint(path, data)


def teacher_model(path, input_shape, num_classes):
    """The float model of a trained checkpoint to distill from (None without one); it must take
    the same input and predict the same classes."""
    if not path:
        return None
    ck = load_checkpoint(path)
    if tuple(ck.input_shape) != tuple(input_shape) or ck.data["num_classes"] != num_classes:
        raise CheckpointError(f"teacher {path}: takes {'x'.join(map(str, ck.input_shape))} inputs and predicts "
                              f"{ck.data['num_classes']} classes; this training needs {'x'.join(map(str, input_shape))}"
                              f" and {num_classes}")
    return ck.float_model().eval()
