"""Bit packing (dmc.core.packing): the contract shared with the C++ runtime."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dmc
from dmc.core.packing import pack, packed_size, unpack, value_range

BITS = (8, 4, 2)


def reference_pack(values, bits, signed):
    """Bit-by-bit reference of the contract: element i's bit j lands in stream bit i*bits + j,
    stream bit k lives in byte k // 8 at position k % 8 (LSB first); two's complement."""
    n = len(values)
    out = bytearray((n * bits + 7) // 8)
    for i, v in enumerate(values):
        v = int(v)
        if signed and v < 0:
            v += 1 << bits
        for j in range(bits):
            if (v >> j) & 1:
                k = i * bits + j
                out[k // 8] |= 1 << (k % 8)
    return bytes(out)


def reference_unpack(data, bits, n, signed):
    vals = []
    for i in range(n):
        v = 0
        for j in range(bits):
            k = i * bits + j
            v |= ((data[k // 8] >> (k % 8)) & 1) << j
        if signed and v >= 1 << (bits - 1):
            v -= 1 << bits
        vals.append(v)
    return vals


@st.composite
def packable(draw, max_len=67):
    bits = draw(st.sampled_from(BITS))
    signed = draw(st.booleans())
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    values = draw(st.lists(st.integers(lo, hi), min_size=0, max_size=max_len))
    return bits, signed, values


# -- worked examples of the contract ------------------------------------------------------------------

@pytest.mark.parametrize("values,bits,signed,expected", [
    ([1, 2, 3, 4], 4, False, bytes([0x21, 0x43])),
    ([1, 2, 3], 2, False, bytes([0x39])),
    ([-1, 7], 4, True, bytes([0x7F])),
    ([1, 2, 3, 4, 5], 4, False, bytes([0x21, 0x43, 0x05])),          # last byte padded with zeros
    ([3, 0, 0, 0, 1], 2, False, bytes([0x03, 0x01])),
    ([-2, 1, -1, 0], 2, True, bytes([0b00110110])),                  # -2 -> 10, 1 -> 01, -1 -> 11
    ([255, 0, 128], 8, False, bytes([0xFF, 0x00, 0x80])),
    ([-128, 127, -1], 8, True, bytes([0x80, 0x7F, 0xFF])),
    ([-8], 4, True, bytes([0x08])),
    ([], 4, False, b""),
])
def test_worked_examples(values, bits, signed, expected):
    assert pack(values, bits, signed=signed) == expected
    assert reference_pack(values, bits, signed) == expected
    assert unpack(expected, bits, len(values), signed=signed).tolist() == values


def test_unpack_worked_example_from_docstring():
    assert unpack(bytes([0x7F]), 4, 2, signed=True).tolist() == [-1, 7]
    assert unpack(bytes([0x7F]), 4, 2, signed=False).tolist() == [15, 7]
    assert unpack(bytes([0x39]), 2, 3).tolist() == [1, 2, 3]


# -- properties ------------------------------------------------------------------------------------

@given(packable())
def test_round_trip(case):
    bits, signed, values = case
    data = pack(np.array(values, dtype=np.int64), bits, signed=signed)
    assert isinstance(data, bytes)
    assert len(data) == packed_size(len(values), bits)
    out = unpack(data, bits, len(values), signed=signed)
    assert out.dtype == np.int32
    assert out.tolist() == values


@given(packable())
def test_pack_matches_bitwise_reference(case):
    bits, signed, values = case
    assert pack(values, bits, signed=signed) == reference_pack(values, bits, signed)


@given(st.sampled_from(BITS), st.booleans(), st.data())
def test_unpack_matches_bitwise_reference_on_arbitrary_bytes(bits, signed, data):
    n = data.draw(st.integers(0, 40))
    raw = data.draw(st.binary(min_size=packed_size(n, bits), max_size=packed_size(n, bits) + 3))
    assert unpack(raw, bits, n, signed=signed).tolist() == reference_unpack(raw, bits, n, signed)


@given(st.sampled_from(BITS), st.booleans(), st.integers(0, 3), st.integers(0, 3))
def test_multidimensional_is_row_major_without_row_padding(bits, signed, rows, cols):
    lo, hi = value_range(bits, signed)
    rng = np.random.default_rng(rows * 7 + cols + bits)
    a = rng.integers(lo, hi + 1, size=(rows, 2 * cols + 1))          # odd row length
    assert pack(a, bits, signed) == reference_pack(a.ravel().tolist(), bits, signed)
    assert pack(a, bits, signed) == pack(np.ascontiguousarray(a).ravel(), bits, signed)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 1001])
def test_packed_size(bits, n):
    expected = -(-n * bits // 8)           # ceil(n * bits / 8)
    assert packed_size(n, bits) == expected
    assert len(pack(np.zeros(n, dtype=np.int32), bits)) == expected


@pytest.mark.parametrize("bits", BITS)
def test_odd_lengths_zero_and_one(bits):
    assert pack([], bits) == b""
    assert unpack(b"", bits, 0).tolist() == []
    hi = (1 << bits) - 1
    assert pack([hi], bits) == bytes([hi])
    assert unpack(bytes([hi]), bits, 1).tolist() == [hi]
    assert unpack(bytes([hi]), bits, 1, signed=True).tolist() == [-1]


@pytest.mark.parametrize("bits", BITS)
def test_value_range(bits):
    assert value_range(bits, False) == (0, 2 ** bits - 1)
    assert value_range(bits, True) == (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


# -- errors ----------------------------------------------------------------------------------------

@given(st.sampled_from(BITS), st.booleans(), st.data())
def test_out_of_range_raises_dataerror_naming_the_index(bits, signed, data):
    lo, hi = value_range(bits, signed)
    values = data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=20))
    idx = data.draw(st.integers(0, len(values) - 1))
    bad = data.draw(st.one_of(st.integers(hi + 1, hi + 1000), st.integers(lo - 1000, lo - 1)))
    values[idx] = bad
    with pytest.raises(dmc.DataError) as e:
        pack(values, bits, signed=signed)
    msg = str(e.value)
    assert f"index {idx}" in msg
    assert str(bad) in msg


def test_out_of_range_reports_first_bad_index():
    with pytest.raises(dmc.DataError, match=r"value 16 at index 2"):
        pack([1, 2, 16, 99], 4)
    with pytest.raises(dmc.DataError, match=r"value -1 at index 0"):
        pack([-1], 8, signed=False)
    with pytest.raises(dmc.DataError, match=r"index 1"):
        pack([0, 2], 2, signed=True)          # 2-bit signed holds -2..1


@pytest.mark.parametrize("bits", [0, 1, 3, 5, 16, 32])
def test_unsupported_bit_width(bits):
    with pytest.raises(dmc.DataError, match="not supported"):
        pack([0], bits)
    with pytest.raises(dmc.DataError):
        unpack(b"\0", bits, 1)
    with pytest.raises(dmc.DataError):
        packed_size(1, bits)


def test_non_integer_values_rejected():
    with pytest.raises(dmc.DataError, match="integer"):
        pack(np.array([0.5, 1.0]), 8)


@pytest.mark.parametrize("bits", BITS)
def test_unpack_too_short_buffer(bits):
    n = 8 // bits * 2 + 1
    with pytest.raises(dmc.DataError, match="need"):
        unpack(bytes(packed_size(n, bits) - 1), bits, n)
