"""Code generation: IntModel -> ``NAME.h`` / ``NAME.cpp`` for the C++ runtime in src/.

The generated code holds the packed weights and every constant in flash (``DMC_FLASH``), one
static arena planned by :mod:`dmc.planner`, and a ``NAME_predict()`` that calls one
template-specialized kernel per step with its arguments in flash. Output is deterministic:
the same artifact always gives the same bytes.
"""
from __future__ import annotations

import hashlib
import keyword
import re
from pathlib import Path

import numpy as np

from ..core.artifact import dumps
from ..core.intmodel import IntModel
from ..core.planner import HCW, Plan, arm_dsp_scratch_bytes, plan
from ..core.weights import sparse_arrays, weight_storage
from ..errors import DMCError
from ..version import __version__

CPP_KEYWORDS = frozenset("""alignas alignof and and_eq asm auto bitand bitor bool break case catch char char16_t
char32_t class compl const constexpr const_cast continue decltype default delete do double dynamic_cast else enum
explicit export extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq
nullptr operator or or_eq private protected public register reinterpret_cast return short signed sizeof static
static_assert static_cast struct switch template this thread_local throw true try typedef typeid typename union
unsigned using virtual void volatile wchar_t while xor xor_eq main setup loop""".split())


class CodegenError(DMCError):
    pass


def check_identifier(name: str) -> str:
    """A model name must be a C identifier that clashes with nothing.

    >>> check_identifier("lenet")
    'lenet'
    >>> check_identifier("class")
    Traceback (most recent call last):
    ...
    dmc.cpp_codegen.CodegenError: model name 'class' is a C++ keyword or a reserved Arduino name
    """
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name or ""):
        raise CodegenError(f"model name {name!r} must be a C identifier: a letter, then letters, digits or '_'")
    if name in CPP_KEYWORDS or keyword.iskeyword(name):
        raise CodegenError(f"model name '{name}' is a C++ keyword or a reserved Arduino name")
    if name.lower().startswith("dmc"):
        raise CodegenError(f"model name '{name}' may not start with 'dmc' (reserved for the runtime)")
    return name


def c_array(ctype: str, name: str, values, per_line: int = 16, hex_bytes: bool = False) -> str:
    """A flash array definition.

    >>> print(c_array("uint8_t", "w", [1, 255], hex_bytes=True))
    const uint8_t w[2] DMC_FLASH = {
      0x01, 0xff,
    };
    """
    vals = [f"0x{int(v):02x}" if hex_bytes else str(int(v)) for v in np.asarray(values).ravel()]
    lines = [", ".join(vals[i:i + per_line]) + "," for i in range(0, len(vals), per_line)]
    return f"const {ctype} {name}[{len(vals)}] DMC_FLASH = {{\n" + "\n".join("  " + ln for ln in lines) + "\n};"


def avr_kernel_width(weight_bits: int, in_bits: int, kernel_hw, dilation_w: int, in_w: int) -> int:
    """The KW template argument of a conv step: its kernel width when the AVR inner loops take the
    layer (src/dmc/kernels/avr/conv2d.h: 8- or 4-bit weights, adjacent columns, rows starting on
    the same nibble phase, a channel within one 24-bit sum), else 0 (the portable loop)."""
    kh, kw = kernel_hw
    ok = weight_bits in (8, 4) and dilation_w == 1 and (in_bits == 8 or in_w % 2 == 0) and kh * kw <= 256
    return int(kw) if ok and kw <= 255 else 0


def avr_window_pairs(kernel_width: int, stride_w: int, pool_k: int) -> bool:
    """The PAIRS template argument of a conv step: whether the AVR loops take its windows in
    side-by-side pairs sharing weight and activation loads (src/dmc/kernels/avr/conv2d.h:
    conv_pooled_pairs), which needs the AVR loops (kernel_width), stride_w 1 and a fused max pool
    of even width. An AVR build then compiles the pair loops only (about 5 KB per signature with
    8-bit weights; a layer without padding leaves their edge loops out, see CodeGen.layout)."""
    return bool(kernel_width) and stride_w == 1 and pool_k % 2 == 0


