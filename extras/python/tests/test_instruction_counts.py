"""Exact instruction counts from the QEMU boards (Cortex-M4 and RV32 under -icount): the serial
runner reports them, they are the same for the same input, within one QEMU run and across runs,
and they differ where the work differs."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dmc
from dmc.deploy.device import DeviceSession, ProcessTransport
from dmc.deploy.firmware import build_sim_firmware

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "examples" / "MnistLeNet5" / "lenet5_tiny.dmc"
QEMU = {"m4": "qemu-system-arm", "rv32": "qemu-system-riscv32"}

pytestmark = pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import platformio"], capture_output=True).returncode != 0,
    reason="platformio is not installed (run extras/scripts/setup.sh)")


def _counts(program: Path, model, codes) -> tuple[list[int], DeviceSession]:
    session = DeviceSession(model, ProcessTransport([str(program)]), timeout=60)
    try:
        got = session.run(codes)
    finally:
        session.close()
    expected = model.predict(codes)
    assert np.array_equal(got, expected), "the firmware's outputs differ from the interpreter"
    return list(session.cycles), session


@pytest.mark.parametrize("sim", sorted(QEMU))
def test_instruction_counts_are_exact_and_repeatable(sim, tmp_path):
    if not shutil.which(QEMU[sim]):
        pytest.skip(f"{QEMU[sim]} not installed (run extras/scripts/setup.sh)")
    model = dmc.load(MODEL)
    with np.load(REPO / "test" / "data" / "mnist_test_256.npz") as z:
        codes = model.input_codes(z["x"][:2].reshape((2,) + model.input_shape))
    blank = np.zeros_like(codes[:1])
    program = build_sim_firmware(MODEL, sim, tmp_path)
    first, session = _counts(program, model, np.concatenate([codes, codes[:1], blank]))
    assert session.unit == "instructions" and session.exact_cycles
    second, _ = _counts(program, model, np.concatenate([codes[:1], codes, blank]))
    print(f"{sim}: instructions per inference {first} then {second}")
    assert first[0] == first[2] == second[0] == second[1], "the same input, different counts"
    assert first[1] == second[2]
    assert first[3] == second[3]
    # different inputs take different data-dependent branches (clamps, max pool): the counter
    # resolves single instructions rather than a coarse clock
    assert len({first[0], first[1], first[3]}) == 3
    assert all(100_000 < c < 100 * model.total_macs for c in first)


def test_m4_profile_has_exact_per_step_counts(tmp_path):
    """`dmc profile --sim m4`: the port's stamps give every step an exact instruction count; the
    steps add up to the stamped total, which matches the serial runner's own count of a build
    without stamps (up to the stamps' few instructions each), and no weighted step beats the
    one-SMLAD-per-two-MACs floor."""
    if not shutil.which(QEMU["m4"]):
        pytest.skip(f"{QEMU['m4']} not installed (run extras/scripts/setup.sh)")
    from dmc.deploy.measure import measure_qemu
    from dmc.deploy.profile import default_input, profile
    model = dmc.load(MODEL)
    prof = profile(MODEL, "m4", workdir=tmp_path / "profile")
    assert prof["exact"] and prof["unit"] == "instructions"
    steps = [r["cycles"] for r in prof["rows"]]
    print(f"m4 profile: {steps}, total {prof['total']}")
    assert all(isinstance(c, int) for c in steps)
    assert 0 <= prof["total"] - sum(steps) < 50
    for r in prof["rows"]:
        assert r["cycles"] >= r["macs"] / 2, f"{r['layer']}: {r['cycles']} instructions for {r['macs']} MACs"
    # the DSP kernels ran (a scratch region smaller than they need would silently select the
    # portable kernels, at 16 instructions per MAC)
    assert prof["total"] < 2.5 * prof["macs"], f"{prof['total']} instructions for {prof['macs']} MACs"
    plain = measure_qemu(MODEL, default_input(model), "m4")["instructions"]
    assert abs(plain - prof["total"]) < 30 * (len(steps) + 2), (plain, prof["total"])
