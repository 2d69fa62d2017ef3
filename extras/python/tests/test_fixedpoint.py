"""Integer requantization (dmc.core.fixedpoint) against exact rational arithmetic."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dmc
from dmc.core.fixedpoint import (MAX_SHIFT, MIN_SHIFT, quantize_multiplier, quantize_multipliers, requantize,
                            shared_shift_multipliers)

INT32 = st.integers(-(2 ** 31), 2 ** 31 - 1)
MANTISSA = st.integers(2 ** 14, 2 ** 15 - 1)
SHIFT = st.integers(MIN_SHIFT, MAX_SHIFT)
# every multiplier the encoding can represent: roughly [2**-48, 2**14)
REPRESENTABLE = st.floats(min_value=2.0 ** -48, max_value=2.0 ** 14 - 0.5,
                          allow_nan=False, allow_infinity=False)


def exact_round_half_up(acc: int, m: int, shift: int) -> int:
    """floor(acc * m / 2**shift + 1/2), computed with exact rationals."""
    return math.floor(Fraction(acc * m, 2 ** shift) + Fraction(1, 2))


# -- quantize_multiplier -----------------------------------------------------------------------------

@given(REPRESENTABLE)
def test_quantize_multiplier_properties(real):
    m, shift = quantize_multiplier(real)
    assert isinstance(m, int) and isinstance(shift, int)
    assert 2 ** 14 <= m < 2 ** 15
    assert MIN_SHIFT <= shift <= MAX_SHIFT
    approx = Fraction(m, 2 ** shift)
    rel = abs(approx - Fraction(real)) / Fraction(real)
    assert rel < Fraction(1, 2 ** 15)


@given(REPRESENTABLE)
def test_quantize_multiplier_is_nearest_mantissa(real):
    """No other 15-bit mantissa at this shift is closer to the real value."""
    m, shift = quantize_multiplier(real)
    err = abs(Fraction(m, 2 ** shift) - Fraction(real))
    for other in (m - 1, m + 1):
        assert err <= abs(Fraction(other, 2 ** shift) - Fraction(real))


@pytest.mark.parametrize("real,expected", [
    (0.5, (16384, 15)),
    (1.0, (16384, 14)),
    (0.75, (24576, 15)),
    (2.0 ** -48, (16384, 62)),
    (2.0 ** 13, (16384, 1)),
    (1.0 - 2 ** -20, (16384, 14)),     # mantissa rounds up to 2**15: carried into the next power of two
])
def test_quantize_multiplier_examples(real, expected):
    assert quantize_multiplier(real) == expected


@pytest.mark.parametrize("bad", [0.0, -0.0, -1.0, -1e-9, float("nan"), float("inf"), float("-inf")])
def test_quantize_multiplier_rejects_non_positive_and_non_finite(bad):
    with pytest.raises(dmc.QuantizationError, match="positive finite"):
        quantize_multiplier(bad)


@pytest.mark.parametrize("big", [2.0 ** 14, 2.0 ** 14 * 1.5, 1e9, 2.0 ** 14 - 2.0 ** -10])
def test_quantize_multiplier_too_large(big):
    with pytest.raises(dmc.QuantizationError, match="too large"):
        quantize_multiplier(big)


@pytest.mark.parametrize("small", [2.0 ** -48 * 0.99, 2.0 ** -49, 1e-30, 5e-324])
def test_quantize_multiplier_too_small(small):
    with pytest.raises(dmc.QuantizationError, match="too small") as e:
        quantize_multiplier(small)
    # the message states the smallest representable multiplier: 2**14 * 2**-62 = 2**-48
    assert "2**-48" in str(e.value)


def test_quantize_multipliers_vectorised():
    reals = [0.5, 1e-3, 3.7, 2.0 ** -40]
    m, s = quantize_multipliers(reals)
    assert m.dtype == np.int32 and s.dtype == np.int32
    assert list(zip(m.tolist(), s.tolist())) == [quantize_multiplier(r) for r in reals]
    with pytest.raises(dmc.QuantizationError):
        quantize_multipliers([0.5, 0.0])


# -- requantize ----------------------------------------------------------------------------------------

@given(INT32, MANTISSA, SHIFT)
def test_requantize_matches_exact_rational_rounding(acc, m, shift):
    got = requantize(np.int64(acc), m, shift)
    assert int(got) == exact_round_half_up(acc, m, shift)


@given(st.lists(st.tuples(INT32, MANTISSA, SHIFT), min_size=1, max_size=30))
def test_requantize_vectorised_with_per_element_constants(rows):
    acc = np.array([r[0] for r in rows], dtype=np.int64)
    m = np.array([r[1] for r in rows], dtype=np.int16 if max(r[1] for r in rows) < 2 ** 15 else np.int32)
    s = np.array([r[2] for r in rows], dtype=np.uint8)
    got = requantize(acc, m, s)
    assert got.dtype == np.int64
    assert got.tolist() == [exact_round_half_up(a, mm, ss) for a, mm, ss in rows]


@given(st.lists(INT32, min_size=1, max_size=20), MANTISSA, SHIFT)
def test_requantize_broadcasts_scalar_constants(accs, m, shift):
    got = requantize(np.array(accs, dtype=np.int32), np.int16(m) if m < 2 ** 15 else m, np.uint8(shift))
    assert got.tolist() == [exact_round_half_up(a, m, shift) for a in accs]


def test_requantize_rounds_half_up():
    # 0.5 * odd numbers: exact halves, always rounded towards +inf
    m, s = quantize_multiplier(0.5)
    accs = np.arange(-7, 8, 2)
    assert requantize(accs, m, s).tolist() == [-3, -2, -1, 0, 1, 2, 3, 4]


@given(REPRESENTABLE.filter(lambda r: r < 4.0), INT32)
def test_requantize_close_to_real_product(real, acc):
    m, s = quantize_multiplier(real)
    got = int(requantize(np.int64(acc), m, s))
    # rounding error <= 1/2, approximation error < |acc * real| * 2**-15
    assert abs(Fraction(got) - Fraction(acc) * Fraction(real)) <= Fraction(1, 2) + abs(acc) * Fraction(real) / 2 ** 15


# -- shared_shift_multipliers -----------------------------------------------------------------------

@given(st.lists(st.floats(min_value=0.05, max_value=20.0), min_size=1, max_size=4))
def test_shared_shift_multipliers(reals):
    ms, shift = shared_shift_multipliers(reals)
    assert ms.dtype == np.int32 and isinstance(shift, int)
    i = int(np.argmax(reals))
    assert (int(ms[i]), shift) == quantize_multiplier(max(reals))     # the largest gets the full mantissa
    assert all(0 < int(v) < 2 ** 15 for v in ms)                       # fits int16 on the device
    for r, v in zip(reals, ms.tolist()):
        # nearest integer at the common shift: absolute error <= half an LSB of 2**-shift
        assert abs(Fraction(v, 2 ** shift) - Fraction(r)) <= Fraction(1, 2 ** (shift + 1))


def test_shared_shift_multipliers_example():
    ms, shift = shared_shift_multipliers([0.5, 0.25, 0.125])
    assert shift == 15 and ms.tolist() == [16384, 8192, 4096]


def test_shared_shift_add_semantics():
    """The residual add sums (x_i * m_i) before one rounding shift: compare with exact arithmetic."""
    rng = np.random.default_rng(0)
    reals = [0.37, 1.9]
    ms, shift = shared_shift_multipliers(reals)
    xa = rng.integers(-255, 256, 500)
    xb = rng.integers(-255, 256, 500)
    got = requantize(xa * int(ms[0]) + xb * int(ms[1]), 1, shift)
    exact = [math.floor(Fraction(int(a) * int(ms[0]) + int(b) * int(ms[1]), 2 ** shift) + Fraction(1, 2))
             for a, b in zip(xa, xb)]
    assert got.tolist() == exact
    # and it is within one LSB (plus approximation error) of the real-valued sum
    real = xa * reals[0] + xb * reals[1]
    assert np.abs(got - real).max() <= 1.0


def test_shared_shift_multipliers_rejects_scales_too_far_apart():
    with pytest.raises(dmc.QuantizationError, match="differ too much"):
        shared_shift_multipliers([1.0, 1e-9])