def avr_kernel_widths(model: IntModel, p: Plan) -> dict[int, int]:
    """The KW template argument of every dense conv step (step index -> KW), one AVR loop per
    kernel signature: each (kernel, weight/input/output bits) is compiled once per distinct KW,
    and an instantiation of the AVR loops costs 2.5-4 KB of flash (an Uno has 32). When some
    layer of a signature cannot take the AVR loops (KW 0), its portable loop is in the firmware
    anyway, so every layer of that signature takes it too: one instantiation instead of two or
    three, traded for those layers' speed (the edge_nano scaled to the Uno fits its flash only so)."""
    chosen: dict[int, int] = {}
    groups: dict[tuple, list[int]] = {}
    for i, st in enumerate(p.steps):
        if st.kernel not in ("conv2d", "depthwise_conv2d") or weight_storage(st.op) == "dcsr":
            continue
        a = st.op["attrs"]
        ib = model.tensors[st.inputs[0]]["bits"]
        chosen[i] = avr_kernel_width(a["weight_bits"], ib, a["weight_shape"][2:], a["dilation"][1],
                                     model.tensors[st.inputs[0]]["shape"][2])
        # (the layouts too: each LAYOUT template argument is an instantiation of its own)
        key = (st.kernel, a["weight_bits"], ib, model.tensors[st.output]["bits"], p.layout(st.inputs[0]),
               p.layout(st.output), p.overlapping(st))
        groups.setdefault(key, []).append(i)
    for steps in groups.values():
        if any(chosen[i] == 0 for i in steps):
            chosen.update(dict.fromkeys(steps, 0))
    return chosen


def _u8(v, what, where):
    v = int(v)
    if not 0 <= v <= 255:
        raise CodegenError(f"{where}: {what} = {v} exceeds the runtime's 8-bit field (0..255)")
    return v


def _u16(v, what, where):
    v = int(v)
    if not 0 <= v <= 65535:
        raise CodegenError(f"{where}: {what} = {v} exceeds the runtime's 16-bit field (0..65535)")
    return v


