"""Per-layer profile of a model on a simulated board: cycles (or instruction counts), MACs,
cycles per MAC and share of the whole inference for every step of the deployed plan.

The serial-runner firmware is built with ``-DDMC_PROFILE``: the generated ``predict()`` then
writes a marker after each step (``DMC_PROFILE_STEP`` in src/dmc/platform.h). On the simulated
Uno the marker is a write to GPIOR0, which the simavr harness stamps with the exact cycle, so
every figure is exact and repeatable. On the QEMU Cortex-M4 (run with -icount) the board port
records QEMU's instruction counter at each marker and prints the stamps to stderr after the
inference (extras/platformio/shim/port_mps2.cpp): exact instruction counts per step. Targets
without a counter (RV32, the host) report the whole-inference figure and no per-step split.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from ..core.intmodel import load
from ..errors import DMCError
from .budget import budget
from .device import DeviceSession, ProcessTransport
from .firmware import SIMS, build_sim_firmware

PROFILE_FLAGS = "-DDMC_PROFILE"
START, END, STEP_BIT = 1, 2, 0x80          # stamp values written by serial_runner.h / platform.h
UNIT = {"uno": "cycles", "m4": "instructions", "rv32": "instructions", "host": "host-clock cycles"}


class ProfileError(DMCError):
    pass


def default_input(model) -> np.ndarray:
    """One deterministic input (codes drawn from a fixed seed): the profile, the Uno benchmark
    and the cycle regression test all run this one, so their figures can be compared exactly."""
    qmax = (1 << model.input_quant["bits"]) - 1
    return np.random.default_rng(0).integers(0, qmax + 1, size=(1,) + tuple(model.input_shape))


def _step_counts(stamps: list[tuple[int, int]], n_steps: int) -> tuple[int, list[int]] | None:
    """(total, per-step counts) from the stamps of the last inference: START, one marker per
    step, END. Step k runs from the marker before it to its own; the total also holds predict()'s
    call and return. None when the firmware wrote no stamps (a target without a counter)."""
    starts = [i for i, (v, _) in enumerate(stamps) if v == START]
    if not starts:
        return None
    run = stamps[starts[-1]:]
    values = [v for v, _ in run]
    expect = [START] + [STEP_BIT | (k & 0x7F) for k in range(n_steps)] + [END]
    if values[:len(expect)] != expect:
        raise ProfileError(f"the firmware's step markers {values[:len(expect)]} do not match the plan's "
                           f"{n_steps} steps (was it built with {PROFILE_FLAGS}?)")
    t = [c for _, c in run[:len(expect)]]
    steps = [t[k + 1] - t[k] for k in range(n_steps)]
    return t[-1] - t[0], steps


def profile(model_path, sim: str = "uno", codes=None, workdir=None) -> dict:
    """Build ``model_path`` for ``sim`` with step markers, run one inference (``codes``: one input,
    default :func:`default_input`), check its output against the interpreter and return
    {"model", "sim", "unit", "exact", "total", "macs", "rows": [{"layer", "kernel", "macs",
    "cycles", "cycles_per_mac", "share"}]}. Per-step figures are None where the target has no
    counter (today RV32 and the host)."""
    if sim not in SIMS:
        raise ProfileError(f"unknown simulator '{sim}'; choose one of {sorted(SIMS)}")
    model = load(model_path)
    b = budget(model)
    codes = default_input(model) if codes is None else np.asarray(codes).reshape((1,) + tuple(model.input_shape))
    with tempfile.TemporaryDirectory(prefix="dmc-profile-") as tmp:
        program = build_sim_firmware(model_path, sim, workdir or tmp, build_flags=PROFILE_FLAGS)
        transport = ProcessTransport([str(program)])
        session = DeviceSession(model, transport, timeout=120)
        try:
            got = session.run(codes)
        finally:
            session.close()
    deadline = time.monotonic() + 5      # the stderr reader may lag the reply by a moment
    while sim in ("uno", "m4") and not any(v == END for v, _ in transport.stamps) and time.monotonic() < deadline:
        time.sleep(0.05)
    expected = model.predict(codes)
    if not np.array_equal(got, expected):
        raise ProfileError(f"{model_path}: the simulated {sim}'s outputs differ from the interpreter's")
    counts = _step_counts(transport.stamps, len(b["rows"]))
    total, steps = counts if counts else (int(session.cycles[-1]), [None] * len(b["rows"]))
    rows = []
    for r, c in zip(b["rows"], steps):
        rows.append({"layer": r["layer"], "kernel": r["kernel"], "macs": r["macs"], "cycles": c,
                     "cycles_per_mac": round(c / r["macs"], 2) if c is not None and r["macs"] else None,
                     "share": round(c / total, 4) if c is not None and total else None})
    return {"model": str(model_path), "sim": sim, "unit": UNIT[sim], "exact": counts is not None, "total": total,
            "macs": b["macs"], "cycles_per_mac": round(total / b["macs"], 2) if b["macs"] else None, "rows": rows}


def profile_table(result: dict) -> str:
    """The profile as a Markdown table (one row per step and a total)."""
    unit = result["unit"]
    lines = [f"| layer | kernel | MACs | {unit} | {unit} / MAC | share |", "|---|---|---:|---:|---:|---:|"]

    def cell(v, fmt="{}"):
        return "-" if v is None else fmt.format(v)
    for r in result["rows"]:
        lines.append(f"| {r['layer']} | {r['kernel']} | {r['macs']} | {cell(r['cycles'])} | "
                     f"{cell(r['cycles_per_mac'])} | {cell(r['share'], '{:.1%}')} |")
    lines.append(f"| total | | {result['macs']} | {result['total']} | {cell(result['cycles_per_mac'])} | 100% |")
    note = "" if result["exact"] else (f"\n(no per-step counter on the {result['sim']} target: the total is the "
                                       "runner's whole-inference figure)")
    return "\n".join(lines) + note + "\n"


def plot_profile(result: dict, path) -> Path:
    """A bar chart of cycles per step (cycles per MAC written on the weighted steps) into ``path``."""
    rows = [r for r in result["rows"] if r["cycles"] is not None]
    if not rows:
        raise ProfileError(f"the {result['sim']} target reports no per-step counts to plot")
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(rows) + 1.5), 3.6))
    names = [r["layer"] for r in rows]
    bars = ax.bar(names, [r["cycles"] for r in rows], color="#4477aa")
    for bar, r in zip(bars, rows):
        if r["cycles_per_mac"] is not None:
            ax.annotate(f"{r['cycles_per_mac']}/MAC", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(result["unit"])
    ax.set_title(f"{Path(result['model']).name} on the simulated {result['sim']}: {result['total']} {result['unit']}",
                 fontsize=9)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
