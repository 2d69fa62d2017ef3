"""Deep MicroCompression: prune, quantize and deploy PyTorch models on microcontrollers.

The flow runs one way::

    model --compress()--> CompressedModel (BN folded, channels removed, fake-quant; train it)
          --convert()---> IntModel (torch-free integer model, saved as a versioned .dmc file)
          --codegen()---> C++ sources for the runtime in the library's src/

Subpackages, in the order imports may run (each imports only those after it): ``zoo``
(architectures and recipes), ``compression`` (torch: trace, prune, quantize, train, convert,
search), ``deploy`` (codegen, builds, boards, devices), ``core`` (IntModel, artifact, packing,
planner), ``sparse`` (sparse weight formats, numpy-only), ``data`` (loaders).

Everything from the artifact on runs without torch: ``import dmc`` does not import torch, the
torch-based parts are loaded on first use.
"""
from importlib import import_module

from .errors import (ArtifactError, ConfigError, DataError, DMCError, QuantizationError,
                     UnsupportedModelError)
from .version import __version__

# name -> module that defines it; imported lazily so that torch-free users never load torch.
# The subpackages follow the flow: compression (torch) -> deploy -> core (torch-free); zoo holds
# architectures, data the loaders. ``dmc.datasets`` and ``dmc.models`` are the older names of
# ``dmc.data`` and ``dmc.zoo``.
_LAZY = {
    "IntModel": "core.intmodel",
    "load": "core.intmodel",
    "compress": "compression.compressed_model",
    "CompressedModel": "compression.compressed_model",
    "convert": "compression.conversion",
    "Sequential": "compression.sequential",
    "fit": "compression.training",
    "evaluate": "compression.training",
    "sensitivity": "compression.sensitivity_analysis",
    "SensitivityResult": "compression.sensitivity_analysis",
    "QuantizationScheme": "compression.config",
    "Granularity": "compression.config",
    "prune": "compression.pruning",
    "prune_weights": "compression.weight_pruning",
    "codegen": "deploy.codegen",
    "datasets": "@data",
    "models": "@zoo",
}

__all__ = sorted(list(_LAZY) + ["ArtifactError", "ConfigError", "DataError", "DMCError",
                                "QuantizationError", "UnsupportedModelError", "__version__"])


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'dmc' has no attribute {name!r}")
    where = _LAZY[name]
    module = import_module(f".{where.lstrip('@')}", __name__)
    value = module if where.startswith("@") else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
