"""Integer requantization: the single definition of the arithmetic the device performs.

A real multiplier ``M > 0`` (e.g. ``s_in * s_w / s_out``) is encoded as a 15-bit mantissa
``m`` in ``[2**14, 2**15)`` and a right shift ``shift`` in ``[1, 62]`` so that
``M ~= m * 2**-shift`` (relative error below 2**-15). Applying it to an int32 accumulator::

    requantize(acc, m, shift) = (acc * m + 2**(shift - 1)) >> shift

with the product in 64 bits and ``>>`` an arithmetic (flooring) shift, i.e. rounding half
up. The C++ runtime implements exactly this (include/dmc/requant.h); a 15-bit mantissa keeps
the product within 47 bits so that an 8-bit MCU can compute it with 16x16 multiplies.

>>> quantize_multiplier(0.5)
(16384, 15)
>>> int(requantize(np.int64(3), 16384, 15))   # 3 * 0.5 = 1.5 rounds half up to 2
2
>>> int(requantize(np.int64(-3), 16384, 15))  # -1.5 rounds half up to -1
-1
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import QuantizationError

MANTISSA_BITS = 15
MIN_SHIFT, MAX_SHIFT = 1, 62


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Encode a positive real multiplier as (m, shift); see the module docstring."""
    real = float(real)
    if not math.isfinite(real) or real <= 0.0:
        raise QuantizationError(f"requantization multiplier must be a positive finite number, got {real!r}")
    frac, exp = math.frexp(real)           # real = frac * 2**exp, frac in [0.5, 1)
    m = int(round(frac * (1 << MANTISSA_BITS)))
    shift = MANTISSA_BITS - exp
    if m == 1 << MANTISSA_BITS:            # rounding carried into the next power of two
        m >>= 1
        shift -= 1
    if shift < MIN_SHIFT:
        raise QuantizationError(
            f"requantization multiplier {real:.6g} is too large (>= 2**{MANTISSA_BITS - 1}); "
            "the layer's output scale is far smaller than its input scale")
    if shift > MAX_SHIFT:
        raise QuantizationError(
            f"requantization multiplier {real:.6g} is too small (< 2**-{MAX_SHIFT - MANTISSA_BITS + 1}); "
            "the layer's weights or input scale are degenerate")
    return m, shift


def quantize_multipliers(reals) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`quantize_multiplier`: arrays of int32 mantissas and int32 shifts."""
    pairs = [quantize_multiplier(r) for r in np.asarray(reals, dtype=np.float64).ravel()]
    return (np.array([p[0] for p in pairs], dtype=np.int32),
            np.array([p[1] for p in pairs], dtype=np.int32))


def requantize(acc, m, shift):
    """``(acc * m + 2**(shift-1)) >> shift`` in int64, element-wise with broadcasting."""
    acc = np.asarray(acc, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    return (acc * m + (np.int64(1) << (shift - 1))) >> shift


def shared_shift_multipliers(reals) -> tuple[np.ndarray, int]:
    """Encode several multipliers with one common shift (used by the residual add).

    The largest multiplier gets the full 15-bit mantissa; the others share its shift, so the
    sum ``sum_i (x_i * m_i)`` can be formed before one rounding shift.
    """
    reals = np.asarray(reals, dtype=np.float64)
    _, shift = quantize_multiplier(float(reals.max()))
    ms = np.round(reals * 2.0 ** shift).astype(np.int64)
    if (ms <= 0).any():
        raise QuantizationError(
            f"residual add input scales differ too much to share one shift: multipliers {reals.tolist()}")
    return ms.astype(np.int32), int(shift)