class _Emitter:
    def __init__(self, model: IntModel, name: str, p: Plan):
        self.m, self.name, self.p = model, name, p
        self.kernel_widths = avr_kernel_widths(model, p)
        self.data: list[str] = []
        self.calls: list[str] = []

    def buf(self, tensor):
        return f"{self.name}_arena + {self.p.offset(tensor)}"

    def tq(self, tensor):
        t = self.m.tensors[tensor]
        return t["bits"], t["zero_point"], (1 << t["bits"]) - 1

    def layout(self, st, pairs: bool = False) -> str:
        """The LAYOUT template argument of a conv step (src/dmc/kernels/conv2d.h), '' when plain;
        kUnpadded on a step whose every 2 x 2 pool group the AVR pair loops' runs take (no
        padding; the conditions of conv2d_outputs' pair_pool_row), so its edge loops are left out;
        kGroupCut on one whose groups at the padding all go to conv_group_cut (one input channel)."""
        a = st.op["attrs"]
        n_c, kh, kw = a["weight_shape"][1:]
        ib = self.m.tensors[st.inputs[0]]["bits"]
        pk, ps = (st.fused["attrs"]["kernel"][0], st.fused["attrs"]["stride"][0]) if st.fused else (1, 1)
        unpadded = (pairs and not any(a["padding"]) and pk == 2 and n_c * kh * kw <= 256
                    and (ib == 8 or ps % 2 == 0) and self.m.tensors[st.output]["shape"][-1] <= 255)
        # avr::group_cut_fits for every group (kMaxGroupCodes = 36 gathered codes)
        group_cut = (pairs and not unpadded and n_c == 1 and pk == 2 and a["dilation"][0] == 1
                     and (kh + a["stride"][0]) * (kw + 1) <= 36)
        bits = [name for on, name in ((self.p.layout(st.inputs[0]) == HCW, "dmc::kInterleavedIn"),
                                      (self.p.layout(st.output) == HCW, "dmc::kInterleavedOut"),
                                      (self.p.overlapping(st), "dmc::kOverlapping"),
                                      (unpadded, "dmc::kUnpadded"), (group_cut, "dmc::kGroupCut")) if on]
        return f", {' | '.join(bits)}" if bits else ""

    def weights(self, op):
        n = op["name"]
        c = op["attrs"]["alias"]
        w = self.m.arrays
        if weight_storage(op) == "dcsr":  # the sparse stream (FORMAT.md), read by the sparse kernels as stored
            stream_key, rows_key = sparse_arrays(op)
            stream = w[stream_key]  # an all-zero layer has none: one unread byte keeps C++ happy
            self.data.append(c_array("uint8_t", f"w_{c}", stream if stream.size else [0], hex_bytes=True))
            self.data.append(c_array("uint16_t", f"wr_{c}", w[rows_key], per_line=12))
            c_w = f"w_{c}, wr_{c}"
        else:
            self.data.append(c_array("uint8_t", f"w_{c}", w[f"{n}.weight"], hex_bytes=True))
            c_w = f"w_{c}"
        self.data.append(c_array("int32_t", f"b_{c}", self.folded_bias(op), per_line=8))
        self.data.append(c_array("int16_t", f"m_{c}", w[f"{n}.multiplier"], per_line=12))
        self.data.append(c_array("uint8_t", f"s_{c}", w[f"{n}.shift"]))
        return f"{c_w}, b_{c}, m_{c}, s_{c}", int(w[f"{n}.multiplier"].size > 1)

    def folded_bias(self, op) -> np.ndarray:
        """bias - zin * sum(w) per output channel: the kernels then accumulate sum(in * w)
        (see src/dmc/kernels/conv2d.h). Same integers; checked to stay within int32."""
        _, zin, qmax_in = self.tq(op["inputs"][0])
        w = self.m.weight(op).astype(np.int64).reshape(op["attrs"]["weight_shape"][0], -1)
        b = self.m.arrays[f"{op['name']}.bias"].astype(np.int64) - zin * w.sum(1)
        bound = int((np.abs(b) + qmax_in * np.abs(w).sum(1)).max())
        if bound > (1 << 31) - 1:
            raise CodegenError(f"op '{op['name']}': with the zero point folded into the bias the accumulator "
                               f"can reach {bound}, beyond int32; lower the layer's bit widths")
        return b

    def step(self, index: int, st):
        op, a = st.op, st.op["attrs"]
        where = f"op '{op['name']}' ({op['op']})"
        # weighted layers are named by their unique alias; other steps by position (op names may
        # differ only in characters C++ identifiers cannot hold)
        c = a.get("alias") or f"step{index}"
        ins = st.inputs
        ib, iz, iq = self.tq(ins[0])
        ob, oz, _ = self.tq(st.output)
        desc = f"{_comment(a.get('alias', op['name']))}: {op['op']}"
        if st.kernel in ("conv2d", "depthwise_conv2d", "grouped_conv2d"):
            ptrs, per_ch = self.weights(op)
            oc, _, kh, kw = a["weight_shape"]
            cin, h, w = self.m.tensors[ins[0]]["shape"]
            _, oh, ow = self.m.tensors[st.output]["shape"]
            pk = ps = 1
            if st.fused:
                pk, ps = st.fused["attrs"]["kernel"][0], st.fused["attrs"]["stride"][0]
                desc += f" + fused max pool {pk}x{pk}/{ps}"
            t, _, l, _ = a["padding"]
            fields = [ptrs, *(_u16(v, "size", where) for v in (cin, h, w, oc, oh, ow)),
                      *(_u8(v, "kernel/stride/dilation/padding", where) for v in
                        (kh, kw, *a["stride"], *a["dilation"], t, l, pk, ps)),
                      iz, oz, *a["clamp"], per_ch]
            sparse = "Sparse" if weight_storage(op) == "dcsr" else ""
            self.data.append(f"const dmc::{sparse}Conv2dArgs a_{c} DMC_FLASH = {{{', '.join(map(str, fields))}}};")
            if sparse or st.kernel == "grouped_conv2d":
                groups = f", {_u16(a['groups'], 'groups', where)}" if st.kernel == "grouped_conv2d" else ""
                self.calls.append(f"  dmc::{'sparse_' if sparse else ''}{st.kernel}<{a['weight_bits']}, {ib}, {ob}>("
                                  f"{self.buf(ins[0])}, {self.buf(st.output)}, &a_{c}{groups});  // {desc}")
            else:
                kw_arg = self.kernel_widths[index]
                pairs = avr_window_pairs(kw_arg, a["stride"][1], pk)
                layout = self.layout(st, pairs)
                # template arguments PAIRS, LAYOUT (src/dmc/kernels/conv2d.h); PAIRS spelled out
                # only when set or when LAYOUT follows it
                pairs = ", true" if pairs else (", false" if layout else "")
                if self.p.overlapping(st):
                    desc += f" (written over its input, {self.p.offset(ins[0]) - self.p.offset(st.output)} B below it)"
                self.calls.append(f"  dmc::{st.kernel}<{a['weight_bits']}, {ib}, {ob}, {kw_arg}{pairs}{layout}>("
                                  f"{self.buf(ins[0])}, {self.buf(st.output)}, &a_{c});  // {desc}")
        elif st.kernel == "linear":
            ptrs, per_ch = self.weights(op)
            out_f, in_f = a["weight_shape"]
            fields = [ptrs, _u16(in_f, "in_features", where), _u16(out_f, "out_features", where),
                      iz, oz, *a["clamp"], per_ch]
            sparse = "Sparse" if weight_storage(op) == "dcsr" else ""
            self.data.append(f"const dmc::{sparse}LinearArgs a_{c} DMC_FLASH = {{{', '.join(map(str, fields))}}};")
            self.calls.append(f"  dmc::{'sparse_' if sparse else ''}linear<{a['weight_bits']}, {ib}, {ob}>({self.buf(ins[0])}, "
                              f"{self.buf(st.output)}, &a_{c});  // {desc}")
        elif st.kernel in ("max_pool2d", "avg_pool2d", "global_avg_pool"):
            ch, h, w = self.m.tensors[ins[0]]["shape"]
            _, oh, ow = self.m.tensors[st.output]["shape"]
            if st.kernel == "global_avg_pool":
                window = [0] * 6                      # the whole plane; unused by the kernel
            else:
                window = [_u8(v, "kernel/stride/padding", where)
                          for v in (*a["kernel"], *a["stride"], *a["padding"])]
            fields = [*(_u16(v, "size", where) for v in (ch, h, w, oh, ow)), *window,
                      iz, iq, a.get("multiplier", 0), a.get("shift", 0)]
            self.data.append(f"const dmc::Pool2dArgs a_{c} DMC_FLASH = {{{', '.join(map(str, fields))}}};")
            self.calls.append(f"  dmc::{st.kernel}<{ib}>({self.buf(ins[0])}, {self.buf(st.output)}, &a_{c});  // {desc}")
        elif st.kernel == "add":
            bb, bz, _ = self.tq(ins[1])
            size = int(np.prod(self.m.tensors[st.output]["shape"]))
            ma, mb = a["multipliers"]
            fields = [size, ma, mb, _u8(a["shift"], "shift", where), iz, bz, oz, *a["clamp"]]
            self.data.append(f"const dmc::AddArgs a_{c} DMC_FLASH = {{{', '.join(map(str, fields))}}};")
            self.calls.append(f"  dmc::add<{ib}, {bb}, {ob}>({self.buf(ins[0])}, {self.buf(ins[1])}, "
                              f"{self.buf(st.output)}, &a_{c});  // {desc}{' (in place)' if st.inplace else ''}")
        elif st.kernel == "clamp":
            size = int(np.prod(self.m.tensors[st.output]["shape"]))
            lo, hi = a["clamp"]
            self.calls.append(f"  dmc::clamp<{ib}>({self.buf(ins[0])}, {self.buf(st.output)}, {size}, {lo}, {hi});"
                              f"  // {desc}{' (in place)' if st.inplace else ''}")
        elif st.kernel == "pad":
            ch, h, w = self.m.tensors[ins[0]]["shape"]
            fields = [*(_u16(v, "size", where) for v in (ch, h, w)),
                      *(_u8(v, "padding", where) for v in a["padding"]), a["value"]]
            self.data.append(f"const dmc::PadArgs a_{c} DMC_FLASH = {{{', '.join(map(str, fields))}}};")
            self.calls.append(f"  dmc::pad<{ib}>({self.buf(ins[0])}, {self.buf(st.output)}, &a_{c});  // {desc}")
        elif st.kernel in ("channel_shift", "hard_sigmoid", "hard_swish", "channel_mul"):
            self.squeeze_excitation_step(st, c, where, desc)
        else:  # pragma: no cover
            raise CodegenError(f"{where}: no kernel for {st.kernel}")

    def squeeze_excitation_step(self, st, c, where, desc):
        """The ops of the MicroSign-Edge blocks: channel shift, hard activations, channel multiply."""
        a, ins = st.op["attrs"], st.inputs
        ib, iz, _ = self.tq(ins[0])
        ob, oz, oq = self.tq(st.output)
        note = f"  // {desc}{' (in place)' if st.inplace else ''}"
        if st.kernel == "channel_shift":
            ch, h, w = self.m.tensors[ins[0]]["shape"]
            fields = [*(_u16(v, "size", where) for v in (ch, h, w)),
                      *(_u16(v, "shift count", where) for v in a["counts"]), iz]
            self.data.append(f"const dmc::ShiftArgs a_{c} DMC_FLASH = {{{', '.join(map(str, fields))}}};")
            self.calls.append(f"  dmc::channel_shift<{ib}>({self.buf(ins[0])}, {self.buf(st.output)}, &a_{c});{note}")
        elif st.kernel in ("hard_sigmoid", "hard_swish"):
            size = int(np.prod(self.m.tensors[st.output]["shape"]))
            fields = [size, a["offset"], a["multiplier"], _u8(a["shift"], "shift", where),
                      _u8(a["frac_bits"], "frac_bits", where), iz, oz, oq]
            self.data.append(f"const dmc::HardActivationArgs a_{c} DMC_FLASH = {{{', '.join(map(str, fields))}}};")
            self.calls.append(f"  dmc::{st.kernel}<{ib}, {ob}>({self.buf(ins[0])}, {self.buf(st.output)}, &a_{c});{note}")
        else:
            gb, gz, _ = self.tq(ins[1])
            ch, h, w = self.m.tensors[ins[0]]["shape"]
            fields = [_u16(ch, "channels", where), h * w, a["multiplier"], _u8(a["shift"], "shift", where),
                      iz, gz, oz, oq]
            self.data.append(f"const dmc::ChannelMulArgs a_{c} DMC_FLASH = {{{', '.join(map(str, fields))}}};")
            self.calls.append(f"  dmc::channel_mul<{ib}, {gb}, {ob}>({self.buf(ins[0])}, {self.buf(ins[1])}, "
                              f"{self.buf(st.output)}, &a_{c});{note}")


