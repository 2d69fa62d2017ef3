"""The Arduino examples compile as installed: each sketch folder commits the model sources its
`.dmc` generates, and they must not drift from it (extras/scripts/regenerate_examples.py)."""
from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _regenerate_module():
    spec = importlib.util.spec_from_file_location("regenerate_examples", REPO / "extras" / "scripts" /
                                                  "regenerate_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


regen = _regenerate_module()


def test_committed_model_sources_match_their_dmc():
    report = regen.differences()
    assert not report, ("committed example sources differ from what their .dmc generates (run "
                        "extras/scripts/regenerate_examples.py):\n" + "\n".join(report))


def test_every_example_is_covered_and_includes_its_model():
    sketches = sorted(p.parent.name for p in (REPO / "examples").glob("*/*.ino"))
    assert sorted(regen.EXAMPLES) == sketches, "add the example to EXAMPLES in regenerate_examples.py"
    for sketch, (model, name) in regen.EXAMPLES.items():
        folder = REPO / "examples" / sketch
        assert (folder / model).is_file(), f"{sketch}: {model} is not committed"
        ino = (folder / f"{sketch}.ino").read_text()
        assert re.search(rf'#include "{name}\.h"', ino), f"{sketch}.ino does not include {name}.h"
        assert "#error" not in ino, f"{sketch}.ino still refuses to compile without an export"


def test_the_check_names_a_stale_or_missing_file(tmp_path):
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    stale = tmp_path / "examples" / "SineRegressor" / "sine.cpp"
    stale.write_text(stale.read_text().replace("10218,", "10219,", 1))
    (tmp_path / "examples" / "MnistLeNet5" / "lenet.h").unlink()
    report = regen.differences(tmp_path)
    print("\n".join(report))
    assert len(report) == 2
    assert report[0] == "examples/MnistLeNet5/lenet.h: missing"
    assert report[1].startswith("examples/SineRegressor/sine.cpp: differs") and "+  10218," in report[1] \
        and "-  10219," in report[1]
