"""Run every test suite and print one closing line ``N passed, N failed`` summing them all.

Suites: the Python package's pytest suite (unit, property, C++ parity, cross builds, the build
hook, packing, the Arduino IDE builder), PlatformIO's on-device parity test on the simulated
Uno (simavr), the QEMU Cortex-M4, the QEMU RISC-V RV32 and the host (with the dense LeNet-5 and
with a model whose every layer is sparse), and the fuzzers
(extras/fuzz: every target for a short fixed budget from the committed seeds; a target passes
when nothing crashed). Each suite reports through JUnit XML, so the
counts are read, not scraped from text.
Exit status is non-zero when any test failed or errored, or when a suite ran no test.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
FUZZ_SECONDS = 15         # per fuzz target (4 targets): about 90 s of CI with the C++ builds


def junit_counts(path: Path) -> tuple[int, int, int]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return total - failed - skipped, failed, skipped


def run_suite(name: str, cmd: list[str], junit: Path, cwd: Path) -> tuple[int, int, int]:
    print(f"\n===== {name}: {' '.join(cmd)}", flush=True)
    rc = subprocess.call(cmd, cwd=cwd)
    if not junit.exists():
        print(f"{name}: no report written (exit {rc})")
        return 0, 1, 0
    passed, failed, skipped = junit_counts(junit)
    if rc != 0 and failed == 0:
        failed = 1          # the runner itself failed (collection error, crash)
    print(f"{name}: {passed} passed, {failed} failed, {skipped} skipped")
    return passed, failed, skipped


# the parity test's environments (platformio.ini): each board with the dense LeNet-5, then with
# the all-sparse model of test/data/sparse_parity.dmc
PIO_ENVS = ("uno_sim", "m4_qemu", "rv32_qemu", "host",
            "uno_sim_sparse", "m4_qemu_sparse", "rv32_qemu_sparse", "host_sparse")


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="dmc-tests-"))
    os.environ.setdefault("PLATFORMIO_CORE_DIR", str(ROOT / ".pio-core"))    # per checkout
    os.environ["PLATFORMIO_SETTING_ENABLE_TELEMETRY"] = "no"
    suites = [
        ("pytest", [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={tmp / 'pytest.xml'}",
                    "extras/python/tests"], tmp / "pytest.xml"),
        ("PlatformIO on-device parity (uno_sim, m4_qemu, rv32_qemu, host; dense LeNet-5 and a sparse model)",
         [PY, "-m", "platformio", "test", *(a for env in PIO_ENVS for a in ("-e", env)),
          "--junit-output-path", str(tmp / "pio.xml")], tmp / "pio.xml"),
        (f"fuzzers ({FUZZ_SECONDS} s per target)",
         [PY, "extras/fuzz/run_fuzzers.py", "--seconds", str(FUZZ_SECONDS), "--work", str(tmp / "fuzz"),
          "--stats", str(tmp / "fuzz_stats.json"), "--junit", str(tmp / "fuzz.xml")], tmp / "fuzz.xml"),
    ]
    totals = [0, 0, 0]
    for name, cmd, junit in suites:
        for i, v in enumerate(run_suite(name, cmd, junit, ROOT)):
            totals[i] += v
    passed, failed, skipped = totals
    if passed + failed == 0:
        failed = 1
        print("no test ran")
    print(f"\n{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
