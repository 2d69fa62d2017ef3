"""The fuzzers' committed inputs (extras/fuzz/corpus: seeds and the inputs of fixed bugs) replay
cleanly through the Python fuzz targets: each is loaded, run and compiled, or refused with a
named error. The same functions are what atheris runs (extras/fuzz/py_fuzzer.py)."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[3] / "extras" / "fuzz"
sys.path.insert(0, str(FUZZ))
import targets  # noqa: E402

from dmc.core.intmodel import loads  # noqa: E402
from dmc.errors import DMCError  # noqa: E402


def _inputs(target):
    return sorted((FUZZ / "corpus" / target).rglob("*.bin"))


@pytest.mark.parametrize("target,run", [("py_artifact", targets.artifact_one_input),
                                        ("py_frames", targets.frames_one_input)])
def test_committed_inputs_replay(target, run):
    paths = _inputs(target)
    assert len(paths) >= 5, f"{target}: {len(paths)} committed inputs"
    for p in paths:
        run(p.read_bytes())
    print(f"{target}: {len(paths)} inputs replayed")


def test_seed_models_cover_every_op_and_both_schemes():
    ops, schemes = set(), set()
    for p in _inputs("py_artifact"):
        try:
            m = loads(p.read_bytes())
        except DMCError:
            continue
        ops |= {op["op"] for op in m.ops}
        schemes.add(m.scheme)
    assert ops == {"input", "conv2d", "linear", "maxpool2d", "avgpool2d", "gap", "add", "pad", "flatten"} | (
        ops & {"clamp"}) and schemes == {"static", "dynamic"}, (ops, schemes)


def test_structure_aware_mutation_keeps_the_frame_valid():
    """The mutations reach the checks behind the CRC: the frame of every mutant is intact."""
    seed = (FUZZ / "corpus" / "py_artifact" / "mlp_w4_a8.bin").read_bytes()
    messages = set()
    for i in range(200):
        mutant = targets.mutate_artifact(seed, random.Random(i))
        assert mutant is not None and mutant != seed
        try:
            loads(mutant)
        except DMCError as e:
            messages.add(str(e).split(":")[0])
            assert "checksum" not in str(e) and "truncated" not in str(e), str(e)
    assert len(messages) > 5, messages        # many different checks were reached
