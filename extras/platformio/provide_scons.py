"""Provide PlatformIO's core package ``tool-scons`` from the PyPI ``scons`` package, so that
PlatformIO builds offline (its registry is not needed for our development platforms).

    python extras/platformio/provide_scons.py      # uses $PLATFORMIO_CORE_DIR (default ~/.platformio)

PlatformIO runs ``$PYTHONEXE <package>/scons.py``; the package here only holds that launcher
and the metadata PlatformIO uses to find it (the owner must be recorded, or it is not found).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

VERSION = "4.41101.0"          # what platformio 6.2 requires (~4.41101.0 = SCons 4.11.1)


def main() -> int:
    try:
        import SCons  # noqa: F401
    except ImportError:
        print("provide_scons: the 'scons' package is not installed in this Python", file=sys.stderr)
        return 1
    core = Path(os.environ.get("PLATFORMIO_CORE_DIR", Path.home() / ".platformio"))
    pkg = core / "packages" / "tool-scons"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "scons.py").write_text(
        "# Launcher written by DeepMicroCompression: runs the SCons installed from PyPI.\n"
        "import sys\nimport SCons.Script\n\nif __name__ == '__main__':\n    sys.exit(SCons.Script.main())\n")
    (pkg / "package.json").write_text(json.dumps(
        {"name": "tool-scons", "version": VERSION, "description": "SCons from PyPI", "keywords": ["build"]}))
    (pkg / ".piopm").write_text(json.dumps(
        {"type": "tool", "name": "tool-scons", "version": VERSION,
         "spec": {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None, "uri": None}}))
    print(f"provide_scons: tool-scons {VERSION} ready in {pkg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
