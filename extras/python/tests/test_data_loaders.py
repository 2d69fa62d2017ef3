"""Data loaders: Fashion-MNIST (idx folders, Debian's package), CIFAR-10 (its pickle layout, read
with a restricted unpickler), image folders, and the validation split carved from train."""
import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from dmc.data import load_dataset, make_loaders
from dmc.data.cifar10 import load_cifar10, read_batch
from dmc.data.fashion_mnist import DEBIAN_DIR, load_fashion_mnist
from dmc.data.image_folder import load_image_folder, read_flat_folder
from dmc.errors import DataError


def write_idx(path: Path, array: np.ndarray):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def fake_fashion(root: Path, n_train=30, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte.gz": np.arange(n_train) % 10,
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) * 3) % 10}
    root.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        write_idx(root / name, a)
    return arrays


def test_fashion_mnist_from_a_user_folder(tmp_path):
    arrays = fake_fashion(tmp_path)
    d = load_fashion_mnist(tmp_path, download=False)
    assert np.array_equal(d["train_images"], arrays["train-images-idx3-ubyte.gz"])
    assert np.array_equal(d["test_labels"], arrays["t10k-labels-idx1-ubyte.gz"])
    s = load_dataset("fashion_mnist", root=tmp_path, val_size=5, download=False)
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (25, 5, 10)
    assert s.classes[0] == "T-shirt/top" and s.input_shape == (1, 28, 28)
    # scaled to [0, 1] exactly: pixel byte / 255
    assert np.array_equal(np.sort((s.x_test * 255).round().astype(np.uint8).ravel()),
                          np.sort(arrays["t10k-images-idx3-ubyte.gz"].astype(np.uint8).ravel()))


def test_fashion_mnist_incomplete_folder_is_named(tmp_path):
    fake_fashion(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="incomplete.*t10k-labels"):
        load_fashion_mnist(tmp_path, download=False)


@pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_full_fashion_mnist_from_the_debian_package():
    d = load_fashion_mnist(download=False)
    assert d["train_images"].shape == (60000, 28, 28) and d["test_images"].shape == (10000, 28, 28)
    assert np.array_equal(np.bincount(d["train_labels"]), [6000] * 10)
    assert np.array_equal(np.bincount(d["test_labels"]), [1000] * 10)


# -- CIFAR-10 ------------------------------------------------------------------------------------

