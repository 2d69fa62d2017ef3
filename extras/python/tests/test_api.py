"""The public entry points stay callable whatever is imported first (checked in fresh interpreters)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=HERE, capture_output=True, text=True, timeout=120)


def test_import_dmc_does_not_import_torch():
    r = run("import sys, dmc; dmc.IntModel; dmc.load; dmc.DataError; print('torch' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


@pytest.mark.parametrize("first", ["dmc.convert", "import dmc.compression.compressed_model", "from dmc.compression.compressed_model import lower",
                                   "import dmc.compression.conversion", "import dmc.compression.sensitivity_analysis", "import dmc.cli",
                                   "import dmc.deploy.codegen"])
def test_entry_points_stay_callable(first):
    """No submodule shares its name with a public function, so importing one never shadows it."""
    r = run(f"import dmc\n{first}\n"
            "for name in ('compress', 'convert', 'sensitivity', 'prune', 'load', 'fit', 'evaluate', 'codegen'):\n"
            "    assert callable(getattr(dmc, name)), (name, type(getattr(dmc, name)))")
    assert r.returncode == 0, r.stderr
