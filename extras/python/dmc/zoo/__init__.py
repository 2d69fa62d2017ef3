"""Model architectures and their compression recipes: LeNet-5 (the seed's Table 1) and small MLPs."""
from .lenet import LENET5_TINY, LENET5_ULTRA, SEED_TABLE, lenet5, train_baseline
from .mlp import sine_regressor

__all__ = ["LENET5_TINY", "LENET5_ULTRA", "SEED_TABLE", "lenet5", "sine_regressor", "train_baseline"]
