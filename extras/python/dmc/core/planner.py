"""Execution and memory plan for the C++ runtime: which kernel runs each op, which ops are
fused, how each activation is laid out and where it lives in the one static arena.

* conv2d followed by a max pool (no padding, square window) that alone reads it is fused: the
  conv output never exists in SRAM.
* flatten is free (the bytes are already in CHW order); the element-wise steps (clamp, add,
  channel shift, hard-sigmoid / hard-swish, channel multiply) run in place when their (first)
  input dies at that step and has the same bit width.
* Overlapping convs (``overlap``): a dense conv computes its output one (pooled) row at a time,
  every output channel of that row before the next row, so the input rows above the current
  window are dead once the row is written. Its output may then start below its input and grow
  over the input rows it has consumed, as long as every byte it writes lies below the first
  input byte still to be read (:func:`overlap_distance`: the smallest input-minus-output offset
  that guarantees it, to the byte). A conv output read only by dense convs is laid out with its
  rows interleaved (``HCW``: row y holds row y of every channel, so the tensor is written
  front to back while it is computed); the convs that read it take the row and channel strides
  of that layout. The model input and output and everything read by other kernels stay CHW.
* Buffers are placed greedily, largest first, at the lowest offset that does not overlap a
  buffer alive at the same time (the model output stays alive after the last step), except
  that an overlapping conv's output and its input may share the bytes its distance allows.

``overlap="auto"`` (the default) plans both ways and keeps the overlapping plan only when its
arena is smaller by at least ``AUTO_MIN_SAVING`` (a 16th): the plain plan keeps every layer on
the fastest kernels (the Cortex-M DSP column loops leave a conv over its input with more than 16
output channels to the portable loop), and each layout that overlapping brings is a kernel
instantiation of its own. ``"always"`` overlaps and interleaves wherever legal (the parity
tests use it), ``"never"`` never does, and ``"input"`` lets only the convs that read the model
input write over it, every layout CHW: most of the saving of a first conv over a large input
image, without the instantiations (an edge_nano's four more 1x1-conv layouts would not fit the
Uno's flash). A model whose compression config set ``overlap`` carries it in ``meta["overlap"]``, and
"auto" then means that mode.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, DMCError
from .weights import weight_storage

OVERLAP_MODES = ("auto", "always", "input", "never")
# overlap="auto" keeps the overlapping plan only when it saves at least this share of the plain
# arena: each layout it brings is a kernel instantiation of its own (1.4-2.5 KB of AVR flash), not
# worth a few bytes of SRAM (LeNet-5 saves 14-31%; the Uno-scaled edge_nano would save 25 of
# 1495 B and no longer fit the Uno's flash)
AUTO_MIN_SAVING = 1 / 16
CHW, HCW = "CHW", "HCW"


@dataclass
class Step:
    kernel: str                 # conv2d, depthwise_conv2d, linear, max_pool2d, avg_pool2d, ...
    op: dict                    # the main op
    inputs: list[str]           # tensors read
    output: str                 # tensor written
    fused: dict | None = None   # the max pool fused into a conv
    inplace: bool = False
    overlap: int | None = None  # overlapping conv: input offset - output offset must be >= this


@dataclass
class Plan:
    steps: list[Step]
    buffer_of: dict[str, str]           # tensor -> buffer (tensor name that owns the bytes)
    offsets: dict[str, int] = field(default_factory=dict)   # buffer -> arena offset
    sizes: dict[str, int] = field(default_factory=dict)     # buffer -> bytes
    arena_bytes: int = 0
    layouts: dict[str, str] = field(default_factory=dict)   # tensor -> HCW; absent: CHW
    lifetimes: dict[str, tuple[int, int]] = field(default_factory=dict)  # buffer -> (first, last) step

    def offset(self, tensor: str) -> int:
        return self.offsets[self.buffer_of[tensor]]

    def layout(self, tensor: str) -> str:
        return self.layouts.get(tensor, CHW)

    def overlapping(self, step: Step) -> bool:
        """Whether the step's output was placed over (part of) its input."""
        if step.overlap is None:
            return False
        i, o = self.offset(step.inputs[0]), self.offset(step.output)
        return i < o + self.sizes[self.buffer_of[step.output]] and o < i + self.sizes[self.buffer_of[step.inputs[0]]]

    def live_at(self, s_idx: int) -> list[str]:
        """The buffers alive during step ``s_idx`` (-1: the input before the first step)."""
        return [b for b, (lo, hi) in self.lifetimes.items() if lo <= s_idx <= hi]


