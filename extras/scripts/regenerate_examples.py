"""Regenerate the model sources committed next to each Arduino example from its committed `.dmc`.

The examples compile as installed (Arduino IDE, arduino-builder, PlatformIO without the build
hook) because each sketch folder holds the `NAME.h` / `NAME.cpp` that `dmc export` writes.
Run this after changing a model or the code generator:

    .venv/bin/python extras/scripts/regenerate_examples.py          # rewrite what differs
    .venv/bin/python extras/scripts/regenerate_examples.py --check  # exit 1 and list what differs

The test `extras/python/tests/test_examples.py` runs the check.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "extras" / "python"))

from dmc.core.intmodel import load  # noqa: E402
from dmc.deploy.codegen import generate  # noqa: E402

# sketch folder under examples/ -> (the committed model it compiles, the C++ name the sketch includes)
EXAMPLES = {
    "MnistLeNet5": ("lenet5_tiny.dmc", "lenet"),
    "SineRegressor": ("sine.dmc", "sine"),
    "SineLedPwm": ("sine.dmc", "sine"),
}


def expected_sources(root: Path = ROOT) -> dict[Path, str]:
    """Every committed model source file -> the text the committed `.dmc` generates."""
    out = {}
    for sketch, (model, name) in EXAMPLES.items():
        folder = root / "examples" / sketch
        for fname, text in generate(load(folder / model), name).items():
            out[folder / fname] = text
    return out


def differences(root: Path = ROOT) -> list[str]:
    """A short report per committed source that is missing or differs from its `.dmc`."""
    report = []
    for path, text in expected_sources(root).items():
        rel = path.relative_to(root)
        if not path.exists():
            report.append(f"{rel}: missing")
            continue
        have = path.read_text()
        if have != text:
            diff = list(difflib.unified_diff(have.splitlines(), text.splitlines(), f"{rel} (committed)",
                                             f"{rel} (from the .dmc)", lineterm="", n=1))
            shown = "\n".join(diff[:12]) + ("\n..." if len(diff) > 12 else "")
            report.append(f"{rel}: differs from what its .dmc generates\n{shown}")
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 and list the files that differ")
    args = p.parse_args(argv)
    if args.check:
        report = differences()
        for line in report:
            print(line)
        if report:
            print(f"{len(report)} example source(s) out of date: run extras/scripts/regenerate_examples.py")
            return 1
        print("example model sources match their .dmc files")
        return 0
    for path, text in expected_sources().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
        else:
            print(f"unchanged {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
