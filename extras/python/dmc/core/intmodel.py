"""IntModel: the torch-free integer model and its numpy interpreter.

The interpreter is the specification of what the device computes: the C++ runtime must agree
with :meth:`IntModel.predict` bit for bit. Layout is CHW (channel, row, column) per sample, the
order torch's Flatten uses. Activations are unsigned ``bits``-bit codes ``q`` with
``real = (q - zero_point) * scale``; weights are symmetric signed integers.

Per op (static scheme; ``rq(acc, m, s) = (acc*m + 2**(s-1)) >> s`` from :mod:`dmc.fixedpoint`):

* conv2d / linear: ``acc = bias + sum((x - zx) * w)`` over the window (padding holds ``zx``),
  ``y = clamp(zy + rq(acc, m[c], s[c]), lo, hi)``; lo/hi apply the fused ReLU / ReLU6. A conv
  with ``groups = g`` (or ``depthwise``: g = C) sums output channel ``o`` over input channels
  ``[k * C/g, (k + 1) * C/g)`` with ``k = o // (OC/g)``.
* maxpool2d: max over the window, padding ignored; same scale and zero point as the input.
* avgpool2d / gap: ``y = clamp(z + rq(sum(x - z), m, s), 0, qmax)`` with ``m/2**s ~ 1/window``
  (padding counts, as zeros); same scale and zero point as the input.
* add: ``y = clamp(zy + ((xa - za)*ma + (xb - zb)*mb + 2**(s-1)) >> s, lo, hi)``.
* clamp (standalone ReLU/ReLU6): ``clamp(x, lo, hi)``. pad: pads with a stored code.
  flatten: reshapes only.
* shift, ``counts = [nu, nl, nd, nr]``: the first nu channels move up (``y[c, i, j] =
  x[c, i+1, j]``), the next nl left (``x[c, i, j+1]``), nd down (``x[c, i-1, j]``), nr right
  (``x[c, i, j-1]``), the rest stay; vacated positions hold ``zx``. Same scale and zero point.
* hardsigmoid / hardswish (``relu6(x + 3) / 6``, ``x * relu6(x + 3) / 6``): with ``xi = x - zx``,
  ``F = frac_bits`` and ``t = clamp(xi * 2**F + offset, 0, 2 * offset)`` (``offset ~ 3 * 2**F /
  sx``: relu6(x + 3) in steps of sx / 2**F), ``acc = t`` or ``acc = xi * t``, then
  ``y = clamp(zy + rq(acc, m, s), 0, qmax)`` with ``m/2**s ~ sx / (6 sy 2**F)`` or
  ``sx**2 / (6 sy 2**F)``.
* mul (a C x H x W tensor times a C x 1 x 1 gate, squeeze-excitation):
  ``y[c, i, j] = clamp(zy + rq((x[c, i, j] - zx) * (g[c] - zg), m, s), 0, qmax)`` with
  ``m/2**s ~ sx * sg / sy``.

Float input is quantized as ``clamp(rint(x / scale) + zero_point, 0, qmax)`` in float32 (round
half to even, as torch's fake quantization does). The dynamic scheme keeps float32
activations and integer weights times their float scale.
"""
from __future__ import annotations

import io
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import DataError
from . import artifact
from .fixedpoint import requantize
from .packing import packed_size
from .planner import plan
from .schema import DYNAMIC, SHIFT_DIRECTIONS, STATIC
from .weights import decode_weight


