"""Small multilayer perceptrons for sensor-style regression and classification."""
from __future__ import annotations

import torch.nn as nn

from ..compression.sequential import Sequential


def sine_regressor(hidden: int = 16) -> Sequential:
    """A tiny MLP for y = sin(x): the classic microcontroller hello-world."""
    return Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
