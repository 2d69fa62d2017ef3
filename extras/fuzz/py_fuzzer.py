"""Coverage-guided fuzzing of dmc's Python parsers with atheris (libFuzzer for Python).

Targets (what one input does is in :mod:`targets`):

* ``py_artifact``: the bytes of a .dmc file -> ``dmc.core.intmodel.loads`` (as is and with the
  data length and CRC repaired); a model that loads is run by the interpreter and compiled by
  the code generator.
* ``py_frames``: bytes from a serial line -> ``FrameReader`` and a ``Link``'s HELLO, INFER and
  STATS requests (dmc.deploy.protocol).

Only dmc's named errors may escape dmc; any other exception, a hang or a crash stops the run
and leaves the input in the artifact folder. Usually run through run_fuzzers.py:

    .venv/bin/python extras/fuzz/py_fuzzer.py py_artifact CORPUS_DIR [SEED_DIR] [libFuzzer options]
"""
from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["dmc"]):
    import numpy as np
    import targets

import random

TARGETS = {"py_artifact": targets.artifact_one_input, "py_frames": targets.frames_one_input}


def artifact_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """Half of the mutations understand the .dmc header (targets.mutate_artifact), the rest are
    libFuzzer's byte-level ones (which exercise the frame, the JSON parser and the lengths)."""
    rng = random.Random(seed)
    if rng.random() < 0.5:
        out = targets.mutate_artifact(data, rng)
        if out is not None and len(out) <= max_size:
            return out
    return atheris.Mutate(data, max_size)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: py_fuzzer.py {{{','.join(TARGETS)}}} [corpus dirs] [libFuzzer options]")
    name = sys.argv.pop(1)
    np.seterr(all="ignore")        # float overflow inside a hostile dynamic model is no error
    mutator = {"py_artifact": artifact_mutator}.get(name)
    atheris.Setup(sys.argv, TARGETS[name], **({"custom_mutator": mutator} if mutator else {}))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
