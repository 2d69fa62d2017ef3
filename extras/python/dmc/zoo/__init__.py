"""Model architectures and their compression recipes: LeNet-5 (the seed's Table 1), the reference
architectures (ResNet-8, DS-CNN, MobileNetV2), small MLPs, and the registry that builds them by name."""
from .lenet import LENET5_TINY, LENET5_ULTRA, SEED_TABLE, lenet5, train_baseline
from .mlp import sine_regressor
from .reference import ds_cnn, mobilenet_v2, resnet8
from .registry import available, build, register

__all__ = ["LENET5_TINY", "LENET5_ULTRA", "SEED_TABLE", "available", "build", "ds_cnn", "lenet5", "mobilenet_v2",
           "register", "resnet8", "sine_regressor", "train_baseline"]
