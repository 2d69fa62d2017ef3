"""convert(): CompressedModel -> IntModel (integers, requantization constants, packed weights).

Integers come from the same functions the fake quantization uses (:mod:`dmc.ste`), so the
deployed weights are exactly the trained ones. Every layer's worst-case accumulator is bounded
here; a layer that could overflow int32 is an export error, never a silently wrong model.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ..core.fixedpoint import quantize_multiplier, quantize_multipliers, shared_shift_multipliers
from ..core.intmodel import DYNAMIC, STATIC, IntModel
from ..core.schema import HARD_FRAC_BITS_MAX, HARD_OFFSET_MAX
from ..core.weights import conv_tap_offsets, store_weight
from ..errors import ConfigError, QuantizationError
from ..version import __version__
from .compressed_model import OWN_QPARAMS, WEIGHTED, CompressedModel

INT32_MAX = (1 << 31) - 1


@torch.no_grad()
def convert(cm: CompressedModel) -> IntModel:
    """Freeze ``cm`` into a torch-free :class:`IntModel`."""
    if not isinstance(cm, CompressedModel):
        raise TypeError(f"convert() takes the CompressedModel returned by dmc.compress(), got {type(cm).__name__}")
    cm.eval()
    static = cm.static
    tensors, ops, arrays = {}, [], {}
    for n in cm.nodes:
        t = {"shape": [int(d) for d in n.shape]}
        if static:
            q = cm.quantizers[cm.qsource[n.name]]
            if not bool(q.initialized):
                raise QuantizationError(f"activation range of '{n.name}' was never observed: calibrate first")
            scale, zp = q.qparams()
            t.update(bits=q.bits, scale=scale, zero_point=zp)
        tensors[n.name] = t

    def qp(name):
        t = tensors[name]
        return t["scale"], t["zero_point"], (1 << t["bits"]) - 1

    def clamp_for(name, act):
        s, z, qmax = qp(name)
        lo, hi = 0, qmax
        if act in ("relu", "relu6"):
            lo = max(lo, z)
        if act == "relu6":
            hi = min(hi, z + int(round(6.0 / s)))
        return [int(lo), int(hi)]

    for n in cm.nodes:
        attrs = {}
        if n.path is not None:
            attrs["path"] = n.path
        if n.op in WEIGHTED:
            attrs.update(_weighted(cm, n, static, tensors, arrays, qp))
            if static:
                attrs["clamp"] = clamp_for(n.name, n.attrs["act"])
        elif n.op in ("maxpool2d", "avgpool2d"):
            attrs.update(kernel=list(n.attrs["kernel"]), stride=list(n.attrs["stride"]), padding=list(n.attrs["padding"]))
            if n.op == "avgpool2d" and static:
                m, s = quantize_multiplier(1.0 / (n.attrs["kernel"][0] * n.attrs["kernel"][1]))
                attrs.update(multiplier=m, shift=s)
        elif n.op == "gap" and static:
            _, h, w = tensors[n.inputs[0]]["shape"]
            m, s = quantize_multiplier(1.0 / (h * w))
            attrs.update(multiplier=m, shift=s)
        elif n.op == "add":
            attrs["act"] = n.attrs["act"]
            if static:
                so = qp(n.name)[0]
                ms, s = shared_shift_multipliers([qp(i)[0] / so for i in n.inputs])
                attrs.update(multipliers=[int(v) for v in ms], shift=s, clamp=clamp_for(n.name, n.attrs["act"]))
        elif n.op == "clamp":
            attrs["act"] = n.attrs["act"]
            if static:
                attrs["clamp"] = clamp_for(n.name, n.attrs["act"])
        elif n.op == "shift":
            attrs["counts"] = [int(g) for g in n.attrs["counts"]]
        elif n.op in ("hardsigmoid", "hardswish") and static:
            attrs.update(_hard_activation(n, qp))
        elif n.op == "mul" and static:
            (sx, _, _), (sg, _, _), (sy, _, _) = qp(n.inputs[0]), qp(n.inputs[1]), qp(n.name)
            attrs.update(zip(("multiplier", "shift"), _multiplier(sx * sg / sy, n)))
        elif n.op == "pad":
            attrs["padding"] = list(n.attrs["padding"])
            if static:
                s, z, qmax = qp(n.name)
                attrs["value"] = int(min(max(round(n.attrs["value"] / s) + z, 0), qmax))
            else:
                attrs["value"] = float(n.attrs["value"])
        ops.append({"name": n.name, "op": n.op, "inputs": list(n.inputs), "attrs": attrs})
    meta = {"dmc_version": __version__, "source_model": cm.source, "prune_report": cm.prune_report}
    if cm.weight_pruner is not None:
        meta["weight_pruning"] = _weight_sparsity(cm)
    if cm.config.overlap != "auto":
        meta["overlap"] = cm.config.overlap
    return IntModel(STATIC if static else DYNAMIC, tensors, ops, arrays, cm.output_name, meta)


def _weight_sparsity(cm: CompressedModel) -> list[dict]:
    """Per pruned layer: the target sparsity, the fraction masked and the fraction of integer
    weights that are zero (at least the masked one: small kept weights may round to 0)."""
    rows = cm.weight_pruner.report(cm.layers)
    for row, key in zip(rows, cm.weight_pruner.targets):
        qw = cm.layers[key].quantized_weight()[0]
        row["zero"] = float((qw == 0).double().mean())
    lag = cm.weight_pruner.behind_schedule(cm.layers)
    if lag:
        warnings.warn(lag, stacklevel=3)
    return rows


def _weighted(cm, n, static, tensors, arrays, qp) -> dict:
    layer = cm.layers[n.name]
    qw, sw = layer.quantized_weight()
    qw = qw.to(torch.int64)
    oc = qw.shape[0]
    attrs = {"alias": n.attrs["alias"], "act": n.attrs["act"], "weight_bits": layer.weight_bits,
             "granularity": n.attrs["granularity"], "weight_shape": list(qw.shape)}
    if n.op == "conv2d":
        attrs.update(stride=list(n.attrs["stride"]), padding=list(n.attrs["padding"]),
                     dilation=list(n.attrs["dilation"]), depthwise=bool(n.attrs["depthwise"]))
        if n.attrs.get("groups", 1) > 1 and not n.attrs["depthwise"]:
            attrs["groups"] = int(n.attrs["groups"])
        if n.attrs.get("merged_pad"):
            attrs["merged_pad"] = n.attrs["merged_pad"]
    if n.attrs.get("folded"):
        attrs["folded_bn"] = n.attrs["folded"]
    storage = cm.config.storage_for((n.name, n.path, n.attrs["alias"]))
    if attrs.get("groups", 1) > 1:              # no sparse kernel for grouped convolutions
        if storage == "dcsr":
            raise ConfigError(f"layer '{attrs['alias']}' ('{n.path}'): storage 'dcsr' is not available for grouped "
                              "convolutions (groups > 1); use 'dense' or 'auto'")
        storage = "dense"
    taps = (conv_tap_offsets(qw.shape, attrs["dilation"], tensors[n.inputs[0]]["shape"]) if n.op == "conv2d"
            else None)
    if store_weight(arrays, n.name, qw.numpy(), layer.weight_bits, storage, taps) == "dcsr":
        attrs["storage"] = "dcsr"
    sw_vec = sw.reshape(-1)
    if not static:
        arrays[f"{n.name}.weight_scale"] = sw_vec.numpy().astype(np.float32)
        arrays[f"{n.name}.bias"] = layer.bias.detach().numpy().astype(np.float32)
        return attrs
    s_in, z_in, qmax_in = qp(n.inputs[0])
    s_out = qp(n.name)[0]
    bscale = s_in * sw_vec                              # float32, exactly as in the forward pass
    qb = torch.round(layer.bias / bscale).to(torch.float64)
    where = f"layer '{attrs['alias']}' ('{n.path}')"
    if qb.abs().max() > INT32_MAX:
        raise QuantizationError(f"{where}: bias does not fit int32 at scale s_in*s_w; the input or "
                                "weight scale is degenerate")
    qb = qb.to(torch.int64)
    # worst case |acc| = sum_k |w_k| * max|x - z| + |bias|, per output channel
    xmax = max(z_in, qmax_in - z_in)
    bound = int((qw.reshape(oc, -1).abs().sum(1) * xmax + qb.abs()).max())
    attrs["accumulator_bound"] = bound
    if bound > INT32_MAX:
        raise QuantizationError(f"{where}: the accumulator can reach {bound} > 2**31-1; lower the input or "
                                "weight bit width of this layer or split it")
    reals = (s_in * sw_vec.to(torch.float64) / s_out).numpy()
    m, s = quantize_multipliers(reals)
    arrays[f"{n.name}.bias"] = qb.numpy().astype(np.int32)
    arrays[f"{n.name}.multiplier"] = m.astype(np.int16)
    arrays[f"{n.name}.shift"] = s.astype(np.uint8)
    return attrs


def _multiplier(real: float, n) -> tuple[int, int]:
    try:
        return quantize_multiplier(real)
    except QuantizationError as e:
        raise QuantizationError(f"op '{n.name}' ({n.op}): {e}") from None


def _hard_activation(n, qp) -> dict:
    """Integer constants of hard-sigmoid / hard-swish (formula in :mod:`dmc.core.intmodel`): the
    input in steps of 2**-frac_bits, the offset 3.0 in those steps, the multiplier to the output
    scale. frac_bits is the finest (at most 16) that keeps the accumulator within int32."""
    sx, zx, qmax_x = qp(n.inputs[0])
    sy = qp(n.name)[0]
    xmax = 1 if n.op == "hardsigmoid" else max(zx, qmax_x - zx)
    for frac_bits in range(HARD_FRAC_BITS_MAX, -1, -1):
        offset = int(round(3.0 * (1 << frac_bits) / sx))
        bound = 2 * offset * xmax
        if offset <= HARD_OFFSET_MAX and bound <= INT32_MAX:
            break
    else:
        raise QuantizationError(f"op '{n.name}' ({n.op}): its input scale {sx:.4g} puts 3.0 at {offset} steps, "
                                "beyond what int32 arithmetic can hold (the input range is degenerate)")
    if offset < 1:
        raise QuantizationError(f"op '{n.name}' ({n.op}): its input scale {sx:.4g} is coarser than 6.0 "
                                "(the input range is degenerate)")
    real = (sx if n.op == "hardsigmoid" else sx * sx) / (6.0 * sy * (1 << frac_bits))
    m, s = _multiplier(real, n)
    return {"frac_bits": frac_bits, "offset": offset, "multiplier": m, "shift": s, "accumulator_bound": bound}
