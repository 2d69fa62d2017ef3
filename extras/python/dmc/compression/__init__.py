"""The torch side: tracing, structured pruning, fake-quantization layers and their
straight-through estimators, ``compress`` (BN folding, QAT model), ``convert`` to an IntModel,
training loops, sensitivity analysis and the compression search."""