def generate(model: IntModel, name: str, overlap: str = "auto") -> dict[str, str]:
    """Return {"NAME.h": text, "NAME.cpp": text} for ``model`` (``overlap``: see :func:`dmc.core.planner.plan`)."""
    check_identifier(name)
    p = plan(model, overlap)
    e = _Emitter(model, name, p)
    for i, st in enumerate(p.steps):
        e.step(i, st)
    up = name.upper()
    cls = name[0].upper() + name[1:] + "Model"
    digest = hashlib.sha256(dumps(model)).hexdigest()[:16]
    inq, outq = model.input_quant, model.output_quant
    n_in, n_out = int(np.prod(model.input_shape)), int(np.prod(model.output_shape))
    max_elems = max(int(np.prod(t["shape"])) for t in model.tensors.values())
    for what, t in (("input", model.input_name), ("output", model.output)):
        if model.tensor_bytes(t) > 65535:
            raise CodegenError(f"the model's {what} takes {model.tensor_bytes(t)} bytes; the runtime and its "
                               "serial protocol address at most 65535")
    head = (f"// Generated by dmc {__version__} from a .dmc model (sha256 {digest}). Do not edit: re-export.\n"
            f"// {len(p.steps)} kernels, {model.model_bytes} model bytes in flash, {p.arena_bytes} arena bytes "
            f"of SRAM, {model.total_macs} MACs per inference.\n")
    scratch = arm_dsp_scratch_bytes(model, p)
    arena_define = f"#define {up}_ARENA_BYTES {p.arena_bytes}u\n"
    set_scratch = ""
    if scratch:  # the DSP kernels' scratch after the planned arena (src/dmc/kernels/arm/scratch.h)
        arena_define = (f"#if DMC_ARM_DSP  // + {scratch} B of scratch for the Cortex-M DSP kernels\n"
                        f"#define {up}_ARENA_BYTES {p.arena_bytes + scratch}u\n#else\n{arena_define}#endif\n")
        set_scratch = (f"#if DMC_ARM_DSP\n  dmc::arm::set_scratch({name}_arena + {p.arena_bytes}, {scratch}u);\n"
                       "#endif\n")
    h = f"""{head}#ifndef {up}_MODEL_H
#define {up}_MODEL_H

#include <DeepMicroCompression.h>

{arena_define}#define {up}_MODEL_BYTES {model.model_bytes}ul
#define {up}_MACS {model.total_macs}ul
#define {up}_INPUT_SIZE {n_in}u
#define {up}_INPUT_BITS {inq['bits']}
#define {up}_INPUT_BYTES {model.tensor_bytes(model.input_name)}u
#define {up}_INPUT_ZERO_POINT {inq['zero_point']}
#define {up}_INPUT_SCALE {_float(inq['scale'])}
#define {up}_OUTPUT_SIZE {n_out}u
#define {up}_OUTPUT_BITS {outq['bits']}
#define {up}_OUTPUT_BYTES {model.tensor_bytes(model.output)}u
#define {up}_OUTPUT_ZERO_POINT {outq['zero_point']}
#define {up}_OUTPUT_SCALE {_float(outq['scale'])}

extern uint8_t {name}_arena[{up}_ARENA_BYTES];
void {name}_predict();

/* The model's input and output live in {name}_arena; predict() may overwrite the input. */
struct {cls} {{
  static uint16_t input_size() {{ return {up}_INPUT_SIZE; }}
  static uint16_t input_bytes() {{ return {up}_INPUT_BYTES; }}
  static uint8_t input_bits() {{ return {up}_INPUT_BITS; }}
  static uint16_t output_size() {{ return {up}_OUTPUT_SIZE; }}
  static uint16_t output_bytes() {{ return {up}_OUTPUT_BYTES; }}
  static uint8_t output_bits() {{ return {up}_OUTPUT_BITS; }}
  static uint32_t arena_bytes() {{ return {up}_ARENA_BYTES; }}
  static uint32_t model_bytes() {{ return {up}_MODEL_BYTES; }}
  static uint32_t macs() {{ return {up}_MACS; }}
  uint8_t *input() const {{ return {name}_arena + {p.offset(model.input_name)}; }}
  const uint8_t *output() const {{ return {name}_arena + {p.offset(model.output)}; }}
  void predict() const {{ {name}_predict(); }}
  /* input code i (0..2^bits-1), packed as the runtime expects */
  void set_input(dmc::index_t i, uint8_t code) const {{ dmc::set_packed_value(input(), i, code, {up}_INPUT_BITS); }}
  /* quantizes a float with the model's input scale (links float code) */
  void set_input_float(dmc::index_t i, float x) const {{
    set_input(i, dmc::quantize_float(x, {up}_INPUT_SCALE, {up}_INPUT_ZERO_POINT, {(1 << inq['bits']) - 1}));
  }}
  uint8_t output_code(dmc::index_t i) const {{ return dmc::get_packed_value(output(), i, {up}_OUTPUT_BITS); }}
  float output_float(dmc::index_t i) const {{
    return dmc::dequantize(output_code(i), {up}_OUTPUT_SCALE, {up}_OUTPUT_ZERO_POINT);
  }}
  dmc::index_t argmax() const {{ return dmc::argmax(output(), {up}_OUTPUT_SIZE, {up}_OUTPUT_BITS); }}
}};

static const {cls} {name} = {{}};

#endif  // {up}_MODEL_H
"""
    cpp = f"""{head}#include "{name}.h"

static_assert(sizeof(dmc::index_t) >= 4 || {max_elems}ul <= 65535ul,
              "{name}: a tensor has more elements than dmc::index_t can address");

uint8_t {name}_arena[{up}_ARENA_BYTES];

namespace {{

{chr(10).join(e.data)}

}}  // namespace

void {name}_predict() {{
{set_scratch}{chr(10).join(f"{call}{chr(10)}  DMC_PROFILE_STEP({i});" for i, call in enumerate(e.calls))}
}}
"""
    return {f"{name}.h": h, f"{name}.cpp": cpp}


def _comment(text: str) -> str:
    """``text`` safe inside a ``//`` comment: op names come from the model file, and a newline
    or a trailing backslash there would end the comment early or swallow the next line of code."""
    return re.sub(r"[^A-Za-z0-9_.:+()\[\] -]", "_", text)


def _float(v: float) -> str:
    """A float literal that round-trips the float32 value."""
    return f"{float(np.float32(v)):.9g}f"


def codegen(model: IntModel, out_dir, name: str, overlap: str = "auto") -> list[Path]:
    """Write ``NAME.h`` and ``NAME.cpp`` into ``out_dir``; files whose content is unchanged are
    not rewritten (so build systems do not recompile them). Returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fname, text in generate(model, name, overlap).items():
        path = out / fname
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        paths.append(path)
    return paths
