"""How a layer's weights are stored in the artifact and decoded back to signed integers.

One function for the interpreter and for the loader's checks, so both read exactly the weights
the device will read.
"""
from __future__ import annotations

import math

import numpy as np

from .packing import unpack


def decode_weight(arrays: dict, op: dict) -> np.ndarray:
    """Signed integer weights of a conv2d/linear op, in ``weight_shape``."""
    a = op["attrs"]
    n = math.prod(a["weight_shape"])
    packed = arrays[f"{op['name']}.weight"]
    return unpack(packed.tobytes(), a["weight_bits"], n, signed=True).reshape(a["weight_shape"])
