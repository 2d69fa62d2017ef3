"""``dmc test``: top-1 accuracy of a checkpoint on a split of its data set (the architecture,
shape and classes come from the checkpoint); for a statically quantized checkpoint, also of the
deployed integer model that the .dmc interpreter (and the device) runs."""
from __future__ import annotations

from ..errors import DataError
from .checkpoints import Checkpoint, load_checkpoint
from .config import dataset_from_config
from .metrics import top1


def checkpoint_splits(ck: Checkpoint, data_cfg: dict | None = None):
    """The data set the checkpoint was trained on (or ``data_cfg``), checked against its shape and classes."""
    cfg = data_cfg or ck.data.get("dataset")
    if not cfg:
        raise DataError(f"{ck.path}: records no dataset; pass a dataset config")
    splits = dataset_from_config(cfg)
    if splits.input_shape != ck.input_shape:
        raise DataError(f"{ck.path}: the model takes {ck.input_shape} inputs but {cfg['dataset']} has "
                        f"{splits.input_shape} images")
    if splits.num_classes != ck.data["num_classes"]:
        raise DataError(f"{ck.path}: the model has {ck.data['num_classes']} classes but {cfg['dataset']} has "
                        f"{splits.num_classes}")
    return splits


def integer_model(ck: Checkpoint):
    """The deployed IntModel of a statically quantized checkpoint, or None for other checkpoints."""
    if not ck.quantized or ck.data["quantization"]["config"]["quantize"].get("scheme", "static") != "static":
        return None
    from ..compression.conversion import convert
    return convert(ck.model())


def integer_top1(qm, x, y) -> float:
    """Top-1 of the integer interpreter on float inputs in [0, 1]."""
    return float((qm.predict(x).argmax(1) == y).mean())


def test_checkpoint(path, data_cfg: dict | None = None, split: str = "test") -> dict:
    """{"checkpoint", "arch", "split", "images", "top1"[, "integer_top1"]}."""
    ck = load_checkpoint(path)
    x, y = checkpoint_splits(ck, data_cfg).split(split)
    row = {"checkpoint": str(path), "arch": ck.arch, "split": split, "images": len(x), "top1": top1(ck.model(), x, y)}
    qm = integer_model(ck)
    if qm is not None:
        row["integer_top1"] = integer_top1(qm, x, y)
    return row
