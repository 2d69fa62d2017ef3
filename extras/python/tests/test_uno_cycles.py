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
        print(f"  {r['layer']:<12} {r['kernel']:<28} {r['cycles']:>10} cycles "
              f"(recorded {before.get(r['layer'], '-')}), {r['cycles_per_mac']} per MAC")
    assert now <= was * (1 + TOLERANCE), (
        f"{row['model']} got slower on the simulated Uno: {now} cycles, {now / was - 1:+.2%} against the {was} "
        "recorded in extras/benchmarks/results/uno.json (per-layer figures above)")
    assert now >= was * (1 - TOLERANCE), (
        f"{row['model']} got faster on the simulated Uno: {now} cycles against {was} recorded; rerun "
        "extras/benchmarks/uno_benchmark.py (and extras/scripts/update_readme_figures.py) to record the new figures")


def test_profile_cli_table_and_plot(tmp_path, capsys):
    """`dmc profile` on the simulated Uno: one row per plan step with exact cycles that add up to
    the inference (but for predict()'s call), the MACs of the budget, and a bar chart."""
    from dmc.cli import main as cli
    from dmc.deploy.budget import budget
    model = REPO / "examples" / "SineRegressor" / "sine.dmc"
    plot = tmp_path / "p.png"
    assert cli(["profile", str(model), "--sim", "uno", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    print(out)
    rows = [ln.split("|")[1:-1] for ln in out.splitlines() if ln.startswith("| linear")]
    b = budget(dmc_load(model))
    assert [r[0].strip() for r in rows] == [r["layer"] for r in b["rows"]]
    assert [int(r[2]) for r in rows] == [r["macs"] for r in b["rows"]]
    total = next(ln for ln in out.splitlines() if ln.startswith("| total")).split("|")
    # the steps cover the inference but predict()'s own call and return (a few cycles)
    assert 0 <= int(total[4]) - sum(int(r[3]) for r in rows) < 32
    assert plot.stat().st_size > 1000


def test_profile_errors(tmp_path, capsys):
    from dmc.cli import main as cli
    from dmc.deploy.profile import ProfileError, _step_counts
    assert cli(["profile", str(tmp_path / "missing.dmc")]) == 2
    assert "dmc profile: error:" in capsys.readouterr().err
    with pytest.raises(ProfileError, match="markers"):
        _step_counts([(1, 0), (0x80, 10), (2, 20)], 2)     # a step marker missing
    assert _step_counts([(1, 5), (0x80, 15), (0x81, 40), (2, 41)], 2) == (36, [10, 25])


def dmc_load(path):
    import dmc
    return dmc.load(path)
