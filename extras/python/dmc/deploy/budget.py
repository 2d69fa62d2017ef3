"""The budget report of a deployable model: flash, SRAM and MACs per kernel, and whether the
whole thing fits a board."""
from __future__ import annotations

import io

from ..core.intmodel import IntModel
from ..core.planner import arm_dsp_scratch_bytes, check_arena, plan
from .boards import Board
from .flash import avr_flash_estimate


def budget(model: IntModel) -> dict:
    p = plan(model)
    rows = []
    for st in p.steps:
        ops = [st.op] + ([st.fused] if st.fused else [])
        a = st.op["attrs"]
        rows.append({"layer": a.get("alias") or st.op["name"],
                     "kernel": st.kernel + (" + max_pool2d" if st.fused else "") + (" (in place)" if st.inplace else "")
                     + (" (over its input)" if p.overlapping(st) else ""),
                     "output": "x".join(map(str, model.tensors[st.output]["shape"])),
                     "flash": sum(model.op_bytes(o) for o in ops),
                     "sram": model.tensor_bytes(st.output),
                     "offset": p.offset(st.output),
                     "macs": sum(model.macs(o) for o in ops)})
    return {"rows": rows, "arena_bytes": p.arena_bytes, "arm_dsp_scratch_bytes": arm_dsp_scratch_bytes(model, p),
            "model_bytes": model.model_bytes,
            "macs": model.total_macs, "input_offset": p.offset(model.input_name)}


def check_fits(model, board: Board) -> None:
    """Raise :class:`dmc.core.planner.ArenaTooLargeError` when the planned arena exceeds the SRAM
    ``board`` leaves for activations (its SRAM less the runtime's estimated overhead, and less the
    DSP kernels' scratch after the arena on boards that run them)."""
    p = plan(model)
    scratch = arm_dsp_scratch_bytes(model, p) if board.arm_dsp else 0
    check_arena(model, p, board.sram - board.overhead_sram - scratch, f"{board.name}")


def budget_text(model: IntModel, board: Board | None = None) -> tuple[str, bool]:
    """(report, fits) for ``model`` on ``board`` (fits is True without a board)."""
    b = budget(model)
    out = io.StringIO()
    cols = ["layer", "kernel", "output", "flash", "sram", "offset", "macs"]
    heads = {"flash": "flash B", "sram": "out B", "offset": "arena @", "macs": "MACs"}
    w = {c: max(len(heads.get(c, c)), *(len(str(r[c])) for r in b["rows"])) for c in cols}
    line = "  ".join(heads.get(c, c).ljust(w[c]) if c in ("layer", "kernel") else heads.get(c, c).rjust(w[c]) for c in cols)
    out.write(line + "\n" + "-" * len(line) + "\n")
    for r in b["rows"]:
        out.write("  ".join(str(r[c]).ljust(w[c]) if c in ("layer", "kernel") else str(r[c]).rjust(w[c]) for c in cols) + "\n")
    out.write("-" * len(line) + "\n")
    out.write(f"model constants (flash): {b['model_bytes']} B; arena (SRAM): {b['arena_bytes']} B "
              f"(input at offset {b['input_offset']}); {b['macs']} MACs per inference\n")
    fits = True
    if board is not None:
        need_sram = b["arena_bytes"] + board.overhead_sram
        if board.arm_dsp and b["arm_dsp_scratch_bytes"]:
            need_sram += b["arm_dsp_scratch_bytes"]
            out.write(f"{board.name}: the DSP kernels' scratch adds {b['arm_dsp_scratch_bytes']} B to the arena\n")
        if board.avr:
            est = avr_flash_estimate(model)
            need_flash = est["total"]
            out.write("kernel instantiations (estimated AVR flash): " +
                      ", ".join(f"{k} {n}" for k, n in est["kernels"]) + "\n")
            overhead = (f"flash: {est['model']} B model + {est['steps']} B step arguments and calls + "
                        f"{sum(n for _, n in est['kernels'])} B kernels + {est['base']} B core and runner, estimated")
        else:
            need_flash = b["model_bytes"] + board.overhead_flash
            overhead = f"estimated runtime overhead: {board.overhead_flash} B flash"
        out.write(f"{board.name}: flash {need_flash} of {board.flash} B, SRAM {need_sram} of {board.sram} B "
                  f"({overhead}; {board.overhead_sram} B SRAM for core, buffers and stack)\n")
        problems = []
        if need_flash > board.flash:
            problems.append(f"flash needs {need_flash} B > {board.flash} B")
        if need_sram > board.sram:
            problems.append(f"SRAM needs {need_sram} B > {board.sram} B")
        if problems:
            fits = False
            out.write(f"DOES NOT FIT {board.key}: " + "; ".join(problems) + "\n")
        else:
            out.write(f"fits {board.key}\n")
    return out.getvalue(), fits