def fake_cifar(root: Path, per_batch=4, seed=0):
    """A CIFAR-10 folder in the real layout: pickled dicts with bytes keys, (N, 3072) uint8 rows
    of red, green and blue planes, protocol 2 like the distributed files."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        batches[name] = (data, labels)
        blob = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                b"filenames": [f"img{i}.png".encode() for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(blob, protocol=2))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names, b"num_vis": 3072}, protocol=2))
    return folder, batches


def test_cifar10_from_its_python_layout(tmp_path):
    folder, batches = fake_cifar(tmp_path)
    for root in (tmp_path, folder):          # the folder itself or the one holding it
        d = load_cifar10(root, download=False)
        assert d["train_images"].shape == (20, 32, 32, 3) and d["test_images"].shape == (4, 32, 32, 3)
        assert d["classes"][0] == "airplane" and d["classes"][9] == "truck"
    data, labels = batches["data_batch_2"]
    img = d["train_images"][4 + 1]              # second image of the second batch
    # pixel (row 3, col 5) of channel c sits at c * 1024 + 3 * 32 + 5 of the row
    for c in range(3):
        assert img[3, 5, c] == data[1, c * 1024 + 3 * 32 + 5]
    assert d["train_labels"][4 + 1] == labels[1]
    s = load_dataset("cifar10", root=tmp_path, val_size=4, download=False)
    assert s.input_shape == (3, 32, 32) and len(s.x_val) == 4 and len(s.x_train) == 16
    assert s.x_test[0, 2, 3, 5] == np.float32(batches["test_batch"][0][0, 2 * 1024 + 3 * 32 + 5]) / 255


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))


def test_cifar10_refuses_a_pickle_that_would_run_code(tmp_path):
    folder, _ = fake_cifar(tmp_path)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match="refusing to load the global (posix|os|nt).system"):
        load_cifar10(tmp_path, download=False)


def test_cifar10_bad_files_are_named(tmp_path):
    folder, _ = fake_cifar(tmp_path)
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="test_batch: not a readable CIFAR-10 batch"):
        read_batch(folder / "test_batch")
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataError, match=r"'data' must be uint8 of shape \(N, 3072\)"):
        load_cifar10(tmp_path, download=False)
    (folder / "data_batch_5").unlink()
    with pytest.raises(DataError, match=r"incomplete, missing \['data_batch_5'\]"):
        load_cifar10(tmp_path, download=False)
    with pytest.raises(DataError, match="not found.*download is off"):
        load_cifar10(tmp_path / "nowhere", download=False)


# -- image folders ----------------------------------------------------------------------------------

def write_images(root: Path, counts: dict, size=(10, 12), mode="L", seed=0):
    from PIL import Image
    rng = np.random.default_rng(seed)
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = size if mode == "L" else size + (3,)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / cls / f"{i}.png")


def test_image_folder_with_train_and_test(tmp_path):
    write_images(tmp_path / "train", {"cat": 3, "dog": 4})
    write_images(tmp_path / "test", {"dog": 2})
    d = load_image_folder(tmp_path, channels=1, input_size=(10, 12))
    assert d["classes"] == ["cat", "dog"]
    assert d["train_images"].shape == (7, 10, 12) and list(d["train_labels"]) == [0, 0, 0, 1, 1, 1, 1]
    assert list(d["test_labels"]) == [1, 1]
    from PIL import Image
    assert np.array_equal(d["train_images"][3], np.asarray(Image.open(tmp_path / "train" / "dog" / "0.png")))


def test_image_folder_resizes_converts_and_carves_a_test_split(tmp_path):
    write_images(tmp_path, {"a": 5, "b": 5}, size=(20, 20), mode="RGB")
    s = load_dataset("folder", root=tmp_path, channels=3, input_size=8, val_size=2)
    assert s.input_shape == (3, 8, 8)
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (6, 2, 2)
    grey = load_dataset("folder", root=tmp_path, channels=1, input_size=[8, 6], val_size=0.25)
    assert grey.input_shape == (1, 8, 6) and len(grey.x_val) == 2
    assert read_flat_folder(tmp_path, 1, 4).shape == (10, 4, 4)


def test_image_folder_errors_are_named(tmp_path):
    write_images(tmp_path / "train", {"cat": 2, "dog": 2})
    write_images(tmp_path / "test", {"cow": 1})
    with pytest.raises(DataError, match=r"class folders \['cow'\] are not among the training classes"):
        load_image_folder(tmp_path)
    (tmp_path / "train" / "cat" / "broken.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="broken.png: not a readable image"):
        load_image_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no"):
        read_flat_folder(tmp_path / "empty", 1, 4)
    with pytest.raises(DataError, match="needs a root"):
        load_dataset("folder")


# -- splits ----------------------------------------------------------------------------------------

def test_validation_split_is_carved_from_train_disjoint_and_seeded(tmp_path):
    fake_fashion(tmp_path, n_train=40)
    a = load_dataset("fashion_mnist", root=tmp_path, val_size=10, seed=1, download=False)
    b = load_dataset("fashion_mnist", root=tmp_path, val_size=10, seed=1, download=False)
    c = load_dataset("fashion_mnist", root=tmp_path, val_size=10, seed=2, download=False)
    assert np.array_equal(a.x_val, b.x_val) and not np.array_equal(a.x_val, c.x_val)
    rows = {r.tobytes() for r in np.concatenate([a.x_train, a.x_val])}
    assert len(rows) == 40                        # every training image exactly once, none lost
    assert not {r.tobytes() for r in a.x_val} & {r.tobytes() for r in a.x_train}
    train, val, test = make_loaders(a, batch_size=16)
    assert sum(len(x) for x, _ in train) == 30 and sum(len(x) for x, _ in test) == 10


def test_dataset_errors_are_named(tmp_path):
    fake_fashion(tmp_path)
    with pytest.raises(DataError, match="unknown dataset 'fashion'.*did you mean 'fashion_mnist'"):
        load_dataset("fashion")
    with pytest.raises(DataError, match="leaves no training data"):
        load_dataset("fashion_mnist", root=tmp_path, val_size=30, download=False)
    with pytest.raises(DataError, match="apply only to the 'folder' dataset"):
        load_dataset("fashion_mnist", root=tmp_path, input_size=32, download=False)
