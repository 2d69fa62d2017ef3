"""Data sets by name (mnist, fashion_mnist, cifar10, folder) as train/validation/test splits."""
from __future__ import annotations

import difflib

from ..errors import DataError
from .splits import Splits, make_splits

DATASETS = ("mnist", "fashion_mnist", "cifar10", "folder")
DEFAULT_VAL_SIZE = {"mnist": 5000, "fashion_mnist": 5000, "cifar10": 5000, "folder": 0.1}


def load_dataset(name: str, root=None, val_size=None, seed: int = 25, download: bool = True,
                 channels: int | None = None, input_size=None) -> Splits:
    """Load ``name`` and carve its validation split from the training set (``val_size``: a count
    or a fraction; default 5000 images, 10% for folders). ``root`` is the data folder (required
    for ``folder``); ``channels`` and ``input_size`` apply to ``folder`` (default 1 and 28)."""
    if name not in DATASETS:
        hint = difflib.get_close_matches(str(name), DATASETS, n=1)
        raise DataError(f"unknown dataset '{name}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                        + f"; choose one of {list(DATASETS)}")
    if name != "folder" and (channels is not None or input_size is not None):
        raise DataError(f"channels / input_size apply only to the 'folder' dataset; {name} has a fixed shape")
    if name == "mnist":
        from .mnist import load_mnist
        d = load_mnist(root, download=download)
        classes = [str(i) for i in range(10)]
    elif name == "fashion_mnist":
        from .fashion_mnist import CLASSES, load_fashion_mnist
        d = load_fashion_mnist(root, download=download)
        classes = CLASSES
    elif name == "cifar10":
        from .cifar10 import load_cifar10
        d = load_cifar10(root, download=download)
        classes = d["classes"]
    else:
        if root is None:
            raise DataError("the 'folder' dataset needs a root: a folder of class subfolders (or train/ and test/)")
        from .image_folder import load_image_folder
        d = load_image_folder(root, channels or 1, input_size or 28, seed=seed)
        classes = d["classes"]
    return make_splits(name, d["train_images"], d["train_labels"], d["test_images"], d["test_labels"], classes,
                       DEFAULT_VAL_SIZE[name] if val_size is None else val_size, seed)
