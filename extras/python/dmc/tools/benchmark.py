"""``dmc benchmark``: the figures of one model: parameters, MACs, host latency of the float model
(median of N runs), checkpoint size, and for a deployable (statically quantized) model its .dmc model bytes and arena,
plus exact cycles on the simulated Uno (simavr) or instruction counts on the QEMU Cortex-M4."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..errors import DMCError
from .checkpoints import Checkpoint
from .metrics import count_macs, count_nonzero_params, count_params, host_latency_ms

SIMS = ("uno", "m4", "auto")
FLOAT_BYTES = 4


def model_figures(model, input_shape, runs: int = 50) -> dict:
    """params, nonzero params, MACs, float32 weight bytes and host latency of a torch model."""
    params = count_params(model)
    return {"params": params, "nonzero_params": count_nonzero_params(model), "macs": count_macs(model, input_shape),
            "float_bytes": params * FLOAT_BYTES, "latency_ms": round(host_latency_ms(model, input_shape, runs), 4)}


def measure_m4(dmc_path, codes) -> dict:
    """Instruction counts of ``dmc_path`` on the QEMU Cortex-M4 (mps2-an386). QEMU runs with
    ``-icount shift=0`` (one virtual nanosecond per instruction), so the firmware's clock reads
    instructions: exact and repeatable, to the microsecond (1000 instructions) it reports."""
    from ..core.intmodel import load
    from ..deploy.device import DeviceSession, ProcessTransport
    from ..deploy.firmware import build_sim_firmware
    model = load(dmc_path)
    with tempfile.TemporaryDirectory(prefix="dmc-m4-") as tmp:
        program = build_sim_firmware(dmc_path, "m4", tmp)
        session = DeviceSession(model, ProcessTransport([str(program), "-icount", "shift=0"]), timeout=120)
        try:
            got = session.run(codes)
            if not np.array_equal(got, model.predict(codes)):
                raise DMCError(f"{dmc_path}: the QEMU Cortex-M4's outputs differ from the interpreter")
            hz = session.info.cpu_hz
        finally:
            session.close()
    us = float(np.median(session.cycles)) / (hz / 1e6)
    return {"m4_instructions": int(round(us * 1000))}


def deployment_figures(qm, dmc_path, x=None, sim: str | None = None, stream: int = 5) -> dict:
    """.dmc figures of an IntModel saved at ``dmc_path``; with ``sim``, measured on the simulator
    (``x``: float inputs to stream, the first ``stream`` of them)."""
    from ..deploy.budget import budget
    b = budget(qm)
    row = {"model_bytes": qm.model_bytes, "arena_bytes": b["arena_bytes"], "int_macs": qm.total_macs}
    if sim is None:
        return row
    if sim not in SIMS:
        raise DMCError(f"unknown simulator '{sim}'; choose one of {list(SIMS)}")
    if sim == "auto":
        from ..deploy.boards import get_board
        from ..deploy.budget import budget_text
        sim = "uno" if budget_text(qm, get_board("uno"))[1] else "m4"
    row["target"] = sim
    if x is None:
        x = np.random.default_rng(0).random((stream,) + tuple(qm.input_shape), dtype=np.float32)
    codes = qm.quantize_input(x[:stream])
    if sim == "uno":
        from ..deploy.measure import measure_uno
        m = measure_uno(dmc_path, codes)
        row.update({k: m[k] for k in ("flash_bytes", "sram_bytes", "cycles", "ms", "fits_uno", "note") if k in m})
    else:
        row.update(measure_m4(dmc_path, codes))
    return row


def benchmark_checkpoint(ck: Checkpoint, runs: int = 50, sim: str | None = None, dmc_out=None, x=None,
                         stream: int = 5, strict: bool = True) -> dict:
    """All figures of a checkpoint (its deployed .dmc is written to ``dmc_out`` when given).
    ``sim`` on a model that does not deploy is an error when ``strict``, skipped otherwise."""
    from .evaluate import integer_model
    model = ck.model()
    row = {"name": ck.path.stem, "arch": ck.arch, "kind": _kind(ck), "checkpoint_bytes": ck.path.stat().st_size}
    # the float model's figures: a quantized model's host latency would time its fake-quant
    # simulation, not a deployment (its speed on a device is the simulated cycles below)
    row.update(model_figures(ck.float_model() if ck.quantized else model, ck.input_shape, runs))
    qm = integer_model(ck)
    if qm is not None:
        with tempfile.TemporaryDirectory(prefix="dmc-bench-") as tmp:
            path = Path(dmc_out) if dmc_out else Path(tmp) / f"{ck.path.stem}.dmc"
            qm.save(path)
            row.update(deployment_figures(qm, path, x, sim, stream))
        row["qm"] = qm
    elif sim is not None and strict:
        raise DMCError(f"{ck.path}: --sim measures deployable models only: quantize the checkpoint with "
                       "`dmc quantize --type static` first")
    return row


def _kind(ck: Checkpoint) -> str:
    parts = []
    if ck.data.get("pruning"):
        p = ck.data["pruning"]
        parts.append(f"pruned {p['type']} {p['ratio']:g}")
    if ck.quantized:
        q = ck.data["quantization"]["config"]["quantize"]
        scheme = q.get("scheme", "static")

        def bits(key):      # the default and every per-layer width, widest first: "8/4"
            found = {q.get(key, 8)} | {lq[key] for lq in q.get("layers", {}).values() if key in lq}
            return "/".join(str(b) for b in sorted(found, reverse=True))
        parts.append(f"{scheme} int{bits('bitwidth')}" + (f", act {bits('activation_bitwidth')}-bit"
                                                          if scheme == "static" else ""))
    return ", ".join(parts) or "float32"
