"""The command-line tools over checkpoints: YAML configs, train, test, benchmark, compare, prune,
quantize and export (TorchScript / ONNX / .dmc). They build every model by name through the
architecture registry of ``dmc.zoo``."""