# kernels that read element i before writing element i (the shift in a direction-aware order),
# so their output may take their first input's buffer
INPLACE_KERNELS = ("clamp", "add", "channel_shift", "hard_sigmoid", "hard_swish", "channel_mul")
# the dense conv kernels that compute row by row (src/dmc/kernels/conv2d.h) and take any layout
ROW_KERNELS = ("conv2d", "depthwise_conv2d")


class PlanError(DMCError):
    pass


class ArenaTooLargeError(PlanError):
    """The planned arena exceeds the SRAM a board leaves for activations."""


def plan(model, overlap: str = "auto") -> Plan:
    """The plan of an integer model (anything with ops, tensors, output and tensor_bytes())."""
    if overlap not in OVERLAP_MODES:
        raise ConfigError(f"overlap must be one of {list(OVERLAP_MODES)}, got {overlap!r}")
    if overlap == "auto":           # the compression config may have fixed it (config['overlap'])
        overlap = (getattr(model, "meta", None) or {}).get("overlap", "auto")
        if overlap not in OVERLAP_MODES:
            raise PlanError(f"the model's meta['overlap'] is {overlap!r}, not one of {list(OVERLAP_MODES)}")
    if model.scheme != "static":
        raise PlanError("only the static (integer-only) scheme can be compiled for the C++ runtime; "
                        "this model uses the dynamic scheme (float activations)")
    if overlap == "auto":
        plain, fine = _plan(model, False), _plan(model, True)
        return fine if plain.arena_bytes - fine.arena_bytes >= plain.arena_bytes * AUTO_MIN_SAVING else plain
    return _plan(model, {"always": True, "input": "input", "never": False}[overlap])


def _plan(model, overlap) -> Plan:
    """``overlap``: False, True (wherever legal, with interleaved layouts) or "input" (only the
    convs reading the model input, CHW layouts)."""
    ops = model.ops
    readers: dict[str, list[int]] = {}
    for i, op in enumerate(ops):
        for t in op["inputs"]:
            readers.setdefault(t, []).append(i)
    buffer_of = {ops[0]["name"]: ops[0]["name"]}
    steps: list[Step] = []
    step_of_op: dict[int, int] = {}
    skip = set()
    for i, op in enumerate(ops[1:], start=1):
        if i in skip:
            continue
        kind, name = op["op"], op["name"]
        ins = list(op["inputs"])
        if kind == "flatten":
            buffer_of[name] = buffer_of[ins[0]]
            continue
        step_of_op[i] = len(steps)
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
    p = Plan(steps, buffer_of, sizes=sizes, lifetimes={b: (first[b], last.get(b, first[b])) for b in sizes})
    pairs: dict[tuple[str, str], int] = {}       # (input buffer, output buffer) -> overlap distance
    if overlap:
        if overlap is True:
            p.layouts = _interleaved(model, steps, readers, step_of_op)
        for s_idx, step in enumerate(steps):
            if not _row_kernel(step) or overlap == "input" and step.inputs[0] != ops[0]["name"]:
                continue
            src, dst = buffer_of[step.inputs[0]], buffer_of[step.output]
            if last[src] == s_idx and src != buffer_of[model.output] and first[dst] == s_idx:
                step.overlap = overlap_distance(model, step, p.layout(step.inputs[0]), p.layout(step.output))
                pairs[(src, dst)] = step.overlap
    order = sorted(sizes, key=lambda b: (-sizes[b], first.get(b, 0), b))
    best = _place(p, order, pairs)
    # an overlapping output must lie below its input: also try placing it just before its input
    # (for one pair at a time and for all; in step order, so that a chain of overlaps nests)
    for chosen in [[pair] for pair in pairs] + ([list(pairs)] if len(pairs) > 1 else []):
        hoisted = list(order)
        for src, dst in chosen:
            hoisted.remove(dst)
            hoisted.insert(hoisted.index(src), dst)
        other = _place(p, hoisted, pairs)
        if max(other.values(), default=0) < max(best.values(), default=0):
            best = other
    if not pairs:
        # greedy lowest-offset placement fragments a chain of blocks whose small outputs sit next
        # to big temporaries (an edge_nano: 1813 B where 1568 B are alive at most); placing each
        # buffer at the end of the arena away from the one written before it packs them
        ends = _place_two_ended(p, sorted(sizes, key=lambda b: (first.get(b, 0), -sizes[b], b)),
                                max(best.values(), default=0))
        if ends is not None:
            best, order = ends, list(ends)
    p.offsets = {b: best[b] - sizes[b] for b in order}
    p.arena_bytes = max(best.values(), default=0)
    return p


