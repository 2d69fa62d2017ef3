"""Train / validation / test splits of an image data set as arrays, and DataLoaders over them.

Every loader returns uint8 images; :func:`make_splits` scales them to float [0, 1] in NCHW (so
that 8-bit input quantization maps a pixel byte to itself) and carves the validation split from
the training set, so that nothing is ever selected on the test set.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError


@dataclass
class Splits:
    """float32 NCHW images in [0, 1] and int64 labels of the three splits, plus class names."""
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(int(v) for v in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in ("train", "val", "test"):
            raise DataError(f"unknown split '{name}'; choose train, val or test")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")


def to_nchw_float(images: np.ndarray, where: str) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C) images -> float32 (N, C, H, W) in [0, 1]."""
    if images.dtype != np.uint8:
        raise DataError(f"{where}: images must be uint8, got {images.dtype}")
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4:
        images = images.transpose(0, 3, 1, 2)
    else:
        raise DataError(f"{where}: images must be (N, H, W) or (N, H, W, C), got shape {images.shape}")
    return np.ascontiguousarray(images, dtype=np.float32) / 255.0


def validation_count(val_size, n: int, where: str) -> int:
    """The number of validation samples: an int count, or a float fraction of ``n``."""
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float)):
        raise DataError(f"{where}: val_size must be a count or a fraction, got {val_size!r}")
    count = int(round(val_size * n)) if isinstance(val_size, float) and val_size < 1 else int(val_size)
    if not 1 <= count < n:
        raise DataError(f"{where}: a validation split of {val_size!r} leaves no training data "
                        f"(or is empty) out of {n} training samples")
    return count


def make_splits(name: str, train_images, train_labels, test_images, test_labels, classes,
                val_size=5000, seed: int = 25) -> Splits:
    """Scale, check and split: the validation split is a seeded random draw from the training set."""
    x, xt = to_nchw_float(train_images, f"{name} train"), to_nchw_float(test_images, f"{name} test")
    y, yt = np.asarray(train_labels).astype(np.int64), np.asarray(test_labels).astype(np.int64)
    for split, a, b in (("train", x, y), ("test", xt, yt)):
        if len(a) != len(b) or len(a) == 0:
            raise DataError(f"{name} {split}: {len(a)} images but {len(b)} labels")
        if b.min() < 0 or b.max() >= len(classes):
            raise DataError(f"{name} {split}: labels must lie in [0, {len(classes) - 1}], found "
                            f"{int(b.min())}..{int(b.max())}")
    if x.shape[1:] != xt.shape[1:]:
        raise DataError(f"{name}: train images are {x.shape[1:]} but test images are {xt.shape[1:]}")
    count = validation_count(val_size, len(x), name)
    perm = np.random.default_rng(seed).permutation(len(x))
    val, train = perm[:count], perm[count:]
    return Splits(name, x[train], y[train], x[val], y[val], xt, yt, list(classes))


def make_loaders(splits: Splits, batch_size: int = 128, seed: int = 25):
    """(train, val, test) torch DataLoaders; train is shuffled by a generator seeded with ``seed``."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, got {batch_size}")
    g = torch.Generator().manual_seed(seed)

    def loader(x, y, shuffle):
        return DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=batch_size,
                          shuffle=shuffle, generator=g if shuffle else None)
    return (loader(splits.x_train, splits.y_train, True), loader(splits.x_val, splits.y_val, False),
            loader(splits.x_test, splits.y_test, False))
