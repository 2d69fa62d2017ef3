"""Execution and memory plan for the C++ runtime: which kernel runs each op, which ops are
fused, and where every activation lives in the one static arena.

* conv2d followed by a max pool (no padding, square window) that alone reads it is fused: the
  conv output never exists in SRAM.
* flatten is free (the bytes are already in CHW order); the element-wise steps (clamp, add,
  channel shift, hard-sigmoid / hard-swish, channel multiply) run in place when their (first)
  input dies at that step and has the same bit width.
* Buffers are placed greedily, largest first, at the lowest offset that does not overlap a
  buffer alive at the same time (the model output stays alive after the last step).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DMCError


@dataclass
class Step:
    kernel: str                 # conv2d, depthwise_conv2d, linear, max_pool2d, avg_pool2d, ...
    op: dict                    # the main op
    inputs: list[str]           # tensors read
    output: str                 # tensor written
    fused: dict | None = None   # the max pool fused into a conv
    inplace: bool = False


@dataclass
class Plan:
    steps: list[Step]
    buffer_of: dict[str, str]           # tensor -> buffer (tensor name that owns the bytes)
    offsets: dict[str, int] = field(default_factory=dict)   # buffer -> arena offset
    sizes: dict[str, int] = field(default_factory=dict)     # buffer -> bytes
    arena_bytes: int = 0

    def offset(self, tensor: str) -> int:
        return self.offsets[self.buffer_of[tensor]]


# kernels that read element i before writing element i (the shift in a direction-aware order),
# so their output may take their first input's buffer
INPLACE_KERNELS = ("clamp", "add", "channel_shift", "hard_sigmoid", "hard_swish", "channel_mul")


class PlanError(DMCError):
    pass


def plan(model) -> Plan:
    """The plan of an integer model (anything with ops, tensors, output and tensor_bytes())."""
    if model.scheme != "static":
        raise PlanError("only the static (integer-only) scheme can be compiled for the C++ runtime; "
                        "this model uses the dynamic scheme (float activations)")
    ops = model.ops
    readers: dict[str, list[int]] = {}
    for i, op in enumerate(ops):
        for t in op["inputs"]:
            readers.setdefault(t, []).append(i)
    buffer_of = {ops[0]["name"]: ops[0]["name"]}
    steps: list[Step] = []
    skip = set()
    for i, op in enumerate(ops[1:], start=1):
        if i in skip:
            continue
        kind, name = op["op"], op["name"]
        ins = list(op["inputs"])
        if kind == "flatten":
            buffer_of[name] = buffer_of[ins[0]]
            continue
        if kind == "conv2d" and op["attrs"].get("groups", 1) > 1 and not op["attrs"]["depthwise"]:
            steps.append(Step("grouped_conv2d", op, ins, name))
        elif kind == "conv2d":
            r = readers.get(name, [])
            nxt = ops[r[0]] if len(r) == 1 and name != model.output else None
            step = Step("depthwise_conv2d" if op["attrs"]["depthwise"] else "conv2d", op, ins, name)
            if nxt is not None and nxt["op"] == "maxpool2d" and _fusable_pool(nxt):
                step.fused, step.output = nxt, nxt["name"]
                skip.add(r[0])
            steps.append(step)
        else:
            kernel = {"linear": "linear", "maxpool2d": "max_pool2d", "avgpool2d": "avg_pool2d",
                      "gap": "global_avg_pool", "add": "add", "clamp": "clamp", "pad": "pad",
                      "shift": "channel_shift", "hardsigmoid": "hard_sigmoid", "hardswish": "hard_swish",
                      "mul": "channel_mul"}[kind]
            steps.append(Step(kernel, op, ins, name))
        step = steps[-1]
        buffer_of[step.output] = step.output
        if step.kernel in INPLACE_KERNELS:
            src = step.inputs[0]
            same_bits = model.tensors[src]["bits"] == model.tensors[step.output]["bits"]
            # step index of this op in `ops` is i; the input dies here if no later op reads it
            sharing = [t for t, b in buffer_of.items() if b == buffer_of[src]]
            dies = all(max(readers.get(t, [0])) <= i and t != model.output for t in sharing)
            shared = any(buffer_of[x] == buffer_of[src] for x in step.inputs[1:])
            if same_bits and dies and not shared:
                buffer_of[step.output] = buffer_of[src]
                step.inplace = True
    # lifetimes in step indices: the model input is written before step 0, the output read after
    n = len(steps)
    first: dict[str, int] = {buffer_of[ops[0]["name"]]: -1}
    last: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for s_idx, step in enumerate(steps):
        b = buffer_of[step.output]
        first.setdefault(b, s_idx)
        last[b] = max(last.get(b, s_idx), s_idx)
        for t in step.inputs:
            last[buffer_of[t]] = max(last.get(buffer_of[t], s_idx), s_idx)
    last[buffer_of[model.output]] = n
    for t, b in buffer_of.items():
        sizes[b] = max(sizes.get(b, 0), model.tensor_bytes(t))
    p = Plan(steps, buffer_of, sizes=sizes)
    placed: list[tuple[int, int, str]] = []          # (offset, end, buffer)
    for b in sorted(sizes, key=lambda b: (-sizes[b], first.get(b, 0), b)):
        lo_b, hi_b = first.get(b, -1), last.get(b, first.get(b, -1))
        conflicts = sorted((o, e) for o, e, other in placed
                           if not (last.get(other, first[other]) < lo_b or hi_b < first[other]))
        offset = 0
        for o, e in conflicts:
            if offset + sizes[b] <= o:
                break
            offset = max(offset, e)
        placed.append((offset, offset + sizes[b], b))
        p.offsets[b] = offset
    p.arena_bytes = max((e for _, e, _ in placed), default=0)
    return p


# the Cortex-M DSP kernels' scratch (src/dmc/kernels/arm/scratch.h: kWindows, kChannels,
# column_stride; the sizes must match the kernels', which run the portable path otherwise)
ARM_WINDOWS, ARM_CHANNELS, ARM_COLUMN_STRIDES = 4, 16, (64, 128, 256, 336)


def arm_dsp_scratch_bytes(model, p: Plan) -> int:
    """Bytes of scratch the Cortex-M DSP-extension kernels need (activations and weights unpacked
    to 16-bit lanes): the largest need of any step, plus 3 to align it. Builds with those
    kernels place it after the planned arena; 0 when no step uses them."""
    need = 0
    for st in p.steps:
        a = st.op["attrs"]
        shape = a.get("weight_shape") or [0, 0]
        if st.kernel == "conv2d":
            padded = -(-int(np.prod(shape[1:])) // 4) * 4
            stride = next((s for s in ARM_COLUMN_STRIDES if 2 * padded <= s), 0)
            if stride:
                need = max(need, ARM_WINDOWS * stride + 2 * padded * min(int(shape[0]), ARM_CHANNELS))
            pool = st.fused["attrs"] if st.fused else None
            if (list(a["stride"]) == [1, 1] and list(a["dilation"]) == [1, 1] and pool
                    and pool["kernel"][0] == 2 and pool["stride"][0] == 2):
                # conv2d_pool2: a 16-bit plane of the input and one filter's (shifted) lane pairs
                _, ic, kh, kw = map(int, shape)
                _, oh, ow = model.tensors[st.output]["shape"]
                pairs = (kw + 2) // 2
                plane_words = ic * (2 * oh + kh - 1) * (2 * (ow - 1) + 2 * pairs) // 2
                need = max(need, 4 * (plane_words + ic * kh * 2 * pairs))
        elif st.kernel == "linear" and a["weight_bits"] in (8, 4) and int(shape[1]) >= 8:
            need = max(need, 2 * (-(-int(shape[1]) // 8) * 8))
    return need + 3 if need else 0


def _fusable_pool(op) -> bool:
    a = op["attrs"]
    k, s, pad = a["kernel"], a["stride"], a["padding"]
    return k[0] == k[1] and s[0] == s[1] and list(pad) == [0, 0]