class IntModel:
    """A quantized model as plain data: tensors, ops and numpy arrays (see :mod:`dmc.core.artifact`)."""

    def __init__(self, scheme: str, tensors: dict, ops: list, arrays: dict, output: str, meta: dict | None = None):
        self.scheme, self.tensors, self.ops, self.arrays = scheme, tensors, ops, arrays
        self.output, self.meta = output, dict(meta or {})
        self._weights: dict[str, np.ndarray] = {}

    # -- shapes and quantization of the ends -------------------------------------------------
    @property
    def input_name(self) -> str:
        return self.ops[0]["name"]

    @property
    def input_shape(self) -> tuple:
        return tuple(self.tensors[self.input_name]["shape"])

    @property
    def output_shape(self) -> tuple:
        return tuple(self.tensors[self.output]["shape"])

    @property
    def input_quant(self) -> dict:
        return self.tensors[self.input_name]

    @property
    def output_quant(self) -> dict:
        return self.tensors[self.output]

    def weight(self, op: dict) -> np.ndarray:
        """Unpacked integer weights of a conv2d/linear op (cached)."""
        name = op["name"]
        if name not in self._weights:
            self._weights[name] = decode_weight(self.arrays, op, self.tensors[op["inputs"][0]]["shape"])
        return self._weights[name]

    # -- inference ---------------------------------------------------------------------------
    def quantize_input(self, x) -> np.ndarray:
        """Float input -> integer codes with the stored input scale and zero point."""
        q = self.input_quant
        x = np.asarray(x, dtype=np.float32)
        codes = np.rint(x / np.float32(q["scale"])) + q["zero_point"]
        return np.clip(codes, 0, (1 << q["bits"]) - 1).astype(np.int32)

    def input_codes(self, x) -> np.ndarray:
        """Input as integer codes: float values are quantized, integers checked to be codes."""
        x = np.asarray(x)
        if np.issubdtype(x.dtype, np.floating):
            return self.quantize_input(x)
        if not np.issubdtype(x.dtype, np.integer):
            raise DataError(f"input dtype {x.dtype} is neither float nor integer")
        qmax = (1 << self.input_quant["bits"]) - 1
        if x.size and (x.min() < 0 or x.max() > qmax):
            raise DataError(f"integer input codes must lie in [0, {qmax}], got [{x.min()}, {x.max()}]")
        return x.astype(np.int32)

    def dequantize_output(self, y) -> np.ndarray:
        if self.scheme == DYNAMIC:
            return np.asarray(y, dtype=np.float32)
        q = self.output_quant
        return ((np.asarray(y, dtype=np.float64) - q["zero_point"]) * q["scale"]).astype(np.float32)

    def predict(self, x, dequantize: bool = False, batch_size: int = 500) -> np.ndarray:
        """Run the integer interpreter on a batch (or a single sample).

        Float input is quantized with the stored input scale; integer input is taken as codes.
        Returns integer output codes (int32), or float values with ``dequantize=True``. The
        dynamic scheme returns float32 always.
        """
        x = np.asarray(x)
        single = x.shape == self.input_shape
        if single:
            x = x[None]
        if x.shape[1:] != self.input_shape:
            raise DataError(f"input has shape {x.shape}; the model expects (N,) + {self.input_shape}")
        if self.scheme == STATIC:
            x = self.input_codes(x)
        else:
            x = x.astype(np.float32)
        outs = [self._run(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        y = np.concatenate(outs) if outs else np.zeros((0,) + self.output_shape, np.int32)
        if dequantize:
            y = self.dequantize_output(y)
        return y[0] if single else y

    def _run(self, x):
        env = {self.input_name: x}
        for op in self.ops[1:]:
            fn = getattr(self, "_op_" + op["op"])
            env[op["name"]] = fn(op, *[env[i] for i in op["inputs"]])
        return env[self.output]

    def _q(self, name):
        t = self.tensors[name]
        return t.get("zero_point", 0), (1 << t["bits"]) - 1 if "bits" in t else None

    def _weighted(self, op, x, compute):
        a, name = op["attrs"], op["name"]
        w = self.weight(op)
        if self.scheme == DYNAMIC:
            ws = self.arrays[f"{name}.weight_scale"].astype(np.float32)
            wf = w.astype(np.float32) * ws.reshape((-1,) + (1,) * (w.ndim - 1))
            y = compute(x.astype(np.float32), wf) + _bcast(self.arrays[f"{name}.bias"], y_ndim=x.ndim)
            return _float_act(y, a.get("act")).astype(np.float32)
        zx, _ = self._q(op["inputs"][0])
        zy, _ = self._q(name)
        # float64 holds every partial sum exactly: the exporter proved |acc| < 2**31
        acc = np.rint(compute(x.astype(np.float64) - zx, w.astype(np.float64))).astype(np.int64)
        acc += _bcast(self.arrays[f"{name}.bias"].astype(np.int64), x.ndim)
        m = _bcast(self.arrays[f"{name}.multiplier"], x.ndim)
        s = _bcast(self.arrays[f"{name}.shift"], x.ndim)
        lo, hi = a["clamp"]
        return np.clip(zy + requantize(acc, m, s), lo, hi).astype(np.int32)

    def _op_conv2d(self, op, x):
        a = op["attrs"]
        # padding with the zero point is padding with 0 after subtracting it (static);
        # in float (dynamic) it is 0 too.
        def compute(xv, w):
            t, b, l, r = a["padding"]
            xp = np.pad(xv, ((0, 0), (0, 0), (t, b), (l, r)))
            kh, kw = w.shape[2:]
            dh, dw = a["dilation"]
            sh, sw = a["stride"]
            win = sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
            win = win[:, :, ::sh, ::sw, ::dh, ::dw]
            if a["depthwise"]:
                return np.einsum("ncyxij,cij->ncyx", win, w[:, 0], optimize=True)
            g = a.get("groups", 1)
            icg, ocg = w.shape[1], w.shape[0] // g
            return np.concatenate([np.tensordot(win[:, k * icg:(k + 1) * icg], w[k * ocg:(k + 1) * ocg],
                                                axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
                                   for k in range(g)], axis=1)
        return self._weighted(op, x, compute)

    def _op_linear(self, op, x):
        return self._weighted(op, x, lambda xv, w: xv @ w.T)

    def _op_maxpool2d(self, op, x):
        a = op["attrs"]
        ph, pw = a["padding"]
        fill = -np.inf if self.scheme == DYNAMIC else -1     # below every code: padding never wins
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
        win = sliding_window_view(xp, a["kernel"], axis=(2, 3))[:, :, ::a["stride"][0], ::a["stride"][1]]
        return win.max(axis=(4, 5)).astype(x.dtype)

    def _op_avgpool2d(self, op, x):
        a = op["attrs"]
        ph, pw = a["padding"]
        if self.scheme == DYNAMIC:
            xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
            win = sliding_window_view(xp, a["kernel"], axis=(2, 3))[:, :, ::a["stride"][0], ::a["stride"][1]]
            return win.mean(axis=(4, 5), dtype=np.float32).astype(np.float32)
        z, qmax = self._q(op["inputs"][0])
        xp = np.pad(x.astype(np.int64) - z, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        win = sliding_window_view(xp, a["kernel"], axis=(2, 3))[:, :, ::a["stride"][0], ::a["stride"][1]]
        return np.clip(z + requantize(win.sum(axis=(4, 5)), a["multiplier"], a["shift"]), 0, qmax).astype(np.int32)

    def _op_gap(self, op, x):
        if self.scheme == DYNAMIC:
            return x.mean(axis=(2, 3), keepdims=True, dtype=np.float32).astype(np.float32)
        a = op["attrs"]
        z, qmax = self._q(op["inputs"][0])
        acc = (x.astype(np.int64) - z).sum(axis=(2, 3), keepdims=True)
        return np.clip(z + requantize(acc, a["multiplier"], a["shift"]), 0, qmax).astype(np.int32)

    def _op_add(self, op, xa, xb):
        a = op["attrs"]
        if self.scheme == DYNAMIC:
            return _float_act(xa + xb, a.get("act")).astype(np.float32)
        za, _ = self._q(op["inputs"][0])
        zb, _ = self._q(op["inputs"][1])
        zy, _ = self._q(op["name"])
        ma, mb = a["multipliers"]
        acc = (xa.astype(np.int64) - za) * ma + (xb.astype(np.int64) - zb) * mb
        lo, hi = a["clamp"]
        return np.clip(zy + requantize(acc, 1, a["shift"]), lo, hi).astype(np.int32)

    def _op_clamp(self, op, x):
        if self.scheme == DYNAMIC:
            return _float_act(x, op["attrs"].get("act")).astype(np.float32)
        lo, hi = op["attrs"]["clamp"]
        return np.clip(x, lo, hi).astype(np.int32)

    def _op_pad(self, op, x):
        t, b, l, r = op["attrs"]["padding"]
        return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=op["attrs"]["value"])

    def _op_flatten(self, op, x):
        return x.reshape(len(x), -1)

    def _op_shift(self, op, x):
        fill = 0 if self.scheme == DYNAMIC else self._q(op["inputs"][0])[0]
        y = np.full_like(x, fill)
        c = 0
        for n, d in zip(op["attrs"]["counts"], SHIFT_DIRECTIONS):
            src, dst = x[:, c:c + n], y[:, c:c + n]
            if d == "up":
                dst[:, :, :-1] = src[:, :, 1:]
            elif d == "left":
                dst[:, :, :, :-1] = src[:, :, :, 1:]
            elif d == "down":
                dst[:, :, 1:] = src[:, :, :-1]
            else:
                dst[:, :, :, 1:] = src[:, :, :, :-1]
            c += n
        y[:, c:] = x[:, c:]
        return y

    def _hard(self, op, x, swish):
        if self.scheme == DYNAMIC:
            t = np.clip(x + np.float32(3), 0, 6) / np.float32(6)
            return (x * t if swish else t).astype(np.float32)
        a = op["attrs"]
        zx, _ = self._q(op["inputs"][0])
        zy, qmax = self._q(op["name"])
        xi = x.astype(np.int64) - zx
        t = np.clip(xi * (1 << a["frac_bits"]) + a["offset"], 0, 2 * a["offset"])
        acc = xi * t if swish else t
        return np.clip(zy + requantize(acc, a["multiplier"], a["shift"]), 0, qmax).astype(np.int32)

    def _op_hardsigmoid(self, op, x):
        return self._hard(op, x, swish=False)

    def _op_hardswish(self, op, x):
        return self._hard(op, x, swish=True)

    def _op_mul(self, op, x, g):
        if self.scheme == DYNAMIC:
            return (x * g).astype(np.float32)
        a = op["attrs"]
        zx, _ = self._q(op["inputs"][0])
        zg, _ = self._q(op["inputs"][1])
        zy, qmax = self._q(op["name"])
        acc = (x.astype(np.int64) - zx) * (g.astype(np.int64) - zg)
        return np.clip(zy + requantize(acc, a["multiplier"], a["shift"]), 0, qmax).astype(np.int32)

    # -- sizes -----------------------------------------------------------------------------------
    def op_bytes(self, op) -> int:
        """Flash bytes of an op's constants: packed weights, bias, requantization constants."""
        return sum(v.nbytes for k, v in self.arrays.items() if k.startswith(op["name"] + "."))

    @property
    def model_bytes(self) -> int:
        """Total bytes of all weights, biases and requantization constants (what size figures
        quote); excludes code, the op list and the per-op scalars (shapes, zero points)."""
        return sum(v.nbytes for v in self.arrays.values())

    def tensor_bytes(self, name: str) -> int:
        t = self.tensors[name]
        n = int(np.prod(t["shape"]))
        return packed_size(n, t["bits"]) if self.scheme == STATIC else 4 * n

    def macs(self, op) -> int:
        a = op["attrs"]
        if op["op"] == "conv2d":
            oc, icg, kh, kw = a["weight_shape"]
            return int(np.prod(self.tensors[op["name"]]["shape"])) * icg * kh * kw
        if op["op"] == "linear":
            return int(np.prod(a["weight_shape"]))
        return 0

    @property
    def total_macs(self) -> int:
        return sum(self.macs(op) for op in self.ops)

    def peak_activation_bytes(self) -> int:
        """Largest sum of simultaneously live tensors (inputs still needed + the output being
        written); flatten and clamp work in place. The code generator's arena plan refines this."""
        last_use = {}
        for i, op in enumerate(self.ops):
            for t in op["inputs"]:
                last_use[t] = i
        last_use[self.output] = len(self.ops)
        live, peak = {}, 0
        for i, op in enumerate(self.ops):
            inplace = op["op"] in ("flatten", "clamp") and last_use.get(op["inputs"][0]) == i
            if not inplace:
                live[op["name"]] = self.tensor_bytes(op["name"])
            peak = max(peak, sum(live.values()))
            if inplace:
                live[op["name"]] = live.pop(op["inputs"][0])
            for t in op["inputs"]:
                if last_use.get(t) == i and t in live and t != op["name"]:
                    del live[t]
        return peak

    def summary_rows(self) -> list[dict]:
        rows = []
        for op in self.ops:
            a = op.get("attrs", {})
            t = self.tensors[op["name"]]
            wb = a.get("weight_bits")
            rows.append({
                "layer": a.get("alias") or op["name"], "op": op["op"],
                "input": "x".join(map(str, self.tensors[op["inputs"][0]]["shape"])) if op["inputs"] else "",
                "output": "x".join(map(str, t["shape"])),
                "weights": (f"{wb}b {'ch' if a.get('granularity') == 'per_channel' else 'tensor'}"
                            + (" dcsr" if a.get("storage") == "dcsr" else "")) if wb else "",
                "act": f"{t['bits']}b" if self.scheme == STATIC else "f32",
                "bytes": self.op_bytes(op), "macs": self.macs(op), "act_bytes": self.tensor_bytes(op["name"]),
            })
        return rows

    def summary_text(self) -> str:
        rows = self.summary_rows()
        cols = [("layer", "layer"), ("op", "op"), ("input", "input"), ("output", "output"),
                ("weights", "weights"), ("act", "act"), ("bytes", "bytes"), ("macs", "MACs"),
                ("act_bytes", "act bytes")]
        widths = {k: max(len(h), *(len(str(r[k])) for r in rows)) for k, h in cols}
        out = io.StringIO()
        head = "  ".join(h.ljust(widths[k]) if k in ("layer", "op") else h.rjust(widths[k]) for k, h in cols)
        out.write(f"DMC model ({self.scheme} quantization{', float activations' if self.scheme == DYNAMIC else ''})\n")
        out.write(head + "\n" + "-" * len(head) + "\n")
        for r in rows:
            out.write("  ".join(str(r[k]).ljust(widths[k]) if k in ("layer", "op") else str(r[k]).rjust(widths[k])
                                for k, _ in cols) + "\n")
        out.write("-" * len(head) + "\n")
        nw = sum(int(np.prod(op["attrs"]["weight_shape"])) for op in self.ops if op["op"] in ("conv2d", "linear"))
        wbytes = sum(v.nbytes for k, v in self.arrays.items() if k.endswith(".weight"))
        out.write(f"parameters: {nw} weights in {wbytes} B packed; "
                  f"biases + requantization constants: {self.model_bytes - wbytes} B\n")
        out.write(f"model bytes: {self.model_bytes} B ({self.model_bytes / 1024:.2f} KB) "
                  "= packed weights + int32 biases + requantization constants\n")
        out.write(f"MACs per inference: {self.total_macs}\n")
        if self.scheme == STATIC:
            out.write(f"activation arena: {plan(self).arena_bytes} B as deployed (conv + max pool fused, convs over "
                      f"their inputs, in-place steps); {self.peak_activation_bytes()} B op by op\n")
        else:
            out.write(f"peak live activations: {self.peak_activation_bytes()} B (float32)\n")
        return out.getvalue()

    def summary(self) -> None:
        """Print the per-layer table: op, shapes, bits, bytes, MACs, activation bytes."""
        print(self.summary_text(), end="")

    def save(self, path) -> None:
        """Write the model as a .dmc file (atomically: a partial file never replaces a good one)."""
        artifact.save(self, path)

    def to_bytes(self) -> bytes:
        """The .dmc file's bytes."""
        return artifact.dumps(self)

    def __repr__(self):
        return (f"IntModel({self.scheme}, {len(self.ops) - 1} ops, input {self.input_shape}, "
                f"output {self.output_shape}, {self.model_bytes} model bytes)")


def _bcast(v, y_ndim):
    """Broadcast a per-channel vector (or scalar) over (N, C, ...)."""
    v = np.asarray(v)
    if v.size == 1:
        return v.reshape(())
    return v.reshape((1, -1) + (1,) * (y_ndim - 2))


def _float_act(y, act):
    if act == "relu":
        return np.maximum(y, 0)
    if act == "relu6":
        return np.clip(y, 0, 6)
    return y


def loads(data: bytes) -> IntModel:
    """An IntModel from a .dmc file's bytes, checked thoroughly (see :mod:`dmc.core.artifact`)."""
    return IntModel(**artifact.loads(data))


def load(path) -> IntModel:
    """Read a .dmc file, checked thoroughly: a bad file raises :class:`dmc.ArtifactError`."""
    return IntModel(**artifact.load(path))
