"""Fashion-MNIST (60k/10k grey 28x28 images of 10 clothing classes) from a user folder, from
Debian's ``dataset-fashion-mnist`` package, or downloaded when online."""
from __future__ import annotations

import os
import urllib.request
from pathlib import Path

from ..errors import DataError
from .mnist import read_idx

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def _from_folder(root: Path) -> dict | None:
    found = {}
    for key, stem in FILES.items():
        for name in (stem + ".gz", stem):
            if (root / name).is_file():
                found[key] = read_idx(root / name)
                break
    if not found:
        return None
    if len(found) != len(FILES):
        missing = [FILES[k] + "[.gz]" for k in FILES if k not in found]
        raise DataError(f"{root}: Fashion-MNIST is incomplete, missing {missing}")
    return found


def _download(root: Path) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    for stem in FILES.values():
        dest = root / (stem + ".gz")
        if not dest.exists():
            try:
                urllib.request.urlretrieve(MIRROR + stem + ".gz", dest)
            except OSError as e:
                dest.unlink(missing_ok=True)
                raise DataError(f"downloading Fashion-MNIST failed ({e}); put the four idx .gz files in {root} "
                                "or install the Debian package dataset-fashion-mnist") from None
    return _from_folder(root)


def load_fashion_mnist(root=None, download: bool = True) -> dict:
    """uint8 arrays ``train_images`` (60000, 28, 28), ``train_labels``, ``test_images``,
    ``test_labels``. Looks in ``root`` (or $DMC_FASHION_MNIST), then in Debian's
    /usr/share/datasets/fashion-mnist, then downloads into ``root`` (default
    ~/.cache/dmc/fashion-mnist) if allowed."""
    given = root or os.environ.get("DMC_FASHION_MNIST")
    roots = ([Path(given)] if given else []) + [DEBIAN_DIR]
    for r in roots:
        data = _from_folder(r) if r.is_dir() else None
        if data is not None:
            break
    else:
        if not download:
            raise DataError(f"Fashion-MNIST not found in {', '.join(map(str, roots))} and download is off "
                            "(apt-get install dataset-fashion-mnist, or put the idx files in a folder)")
        data = _download(Path(given) if given else Path.home() / ".cache" / "dmc" / "fashion-mnist")
    for split in ("train", "test"):
        x, y = data[f"{split}_images"], data[f"{split}_labels"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"Fashion-MNIST {split} split has images {x.shape} and labels {y.shape}")
    return data
