"""Deep MicroCompression: prune, quantize and deploy PyTorch models on microcontrollers.

The flow runs one way::

    model --compress()--> CompressedModel (BN folded, channels removed, fake-quant; train it)
          --convert()---> IntModel (torch-free integer model, saved as a versioned .dmc file)
          --codegen()---> C++ sources for the runtime in the library's src/

Everything from the artifact on runs without torch: ``import dmc`` does not import torch, the
torch-based parts are loaded on first use.
"""
from importlib import import_module

from .errors import (ArtifactError, ConfigError, DataError, DMCError, QuantizationError,
                     UnsupportedModelError)

__version__ = "0.1.0"

# name -> module that defines it; imported lazily so that torch-free users never load torch.
_LAZY = {
    "IntModel": "intmodel",
    "load": "artifact",
    "compress": "compression",
    "CompressedModel": "compression",
    "convert": "conversion",
    "Sequential": "sequential",
    "fit": "training",
    "evaluate": "training",
    "sensitivity": "sensitivity_analysis",
    "SensitivityResult": "sensitivity_analysis",
    "QuantizationScheme": "config",
    "Granularity": "config",
    "prune": "pruning",
    "codegen": "cpp_codegen",
    "datasets": None,
    "models": None,
}

__all__ = sorted(list(_LAZY) + ["ArtifactError", "ConfigError", "DataError", "DMCError",
                                "QuantizationError", "UnsupportedModelError", "__version__"])


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'dmc' has no attribute {name!r}")
    module = import_module(f".{_LAZY[name] or name}", __name__)
    value = module if _LAZY[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
