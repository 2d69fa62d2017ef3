"""Data-parallel QAT: two CPU processes under torchrun against one process with the same global
batches and seed (extras/python/tests/ddp_fit_script.py trains and converts in both).

What must hold: identical integer weights, biases within one unit (they are divided by the
scales, which carry the noise below), and activation ranges that agree within floating-point
noise. The two runs are not bit-identical in float: DDP averages the two ranks'
mean gradients, (g1 + g2) / 2, where one process takes the mean over the whole batch, and the
different summation order moves Adam's updates in the last bits; the observed activation ranges
inherit that noise, so requantization multipliers may differ by a few units in 2**15 (measured:
at most 8). The bound checked here is 1e-3 relative on every scale and multiplier.
"""
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dmc

SCRIPT = Path(__file__).with_name("ddp_fit_script.py")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    return {procs: _train(tmp / f"procs{procs}", procs) for procs in (1, 2)}


def _train(prefix, procs):
    cmd = [sys.executable, str(SCRIPT), str(prefix)]
    if procs > 1:
        with socket.socket() as sock:          # a free port for the rendezvous
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(procs), "--master-addr",
               "127.0.0.1", "--master-port", str(port), *cmd[1:]]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return {a: dmc.load(f"{prefix}_{a}.dmc") for a in ("ema", "learned")}


@pytest.mark.parametrize("act_range", ["ema", "learned"])
def test_two_processes_match_one(trained, act_range):
    one, two = trained[1][act_range], trained[2][act_range]
    assert one.arrays.keys() == two.arrays.keys()
    report, bad = [], []
    for k in sorted(one.arrays):
        a, b = one.arrays[k].astype(np.int64), two.arrays[k].astype(np.int64)
        diff = int((a != b).sum())
        report.append(f"{k}: {diff} of {a.size} differ" + (f", max |d| {np.abs(a - b).max()}" if diff else ""))
        if k.endswith((".weight", ".shift")) and diff:
            bad.append(k)
        # an int32 bias is round(b / (input scale * weight scale)): the scales' float noise
        # (below) can move a bias that sits near a rounding boundary by one unit, never more
        if k.endswith(".bias") and np.abs(a - b).max(initial=0) > 1:
            bad.append(k)
        if k.endswith(".multiplier") and np.any(np.abs(a - b) > 1e-3 * np.abs(a)):
            bad.append(k)
    for name in one.tensors:
        s1, s2 = one.tensors[name]["scale"], two.tensors[name]["scale"]
        report.append(f"tensor {name}: scale {s1:.8g} vs {s2:.8g}")
        if abs(s1 - s2) > 1e-3 * s1:
            bad.append(name)
    print("\n".join(report))
    assert not bad, f"beyond the bound: {bad}\n" + "\n".join(report)
