"""dmc.sparse: exact round trips, byte counts worked out by hand, the paper's padding rules, errors.

The 10,000-matrix round trip of the issue runs in extras/benchmarks/sparse_roundtrip.py (its
result file is committed); here a few hundred seeded matrices and a hypothesis property.
"""
import doctest
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dmc.sparse as sp
from dmc.errors import DataError
from dmc.sparse.dcsr import _largest_gap_padding, encode_dcsr, slope


def _random(rng, rows, cols, sparsity, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    m = rng.integers(lo, hi + 1, (rows, cols))
    m[rng.random((rows, cols)) < sparsity] = 0
    return m


def _assert_round_trip(m, fmt, bits):
    enc = sp.encode(m, fmt, value_bits=bits)
    back = enc.decode()
    bad = np.argwhere(back != m)
    for r, c in bad[:10]:
        print(f"{fmt} {bits}-bit {m.shape}: [{r}, {c}] decoded {back[r, c]}, expected {m[r, c]}")
    assert bad.size == 0
    assert enc.nnz == int(np.count_nonzero(m))
    assert enc.entries >= enc.nnz


def test_round_trip_seeded_matrices():
    rng = np.random.default_rng(9)
    shapes = [(1, 1), (1, 2000), (300, 1), (2, 17), (16, 16), (33, 257)]
    cases = [(s, sp_, b) for s in shapes for sp_ in (0.0, 0.5, 0.97, 1.0) for b in (8, 4)]
    cases += [((int(rng.integers(1, 40)), int(rng.integers(1, 400))), float(rng.random()), int(rng.choice([8, 4, 2])))
              for _ in range(150)]
    for shape, sparsity, bits in cases:
        m = _random(rng, *shape, sparsity, bits)
        for fmt in sp.FORMATS:
            _assert_round_trip(m, fmt, bits)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 600), st.floats(0, 1), st.sampled_from([8, 4, 2]), st.integers(0, 2**32 - 1))
def test_round_trip_property(rows, cols, sparsity, bits, seed):
    m = _random(np.random.default_rng(seed), rows, cols, sparsity, bits)
    for fmt in sp.FORMATS:
        _assert_round_trip(m, fmt, bits)


def test_worked_example_bytes():
    """[[0, 3, 0, 0], [0, 0, 0, -2]] counted by hand from the FORMAT.md layouts."""
    m = np.array([[0, 3, 0, 0], [0, 0, 0, -2]])
    d = sp.encode(m, "dcsr")
    # slope 4 per row, one group each: steps [1, 3], no masks, 16 B of nibbles (two groups),
    # 2 B values, 4 B row offsets, 1 B bitmaps, 4 B header
    assert d.steps.tolist() == [1, 3] and d.masks.size == 0 and d.nbytes == 2 + 16 + 2 + 4 + 1 + 4
    assert sp.encode(m, "csr").nbytes == 2 * 3 + 2 * 2
    r = sp.encode(m, "rle")
    assert r.distances.tolist() == [1 | 3 << 4] and r.nbytes == 1 + 2 + 4 * 2
    c = sp.encode(m, "mcsr")  # codes: column 1 = step 2 -> 1; column 3 = step 4 -> 3; each row ends with an escape
    assert c.stream.tolist() == [0xF1, 3, 0xF3, 0xFE] and c.nbytes == 2 * 2 + 4
    c4 = sp.encode(np.array([[5, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]]), "mcsr", value_bits=4)
    # columns 0, 2, 19: codes 0, 1 | escape (15 columns), 1 -> bytes 0x10 [5 | -1 << 4], 0x1F [2]
    assert c4.stream.tolist() == [0x10, 0xF5, 0x1F, 0x02]
    assert sp.encode(m, "dcsr", value_bits=4).nbytes == d.nbytes - 1
    o = sp.encode(m, "ocsr")  # per entry its value, then its step from the previous offset (from 0)
    assert o.stream.tolist() == [3, 1, 0xFE, 3] and o.row_entries.tolist() == [1, 1] and o.nbytes == 4 + 4
    o4 = sp.encode(np.array([[5, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]]), "ocsr", value_bits=4)
    # groups of two: value byte [5 | -1 << 4], steps 0 and 2; value byte [2], step 17
    assert o4.stream.tolist() == [0xF5, 0, 2, 0x02, 17]


