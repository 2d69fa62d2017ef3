"""Model architectures and their compression recipes: LeNet-5 (the seed's Table 1), small MLPs
and the MicroSign-Edge backbones (edge_nano, edge_micro, edge_small)."""
from .lenet import LENET5_TINY, LENET5_ULTRA, SEED_TABLE, lenet5, train_baseline
from .microsign_edge import (EDGE_DEPLOY, MicroSignEdge, deploy_recipe, edge_micro, edge_nano, edge_small,
                             reparameterize)
from .mlp import sine_regressor

__all__ = ["EDGE_DEPLOY", "LENET5_TINY", "LENET5_ULTRA", "SEED_TABLE", "MicroSignEdge", "deploy_recipe", "edge_micro",
           "edge_nano", "edge_small", "lenet5", "reparameterize", "sine_regressor", "train_baseline"]
