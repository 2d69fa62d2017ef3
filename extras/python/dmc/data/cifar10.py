"""CIFAR-10 (50k/10k colour 32x32 images, 10 classes) from a folder in its standard python
layout (``cifar-10-batches-py``: data_batch_1..5, test_batch, batches.meta), or downloaded when
online.

The batches ARE Python pickles. They are read with a restricted unpickler that resolves only
the few globals a pickled numpy array needs (its reconstructor, ndarray, dtype) and nothing else,
so that a tampered batch file cannot run code: any other global is a DataError.
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np

from ..errors import DataError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]


def _allowed_globals() -> dict:
    from numpy._core import multiarray
    import _codecs
    reconstruct = multiarray._reconstruct
    return {("numpy.core.multiarray", "_reconstruct"): reconstruct,     # numpy 1.x pickles (the real files)
            ("numpy._core.multiarray", "_reconstruct"): reconstruct,    # numpy 2.x pickles
            ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): _codecs.encode}                      # bytes in protocol-2 pickles of Python 3


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings, bytes, numbers and numpy arrays; refuses every other global."""

    def __init__(self, file, where: str):
        super().__init__(file, encoding="bytes")
        self.where = where
        self.allowed = _allowed_globals()

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise DataError(f"{self.where}: refusing to load the global {module}.{name}: a CIFAR-10 batch holds "
                            "only dicts, lists and numpy arrays (tampered or not a CIFAR-10 file)") from None


def read_batch(path) -> dict:
    """One pickled batch as a dict with str keys, checked: ``data`` (N, 3072) uint8, ``labels``."""
    path = Path(path)
    try:
        obj = RestrictedUnpickler(io.BytesIO(path.read_bytes()), str(path)).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DataError(f"{path}: not a readable CIFAR-10 batch ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict, found {type(obj).__name__}")
    out = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    return out


def _batch_arrays(path: Path):
    b = read_batch(path)
    for key in ("data", "labels"):
        if key not in b:
            raise DataError(f"{path}: missing '{key}' (keys: {sorted(b)})")
    data, labels = np.asarray(b["data"]), np.asarray(b["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: 'data' must be uint8 of shape (N, 3072), found {data.dtype} {data.shape}")
    if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: 'labels' must be {len(data)} integers, found {labels.dtype} {labels.shape}")
    # rows hold the red, green and blue 32x32 planes one after the other: to (N, 32, 32, 3)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.astype(np.int64)


def _find(root: Path) -> Path | None:
    for d in (root, root / FOLDER):
        if (d / "test_batch").is_file():
            return d
    return None


def _download(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "cifar-10-python.tar.gz"
    try:
        urllib.request.urlretrieve(URL, archive)
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(root, filter="data")
    except (OSError, tarfile.TarError) as e:
        raise DataError(f"downloading CIFAR-10 failed ({e}); put the '{FOLDER}' folder (from {URL}) in "
                        f"{root}") from None
    finally:
        archive.unlink(missing_ok=True)
    return root / FOLDER


def load_cifar10(root=None, download: bool = True) -> dict:
    """uint8 arrays ``train_images`` (50000, 32, 32, 3), ``train_labels``, ``test_images``,
    ``test_labels`` and the ``classes`` names. ``root`` (or $DMC_CIFAR10, default
    ~/.cache/dmc/cifar10) is the ``cifar-10-batches-py`` folder or the folder holding it."""
    root = Path(root or os.environ.get("DMC_CIFAR10") or Path.home() / ".cache" / "dmc" / "cifar10")
    folder = _find(root) if root.is_dir() else None
    if folder is None:
        if not download:
            raise DataError(f"CIFAR-10 not found in {root} (expected {FOLDER}/data_batch_1..5, test_batch, "
                            "batches.meta) and download is off")
        folder = _download(root)
    missing = [n for n in TRAIN_BATCHES + ["test_batch"] if not (folder / n).is_file()]
    if missing:
        raise DataError(f"{folder}: CIFAR-10 is incomplete, missing {missing}")
    parts = [_batch_arrays(folder / n) for n in TRAIN_BATCHES]
    test_x, test_y = _batch_arrays(folder / "test_batch")
    classes = [f"class_{i}" for i in range(10)]
    if (folder / "batches.meta").is_file():
        names = read_batch(folder / "batches.meta").get("label_names")
        if not isinstance(names, list) or len(names) != 10:
            raise DataError(f"{folder / 'batches.meta'}: 'label_names' must list the 10 class names")
        classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return {"train_images": np.concatenate([p[0] for p in parts]),
            "train_labels": np.concatenate([p[1] for p in parts]), "test_images": test_x, "test_labels": test_y,
            "classes": classes}