def test_offset_csr_pads_wide_gaps_and_checks_taps():
    from dmc.sparse.ocsr import decode_ocsr_arrays, encode_ocsr
    offsets = np.array([0, 2, 4, 600, 601, 1200])  # like the taps of a filter over two wide input planes
    m = np.array([[1, 0, 0, 0, 0, 7], [0, 0, 0, -3, 0, 0], [0, 2, 0, 0, 0, 0]])
    enc = encode_ocsr(m, offsets, value_bits=8)
    # row 0: 0 (value 1), then 1200 = 4 * 255 + 180 -> four padding entries (step 255, value 0)
    assert enc.row_entries.tolist() == [6, 3, 1] and enc.entries == 10 and enc.padding == 6
    assert enc.stream[:12].tolist() == [1, 0] + [0, 255] * 4 + [7, 180]
    assert np.array_equal(enc.decode(), m)
    bad = enc.stream.copy()
    bad[-1] = 1  # row 2's value now lies at offset 1, between taps 0 and 2
    with pytest.raises(DataError, match="row 2, entry 0: a nonzero value at input offset 1, which is no tap"):
        decode_ocsr_arrays(enc.row_entries, bad, m.shape, offsets, 8)
    two = encode_ocsr(np.array([[1, 1, 0, 0, 0, 0]]), offsets, value_bits=8)
    bad = two.stream.copy()
    bad[3] = 0
    with pytest.raises(DataError, match="row 0, entry 1 has step 0"):
        decode_ocsr_arrays(two.row_entries, bad, (1, 6), offsets, 8)
    with pytest.raises(DataError, match="strictly increasing"):
        encode_ocsr(m, [0, 2, 2, 3, 4, 5])


def test_dcsr_extension_bits_and_padding():
    m = np.zeros((1, 300), int)
    m[0, [0, 20, 270]] = [5, -3, 7]
    d = sp.encode(m, "dcsr")
    # slope 100 cannot fit byte offsets: padded to 18 entries (slope 17), values hold the zeros
    assert d.entries == 18 and d.padding == 15 and slope(300, 18) == 17
    assert d.bitmaps.size == 1 and d.masks.size == int(bin(int(d.bitmaps[0])).count("1"))
    assert (d.decode() == m).all()
    r = sp.encode(m, "rle")  # distances 0, 20 (1 pad), 250 (16 pads)
    assert r.entries == 3 + 1 + 16


def test_padding_positions_follow_the_paper():
    """The reference encoder's published test vectors for the largest-gap rule."""
    assert _largest_gap_padding(np.array([0, 16, 31]), 32, False) == 8
    assert _largest_gap_padding(np.array([15]), 20, False) == 7
    assert _largest_gap_padding(np.array([75, 113, 151]), 156, False) == 37
    assert _largest_gap_padding(np.array([75, 113, 151]), 256, False) == 203
    # a row [0, 1, 0, 2, 0, 3]: slope 2 removes the trend entirely: one step of 1, deltas 0
    d = sp.encode(np.array([[0, 1, 0, 2, 0, 3]]), "dcsr")
    assert d.steps.tolist() == [1] and not d.nibbles.any()


def test_four_bit_dcsr_beats_the_paper_int8_accounting_by_20_percent():
    rng = np.random.default_rng(3)
    for sparsity in (0.5, 0.7, 0.9, 0.95):
        m = _random(rng, 64, 512, sparsity, 4)
        ours = sp.encode(m, "dcsr", value_bits=4).nbytes
        paper = encode_dcsr(m, 8, conventions="paper").nbytes
        print(f"sparsity {sparsity}: 4-bit dCSR {ours} B, paper int8 {paper} B ({ours / paper:.3f})")
        assert ours <= 0.8 * paper


def test_dmc_layout_within_2_percent_of_paper_accounting():
    rng = np.random.default_rng(4)
    for sparsity in (0.5, 0.8, 0.9, 0.99):
        m = _random(rng, 48, 700, sparsity, 8)
        ours, paper = sp.encode(m, "dcsr").nbytes, encode_dcsr(m, 8, conventions="paper").nbytes
        assert abs(ours - paper) <= 0.02 * paper, (sparsity, ours, paper)


def test_metrics():
    m = np.zeros((4, 64))
    m[:, ::8] = 0.25  # floats: only the pattern counts
    out = sp.metrics(m, value_bits=4)
    assert out["nnz"] == 32 and out["sparsity"] == pytest.approx(0.875) and out["dense"] == 4 * 64 // 2
    assert out["csr"] == 32 * 2 + 16 + 4 * 2
    assert out["bits_per_nonzero"]["csr"] == pytest.approx(out["csr"] * 8 / 32)
    assert set(out) >= {"dense", "csr", "rle", "dcsr", "mcsr", "bits_per_nonzero"}


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 2, 2), int), "2-D"),
    (np.array([[0.5, 0.0]]), "integers"),
    (np.array([[200, 0]]), r"200 at \[0, 0\]"),
])
def test_bad_matrices_are_named_errors(bad, match):
    with pytest.raises(DataError, match=match):
        sp.encode(bad, "dcsr")


