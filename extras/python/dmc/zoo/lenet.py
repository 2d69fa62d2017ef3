"""LeNet-5: the seed's architecture, its Ultra and Tiny compression recipes and the baseline training recipe."""
from __future__ import annotations

import torch.nn as nn

from ..compression.sequential import Sequential
from ..compression.training import random_shift
from ..errors import ConfigError


def lenet5(in_channels: int = 1, input_size=28, num_classes: int = 10) -> Sequential:
    """The seed's LeNet-5: pad 2, conv 1->6 k5 + BN + ReLU, maxpool 2, conv 6->16 k5 + BN + ReLU,
    maxpool 2, flatten 400, linear 400->84, ReLU, linear 84->10 (37,106 weights and biases plus
    44 BatchNorm parameters, which fold away). Other input channels, sizes (e.g. 3x32x32: flatten
    576) and class counts change only the first conv, the flatten size and the classifier."""
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    fh, fw = ((h + 4 - 4) // 2 - 4) // 2, ((w + 4 - 4) // 2 - 4) // 2
    if fh < 1 or fw < 1 or in_channels < 1 or num_classes < 2:
        raise ConfigError(f"lenet5: needs inputs of at least 12x12, >= 1 channel and >= 2 classes; got "
                          f"{in_channels}x{h}x{w}, {num_classes} classes")
    return Sequential(
        nn.ZeroPad2d(2),
        nn.Conv2d(in_channels, 6, 5), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * fh * fw, 84), nn.ReLU(),
        nn.Linear(84, num_classes),
    )


# The seed's Table 1 recipes. Ultra: maximum compression; Tiny: fits 2 KB of SRAM.
# Ultra: 4-bit weights, 8-bit activations. Its input image is quantized to 4 bits (16 grey
# levels): with 8-bit pixels the input (784 B) and the first conv's pooled output (1176 B)
# together need 1960 B of arena, which leaves no room on an Uno for the Arduino core, the
# serial runner and the stack; at 4 bits the input takes 392 B.
LENET5_ULTRA = {
    "prune_channel": {"sparsity": {"conv2d_0": 0, "conv2d_1": 9, "linear_0": 64}, "metric": "l2"},
    "quantize": {"scheme": "static", "bitwidth": 4, "granularity": "per_tensor", "activation_bitwidth": 8,
                 "input_bitwidth": 4, "layers": {"conv2d_0": {"granularity": "per_channel"}}},
}
# Ultra8: the Ultra recipe with the input image kept at 8 bits (256 grey levels). It fits an Uno
# because the planner computes the first conv in place over the image (README, "Memory plan"):
# its pooled output rows are written over input rows no later output needs.
LENET5_ULTRA8 = {
    "prune_channel": LENET5_ULTRA["prune_channel"],
    "quantize": {**LENET5_ULTRA["quantize"], "input_bitwidth": 8},
}
# Tiny: 4-bit activations, 8-bit per-channel conv weights, 4-bit per-tensor linear weights; the
# input image keeps 8 bits (its 784 B fit next to Tiny's small activations). Its 4-bit
# activation ranges are learned during QAT (98.68% vs 98.46% validation accuracy with moving
# averages, 12 epochs).
LENET5_TINY = {
    "prune_channel": {"sparsity": {"conv2d_0": 4, "conv2d_1": 2, "linear_0": 0}, "metric": "l2"},
    "quantize": {"scheme": "static", "bitwidth": 4, "granularity": "per_tensor", "activation_bitwidth": 4,
                 "input_bitwidth": 8, "activation_range": "learned",
                 "layers": {"conv2d_0": {"bitwidth": 8, "granularity": "per_channel"},
                            "conv2d_1": {"bitwidth": 8, "granularity": "per_channel"}}},
}
# The seed's reported points (Table 1): accuracy, model KB (1 KB = 1024 B)
SEED_TABLE = {"Baseline": (0.9942, 144.95), "DMC Ultra": (0.9793, 2.60), "DMC Tiny": (0.9804, 19.57)}


def train_baseline(model, train, val, epochs: int, seed: int = 25, progress: bool = True) -> list[dict]:
    """The baseline recipe: Adam at 2e-3 with cosine decay, random shifts of up to 2 pixels,
    and the weights of the best validation epoch kept."""
    return model.fit(train, epochs=epochs, val_loader=val, lr=2e-3, schedule="cosine", augment=random_shift(2, seed),
                     monitor="accuracy", restore_best=True, progress=progress)
