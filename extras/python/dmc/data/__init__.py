"""Dataset loaders (torch tensors only where a DataLoader is asked for): MNIST, Fashion-MNIST,
CIFAR-10 and ImageFolder-style folders, each split into train / validation / test."""
from .datasets import DATASETS, load_dataset
from .mnist import load_mnist, mnist_arrays, mnist_loaders, read_idx
from .splits import Splits, make_loaders, make_splits

__all__ = ["DATASETS", "Splits", "load_dataset", "load_mnist", "make_loaders", "make_splits", "mnist_arrays",
           "mnist_loaders", "read_idx"]
