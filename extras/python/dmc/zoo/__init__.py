"""Model architectures and their compression recipes: LeNet-5 (the seed's Table 1), the MicroSign-Edge
backbones (edge_nano, edge_micro, edge_small), the reference architectures (ResNet-8, DS-CNN,
MobileNetV2), small MLPs, and the registry that builds them by name."""
from .lenet import LENET5_TINY, LENET5_ULTRA, LENET5_ULTRA8, SEED_TABLE, lenet5, train_baseline
from .microsign_edge import (EDGE_DEPLOY, MicroSignEdge, deploy_recipe, edge_micro, edge_nano, edge_small,
                             reparameterize)
from .mlp import sine_regressor
from .reference import ds_cnn, mobilenet_v2, resnet8
from .registry import available, build, register

__all__ = ["EDGE_DEPLOY", "LENET5_TINY", "LENET5_ULTRA", "LENET5_ULTRA8", "SEED_TABLE", "MicroSignEdge", "available", "build",
           "deploy_recipe", "ds_cnn", "edge_micro", "edge_nano", "edge_small", "lenet5", "mobilenet_v2", "register",
           "reparameterize", "resnet8", "sine_regressor", "train_baseline"]
