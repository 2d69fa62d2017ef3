"""Custom image data sets in ImageFolder layout: one subfolder of PNG/JPEG images per class,
read with Pillow, converted to grey or RGB and resized to one input size.

    root/train/<class>/*.png   root/test/<class>/*.png    (a test split of its own), or
    root/<class>/*.png                                     (the test split is carved out, seeded)

Class indices follow the sorted subfolder names of the training folder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)


def read_image(path: Path, channels: int, size: tuple[int, int]) -> np.ndarray:
    """One image as uint8 (H, W) for 1 channel or (H, W, 3) for 3, resized to ``size`` (h, w)."""
    from PIL import Image, UnidentifiedImageError
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from None


def read_flat_folder(folder, channels: int, size) -> np.ndarray:
    """Every image below ``folder`` (class subfolders or not): uint8 (N, H, W[, 3]), e.g. calibration data."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of images")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if not paths:
        raise DataError(f"{folder}: holds no {'/'.join(EXTENSIONS)} images")
    size = _size(size)
    return np.stack([read_image(p, channels, size) for p in paths])


def _size(size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        return tuple(size)
    raise DataError(f"input_size must be an int or (height, width), got {size!r}")


def read_class_folders(folder: Path, channels: int, size, classes: list[str] | None = None):
    """(images uint8, labels int64, class names) of ``folder/<class>/*``. With ``classes`` given
    (the training split's), a subfolder outside them is a DataError."""
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
    if not subdirs:
        raise DataError(f"{folder}: expected one subfolder of images per class, found none")
    names = [d.name for d in subdirs]
    if classes is None:
        classes = names
    else:
        extra = sorted(set(names) - set(classes))
        if extra:
            raise DataError(f"{folder}: class folders {extra} are not among the training classes {classes}")
    size = _size(size)
    images, labels = [], []
    for d in subdirs:
        paths = _images(d)
        if not paths:
            raise DataError(f"{d}: class folder holds no {'/'.join(EXTENSIONS)} images")
        images += [read_image(p, channels, size) for p in paths]
        labels += [classes.index(d.name)] * len(paths)
    return np.stack(images), np.asarray(labels, np.int64), classes


def load_image_folder(root, channels: int = 1, input_size=28, test_size=0.2, seed: int = 25) -> dict:
    """uint8 ``train_images``/``test_images`` (N, H, W[, 3]), labels and ``classes`` of a folder data set.
    Without a ``test`` subfolder, a seeded ``test_size`` fraction of the images becomes the test split."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such data folder")
    train_dir = root / "train" if (root / "train").is_dir() else root
    x, y, classes = read_class_folders(train_dir, channels, input_size)
    if len(classes) < 2:
        raise DataError(f"{train_dir}: needs at least two class folders, found {classes}")
    if (root / "test").is_dir() and train_dir != root:
        xt, yt, _ = read_class_folders(root / "test", channels, input_size, classes)
    else:
        n_test = int(round(test_size * len(x)))
        if not 1 <= n_test < len(x):
            raise DataError(f"{root}: cannot carve a test split of {test_size} from {len(x)} images")
        perm = np.random.default_rng(seed + 1).permutation(len(x))
        xt, yt, x, y = x[perm[:n_test]], y[perm[:n_test]], x[perm[n_test:]], y[perm[n_test:]]
    return {"train_images": x, "train_labels": y, "test_images": xt, "test_labels": yt, "classes": classes}
