"""Cycle regression guard: each committed example model runs once on the simulated Uno (simavr,
exact cycles) and its total must stay within 1% of the figure the Uno benchmark recorded in
extras/benchmarks/results/uno.json. Slower fails; faster fails too, asking for the benchmark to be
rerun so that the recorded figures stay the ones to beat."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
RESULTS = REPO / "extras" / "benchmarks" / "results" / "uno.json"
TOLERANCE = 0.01

pytestmark = [
    pytest.mark.skipif(not shutil.which("simavr"), reason="simavr not installed"),
    pytest.mark.skipif(subprocess.run([sys.executable, "-c", "import platformio"], capture_output=True).returncode != 0,
                       reason="platformio is not installed (run extras/scripts/setup.sh)"),
]


def recorded():
    return [r for r in json.loads(RESULTS.read_text()) if "profile_cycles" in r]


def test_results_file_records_every_example():
    files = {r["file"] for r in recorded()}
    examples = {str(p.relative_to(REPO)) for p in REPO.glob("examples/*/*.dmc")}
    assert examples <= files, f"uno.json has no cycle figures for {sorted(examples - files)}: run the Uno benchmark"


@pytest.mark.parametrize("row", recorded(), ids=lambda r: r["model"])
def test_cycles_match_the_benchmark(row, tmp_path):
    from dmc.deploy.profile import profile
    prof = profile(REPO / row["file"], "uno", workdir=tmp_path)
    was, now = row["profile_cycles"], prof["total"]
    before = {r["layer"]: r["cycles"] for r in row.get("layers", [])}
    print(f"{row['model']}: {now} cycles (recorded {was}, {now / was - 1:+.2%})")
    for r in prof["rows"]:
        print(f"  {r['layer']:<12} {r['kernel']:<28} {r['cycles']:>10} cycles (recorded {before.get(r['layer'], '-')}), "
              f"{r['cycles_per_mac']} per MAC")
    assert now <= was * (1 + TOLERANCE), (
        f"{row['model']} got slower on the simulated Uno: {now} cycles, {now / was - 1:+.2%} against the {was} "
        "recorded in extras/benchmarks/results/uno.json (per-layer figures above)")
    assert now >= was * (1 - TOLERANCE), (
        f"{row['model']} got faster on the simulated Uno: {now} cycles against {was} recorded; rerun "
        "extras/benchmarks/uno_benchmark.py (and extras/scripts/update_readme_figures.py) to record the new figures")