def _place_two_ended(p: Plan, order: list[str], limit: int) -> dict[str, int] | None:
    """Placement in an arena of the smallest size below ``limit`` (tried upwards from the most
    bytes alive at one step: 8-byte steps, then 16 even ones up to ``limit``, so that a large
    model plans in a bounded time) where each buffer, in ``order``, goes to the lowest or the
    highest free offset: the end farther from the latest-written buffer alive beside it.
    Returns buffer -> end offset, or None when no size below ``limit`` works."""
    n_steps = max((hi for _, hi in p.lifetimes.values()), default=0)
    peak = max((sum(p.sizes[b] for b in p.live_at(s)) for s in range(-1, n_steps + 1)), default=0)
    sizes = sorted({peak + 8 * i for i in range(8)} | {peak + (limit - peak) * i // 16 for i in range(16)})
    for size in (s for s in sizes if s < limit):
        offsets: dict[str, int] = {}
        for b in order:
            lo_b, hi_b = p.lifetimes[b]
            need = p.sizes[b]
            clash = [o for o in offsets if not (p.lifetimes[o][1] < lo_b or hi_b < p.lifetimes[o][0])]
            forbidden = [(offsets[o] - need, offsets[o] + p.sizes[o]) for o in clash]
            starts = [s for s in {0, size - need} | {hi for _, hi in forbidden} | {lo for lo, _ in forbidden}
                      if 0 <= s <= size - need and not any(lo < s < hi for lo, hi in forbidden)]
            if not starts:
                break
            newest = max(clash, key=lambda o: (p.lifetimes[o][0], offsets[o]), default=None)
            high = newest is not None and offsets[newest] + p.sizes[newest] / 2 < size / 2
            offsets[b] = max(starts) if high else min(starts)
        else:
            return {b: offsets[b] + p.sizes[b] for b in order}
    return None


def _place(p: Plan, order: list[str], pairs: dict) -> dict[str, int]:
    """Greedy placement in ``order``, each buffer at the lowest offset that clashes with no placed
    buffer alive at the same time; returns buffer -> end offset (insertion-ordered by ``order``)."""
    sizes, ends, offsets = p.sizes, {}, {}
    for b in order:
        lo_b, hi_b = p.lifetimes[b]
        forbidden = []                               # open intervals of start offsets
        for other, o in offsets.items():
            lo_o, hi_o = p.lifetimes[other]
            if hi_o < lo_b or hi_b < lo_o:
                continue
            e = o + sizes[other]
            if (b, other) in pairs:                  # b is the input, `other` the output over it
                forbidden.append((o - sizes[b], min(e, o + pairs[(b, other)])))
            elif (other, b) in pairs:                # b is the output, `other` the input under it
                forbidden.append((max(o - sizes[b], o - pairs[(other, b)]), e))
            else:
                forbidden.append((o - sizes[b], e))
        offsets[b] = min(s for s in [0] + [hi for _, hi in forbidden]
                         if s >= 0 and not any(lo < s < hi for lo, hi in forbidden))
        ends[b] = offsets[b] + sizes[b]
    return ends


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


def _row_kernel(step: Step) -> bool:
    return step.kernel in ROW_KERNELS and weight_storage(step.op) == "dense"


def _interleaved(model, steps, readers, step_of_op) -> dict[str, str]:
    """The conv outputs to lay out HCW: written by a dense row-by-row conv and read only by such."""
    out = {}
    for step in steps:
        t = step.output
        if not _row_kernel(step) or t == model.output or not readers.get(t):
            continue
        if all(i in step_of_op and _row_kernel(steps[step_of_op[i]]) for i in readers[t]):
            out[t] = HCW
    return out


def strides(shape, layout: str) -> tuple[int, int]:
    """(channel stride, row stride) in elements of a C x H x W tensor in ``layout``.

    >>> strides((6, 14, 14), "CHW"), strides((6, 14, 14), "HCW")
    ((196, 14), (14, 84))
    """
    c, h, w = shape
    return (h * w, w) if layout == CHW else (w, c * w)


def overlap_distance(model, step: Step, in_layout: str, out_layout: str) -> int:
    """The smallest ``input offset - output offset`` (bytes) with which a row-by-row conv may
    write its output over its own input: no input byte is read after an output byte landed on it.

    The kernel (src/dmc/kernels/conv2d.h) computes the outputs in the order (pooled row py,
    channel oc, column px), each one after reading its windows (only the taps inside the input:
    padding reads nothing). Output k is written after the reads of window k and before those of
    window k + 1, so with ``first_read[k]`` the lowest input byte that windows k + 1, k + 2, ...
    read and ``end[k]`` one past the byte output k lands in (a partly written or read byte of a
    packed tensor counts whole), the distance is ``max_k(end[k] - first_read[k])``.
    """
    a = step.op["attrs"]
    ib = model.tensors[step.inputs[0]]["bits"]
    ob = model.tensors[step.output]["bits"]
    ic, ih, iw = model.tensors[step.inputs[0]]["shape"]
    in_cs, in_rs = strides((ic, ih, iw), in_layout)
    oc, oh, ow = model.tensors[step.output]["shape"]
    out_cs, out_rs = strides((oc, oh, ow), out_layout)
    pk, ps = (step.fused["attrs"]["kernel"][0], step.fused["attrs"]["stride"][0]) if step.fused else (1, 1)
    kh, kw = a["weight_shape"][2:]
    (sh, sw), (dh, dw), (pt, _, pl, _) = a["stride"], a["dilation"], a["padding"]

    def first_tap(origin, k, d, size):
        """Per window origin: the first coordinate of a tap inside [0, size), or `size` if none."""
        skip = np.where(origin < 0, (-origin + d - 1) // d, 0)          # taps above / left of the input
        first = origin + skip * d
        return np.where((skip < k) & (first < size), first, size)

    py, c, px = np.meshgrid(np.arange(oh), np.arange(oc), np.arange(ow), indexing="ij")   # write order
    lowest = np.full(py.shape, np.iinfo(np.int64).max, np.int64)
    for dy in range(pk):
        y = first_tap((py * ps + dy) * sh - pt, kh, dh, ih)
        for dx in range(pk):
            x = first_tap((px * ps + dx) * sw - pl, kw, dw, iw)
            chan = c if a["depthwise"] else 0
            inside = (y < ih) & (x < iw)
            lowest = np.where(inside, np.minimum(lowest, chan * in_cs + y * in_rs + x), lowest)
    lowest = lowest.ravel()
    read_after = np.minimum.accumulate(lowest[::-1])[::-1][1:]     # lowest element of windows k+1, ...
    ends = ((c * out_cs + py * out_rs + px).ravel()[:-1] * ob) // 8 + 1
    live = read_after < np.iinfo(np.int64).max
    if not live.any():
        return 0
    return int(max(0, (ends[live] - (read_after[live] * ib) // 8).max()))


def check_arena(model, p: Plan, limit: int, where: str) -> None:
    """Raise :class:`ArenaTooLargeError` when the arena of ``p`` exceeds ``limit`` bytes, naming
    the step where the most bytes are alive and what they are."""
    if p.arena_bytes <= limit:
        return
    peak, at = -1, -1
    for s_idx in range(-1, len(p.steps)):
        live = sum(p.sizes[b] for b in p.live_at(s_idx))
        if live > peak:
            peak, at = live, s_idx
    step = "before the first step (the input)" if at < 0 else \
        f"at step {at} ({p.steps[at].op['attrs'].get('alias') or p.steps[at].op['name']}, {p.steps[at].kernel})"
    alive = ", ".join(f"'{b}' {p.sizes[b]} B" for b in sorted(p.live_at(at), key=lambda b: (-p.sizes[b], b)))
    raise ArenaTooLargeError(
        f"{where}: the activation arena needs {p.arena_bytes} B but only {limit} B are left for it; the most "
        f"is alive {step}: {alive}. Lower that layer's activation bits or channels, or quantize the input "
        "to fewer bits")
