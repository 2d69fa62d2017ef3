"""Sparse kernels against numpy: generated C++ programs decode nibble-step CSR streams (and
offset CSR conv filters) and multiply them on the host, the simulated Uno (simavr) and the QEMU Cortex-M4.

Each check prints every mismatching element. Uno/M4 cases are skipped where the toolchains
are not installed (extras/scripts/setup.sh installs them).
"""
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmc.deploy.sparse_harness import (c_array, conv_reference, linear_reference, run_conv_layer, run_linear_layer,
                                       run_sparse_dot)

HAVE = {"host": bool(shutil.which("g++")),
        "uno": bool(shutil.which("avr-g++") and shutil.which("gcc")) and bool(
            __import__("ctypes.util").util.find_library("simavr")),
        "m4": bool(shutil.which("arm-none-eabi-g++") and shutil.which("qemu-system-arm"))}


def _needs(target):
    if not HAVE[target]:
        pytest.skip(f"toolchain for {target} not installed")


def _matrix(rng, rows, cols, sparsity, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    w = rng.integers(lo, hi + 1, (rows, cols))
    w[rng.random(w.shape) < sparsity] = 0
    return w


def _check(got, want, what):
    bad = np.argwhere(got != want)
    for idx in bad[:10]:
        print(f"{what}: {tuple(idx)} got {got[tuple(idx)]}, expected {want[tuple(idx)]}")
    assert bad.size == 0


def test_c_array():
    assert c_array("w", [1, 2], "int16_t") == "static const int16_t w[2] DMC_FLASH = {1, 2};"


@pytest.mark.parametrize("target", ["host", "uno", "m4"])
@pytest.mark.parametrize("bits", [8, 4, 2])
def test_sparse_dot_matches_numpy(tmp_path, target, bits):
    _needs(target)
    rng = np.random.default_rng(bits)
    # rows of every kind: empty, dense, very sparse (escapes), a lone last column, gaps of 15/16/30
    w = np.concatenate([_matrix(rng, 6, 150, s, bits) for s in (0.0, 0.6, 0.9, 0.99)])
    extra = np.zeros((5, 150), int)
    extra[1, 149] = extra[2, [0, 15, 31, 61]] = extra[3, 0] = 1
    extra[4, ::16] = -1
    w = np.concatenate([w, extra])
    x = rng.integers(0, 256, (2, 150))
    x[1] = 255  # the largest products
    got, cycles = run_sparse_dot(w, bits, x, target, tmp_path)
    _check(got, x.astype(np.int64) @ w.T, f"{target} {bits}-bit")
    if target == "uno":
        assert len(cycles) == 2 * w.shape[0]


@pytest.mark.parametrize("bits", [8, 4])
def test_sparse_dot_long_rows_uno(tmp_path, bits):
    """Rows of more than 256 code bytes (the AVR loop's second count byte), exactly 256, and sums
    far beyond int16 (the AVR loop's out-of-line overflow count) against numpy."""
    _needs("uno")
    rng = np.random.default_rng(10 + bits)
    lo = -(1 << (bits - 1))
    w = np.zeros((6, 600), int)
    w[0] = _matrix(rng, 1, 600, 0.0, bits)  # 300 code bytes
    w[1, :512] = _matrix(rng, 1, 512, 0.0, bits)  # exactly 256 code bytes
    w[2] = lo  # every product the most negative
    w[3, 1::2] = (1 << (bits - 1)) - 1  # the most positive, with codes 1
    w[4, ::40] = lo  # escapes between nonzeros
    w[5, -1] = 1  # a lone last column after 39 escapes
    w[0][w[0] == 0] = 1
    w[1, :512][w[1, :512] == 0] = 1
    x = rng.integers(0, 256, (2, 600))
    x[1] = 255
    got, _ = run_sparse_dot(w, bits, x, "uno", tmp_path)
    _check(got, x.astype(np.int64) @ w.T, f"uno {bits}-bit long rows")


@settings(max_examples=3, deadline=None)
@given(st.integers(1, 6), st.integers(1, 300), st.floats(0, 1), st.sampled_from([8, 4, 2]), st.integers(0, 2**32 - 1))
def test_sparse_dot_property_host(tmp_path_factory, rows, cols, sparsity, bits, seed):
    rng = np.random.default_rng(seed)
    w = _matrix(rng, rows, cols, sparsity, bits)
    x = rng.integers(0, 256, (1, cols))
    got, _ = run_sparse_dot(w, bits, x, "host", tmp_path_factory.mktemp("prop"))
    _check(got, x.astype(np.int64) @ w.T, "host")


@pytest.mark.parametrize("target", ["host", "uno", "m4"])
@pytest.mark.parametrize("bits", [8, 4, 2])
def test_sparse_linear_matches_dense_kernel_and_interpreter(tmp_path, target, bits):
    _needs(target)
    rng = np.random.default_rng(10 + bits)
    w = _matrix(rng, 24, 96, 0.8, bits)
    x = rng.integers(0, 256, 96)
    bias = rng.integers(-3000, 3000, 24)
    r = run_linear_layer(w, bits, x, bias, 1 << 14, 18, target, tmp_path)
    want = linear_reference(w, x, bias, 1 << 14, 18)
    _check(r["sparse"], want, f"{target} sparse_linear")
    _check(r["dense"], want, f"{target} linear")


@pytest.mark.parametrize("target", ["host", "uno", "m4"])
@pytest.mark.parametrize("bits", [8, 4, 2])
def test_sparse_conv_matches_dense_kernel_and_interpreter(tmp_path, target, bits):
    """Offset CSR filters: 17 x 17 input planes (289 bytes apart) make channel steps wider than
    a byte, so rows carry padding entries; odd entry counts end in short groups."""
    _needs(target)
    rng = np.random.default_rng(20 + bits)
    w = _matrix(rng, 8, 3 * 3 * 3, 0.8, bits).reshape(8, 3, 3, 3)
    w[1] = 0  # an empty filter
    x = rng.integers(0, 256, (3, 17, 17))
    bias = rng.integers(-3000, 3000, 8)
    r = run_conv_layer(w, bits, x, bias, 1 << 14, 18, target, tmp_path)
    want = conv_reference(w, x, bias, 1 << 14, 18)
    _check(r["sparse"], want, f"{target} sparse_conv2d")
    _check(r["dense"], want, f"{target} conv2d")


def test_numpy_file_script(tmp_path, capsys):
    """extras/scripts/sparse_kernel_test.py: any .npy matrix through the generated kernel test."""
    import importlib.util
    from pathlib import Path
    script = Path(__file__).resolve().parents[2] / "scripts" / "sparse_kernel_test.py"
    spec = importlib.util.spec_from_file_location("sparse_kernel_test", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    w = _matrix(np.random.default_rng(5), 7, 90, 0.7, 4)
    np.save(tmp_path / "w.npy", w)
    assert mod.main([str(tmp_path / "w.npy"), "--bits", "4", "--targets", "host"]) == 0
    assert "w 7x90 4-bit on host: OK" in capsys.readouterr().out
    np.save(tmp_path / "f.npy", w * 0.5)
    assert mod.main([str(tmp_path / "f.npy"), "--targets", "host"]) == 2