def test_bad_arguments():
    with pytest.raises(DataError, match="unknown sparse format"):
        sp.encode(np.eye(2, dtype=int), "coo")
    with pytest.raises(DataError, match="value_bits 3"):
        sp.encode(np.eye(2, dtype=int), "csr", value_bits=3)
    with pytest.raises(DataError, match="does not fit 4-bit"):
        sp.encode(np.array([[9]]), "rle", value_bits=4)


@pytest.mark.parametrize("fmt, key, value, match", [
    ("dcsr", "steps", np.array([100, 3], np.int8), "outside a row"),
    ("dcsr", "masks", np.array([1], "<u2"), "masks stored"),
    ("rle", "distances", np.array([0xFF], np.uint8), "outside a row"),
    ("csr", "columns", np.array([1, 9], "<u2"), "outside a row"),
    ("mcsr", "stream", np.array([0xF1, 3, 0xFE, 1], np.uint8), "outside a row"),
    ("mcsr", "stream", np.array([0xF1, 3, 0xF3], np.uint8), "stream ends"),
    ("mcsr", "stream", np.array([0xF1, 3, 0xF3, 1, 0], np.uint8), "codes use 4 bytes"),
    ("ocsr", "stream", np.array([3, 1, 0xFE, 4], np.uint8), "offset 4 beyond the filter's last tap at 3"),
    ("ocsr", "stream", np.array([3, 1, 0xFE], np.uint8), "need a stream of 4 bytes, 3 stored"),
    ("ocsr", "row_entries", np.array([1, 2], "<u2"), "need a stream of 6 bytes"),
])
def test_tampered_streams_are_named_errors(fmt, key, value, match):
    enc = sp.encode(np.array([[0, 3, 0, 0], [0, 0, 0, -2]]), fmt)
    enc.arrays[key] = value
    with pytest.raises(DataError, match=match):
        enc.decode()


def test_docstring_example():
    assert doctest.testmod(sp, verbose=False).failed == 0


def test_importing_sparse_does_not_import_torch():
    code = "import sys, dmc.sparse; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- dmc sparse (CLI) ---------------------------------------------------------------------------
from pathlib import Path  # noqa: E402

from dmc.cli import main as cli  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "MnistLeNet5" / "lenet5_ultra.dmc"


def test_cli_table_and_csv(tmp_path, capsys):
    rng = np.random.default_rng(1)
    w = rng.integers(-7, 8, (20, 64))
    w[rng.random(w.shape) < 0.8] = 0
    np.savez(tmp_path / "w.npz", fc=w, conv=np.zeros((3, 2, 3, 3)), bias=np.ones(4))
    assert cli(["sparse", str(tmp_path / "w.npz"), "--bits", "4"]) == 0
    text = capsys.readouterr().out
    assert "fc      20x64" in text and "conv    3x18" in text and text.splitlines()[-1].startswith("total")
    assert cli(["sparse", str(tmp_path / "w.npz"), "--bits", "4", "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines[0].split(",")
    fc = dict(zip(head, lines[1].split(",")))
    expect = sp.metrics(w, value_bits=4)
    assert [int(fc[f]) for f in ("dense", "csr", "rle", "dcsr", "mcsr")] == [expect[f] for f in ("dense", "csr", "rle", "dcsr", "mcsr")]
    total = dict(zip(head, lines[-1].split(",")))
    rows = [dict(zip(head, ln.split(","))) for ln in lines[1:-1]]
    assert int(total["dcsr"]) == sum(int(r["dcsr"]) for r in rows)


def test_cli_dmc_uses_each_layers_bits(capsys):
    assert cli(["sparse", str(EXAMPLE)]) == 0
    import dmc
    model = dmc.load(EXAMPLE)
    weighted = [op for op in model.ops if op["op"] in ("conv2d", "linear")]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 + len(weighted) + 2
    for op, line in zip(weighted, lines[2:]):
        assert line.split()[0] == op["name"] and line.split()[2] == str(op["attrs"]["weight_bits"])


@pytest.mark.parametrize("name, content, match", [
    ("bad.npy", b"not numpy", "not a readable .npy"),
    ("bad.npz", b"PK\x03\x04broken", "not a readable .npz"),
    ("w.txt", b"1 2 3", "expected a .npy, .npz or .dmc"),
    ("bad.dmc", b"DMC\x00", "dmc"),
])
def test_cli_bad_files(tmp_path, capsys, name, content, match):
    (tmp_path / name).write_bytes(content)
    assert cli(["sparse", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmc sparse: error:") and match in err


def test_cli_missing_file_and_strings(tmp_path, capsys):
    assert cli(["sparse", str(tmp_path / "none.npy")]) == 2
    assert "No such file" in capsys.readouterr().err
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    assert cli(["sparse", str(tmp_path / "s.npy")]) == 2
    assert "expected numbers" in capsys.readouterr().err
