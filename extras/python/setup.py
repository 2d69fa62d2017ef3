"""Packaging step of dmc that pyproject.toml cannot express: the wheel carries the C++ runtime.

The runtime (the library's src/: DeepMicroCompression.h, the kernels, the serial runner) is
copied into the built package as ``dmc/runtime``, so that an installed dmc compiles generated
models anywhere (``dmc verify --host``) without a checkout. Build from this folder inside the
library (a repository checkout or the unpacked ``pio pkg pack`` archive)::

    pip wheel --no-deps ./extras/python        # or: pip install ./extras/python
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RUNTIME_SRC = Path(__file__).resolve().parent.parent.parent / "src"


class BuildPyWithRuntime(build_py):
    """build_py that also copies the library's src/ into the package as dmc/runtime."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install finds the runtime in the checkout itself
        if not (RUNTIME_SRC / "DeepMicroCompression.h").is_file():
            raise SystemExit(f"dmc: the C++ runtime is not at {RUNTIME_SRC}: build the package from extras/python "
                             "inside the DeepMicroCompression library (a checkout or the pio pkg pack archive)")
        dest = Path(self.build_lib) / "dmc" / "runtime"
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(RUNTIME_SRC, dest, ignore=shutil.ignore_patterns("__pycache__", "*.o"))


setup(cmdclass={"build_py": BuildPyWithRuntime})
