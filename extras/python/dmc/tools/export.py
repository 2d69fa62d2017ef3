"""``dmc export CHECKPOINT --torchscript/--onnx``: the float model of a checkpoint for Linux-class
boards (e.g. a Raspberry Pi) as TorchScript or ONNX; ``--dmc`` writes the integer artifact of a
statically quantized checkpoint for the microcontroller runtime."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..errors import DMCError
from .checkpoints import load_checkpoint

ONNX_OPSET = 17


def export_checkpoint(path, torchscript=None, onnx=None, dmc=None) -> list[Path]:
    """Write the requested files; returns their paths."""
    if not (torchscript or onnx or dmc):
        raise DMCError("choose at least one of --torchscript PATH, --onnx PATH, --dmc PATH")
    ck = load_checkpoint(path)
    written = []
    if torchscript or onnx:
        if ck.quantized:
            raise DMCError(f"{path}: TorchScript / ONNX export is of float checkpoints; this one is quantized: "
                           "export its integer model with --dmc, or export the float checkpoint it came from")
        model = ck.float_model()
        example = torch.zeros((1,) + ck.input_shape)
        if torchscript:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)     # TorchScript is deprecated, still loads
                traced = torch.jit.trace(model, example)
            Path(torchscript).parent.mkdir(parents=True, exist_ok=True)
            traced.save(str(torchscript))
            written.append(Path(torchscript))
        if onnx:
            written.append(export_onnx(model, example, onnx))
    if dmc:
        from .evaluate import integer_model
        qm = integer_model(ck)
        if qm is None:
            raise DMCError(f"{path}: --dmc needs a statically quantized checkpoint (`dmc quantize --type static`)")
        Path(dmc).parent.mkdir(parents=True, exist_ok=True)
        qm.save(dmc)
        written.append(Path(dmc))
    return written


def export_onnx(model, example, path) -> Path:
    """ONNX of a float model with a dynamic batch axis (input 'input', output 'logits')."""
    try:
        import onnx
    except ImportError:
        raise DMCError("ONNX export needs the onnx package: pip install onnx") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # the TorchScript-based exporter: the torch.export-based one needs onnxscript on top
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="Constant folding")
        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=ONNX_OPSET)
    onnx.checker.check_model(onnx.load(str(path)))
    return path
