"""The library as its users meet it: `pio pkg pack`, the Arduino IDE's builder on the packed
library, the PlatformIO build hook (generate, skip, regenerate, fail clearly) and
`dmc verify --sim`. Builds use the library's own offline development platforms."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

import dmc
from dmc.deploy.budget import budget

REPO = Path(__file__).resolve().parents[3]
MNIST_DIR = REPO / "examples" / "MnistLeNet5"
PLATFORMS = REPO / "extras" / "platformio" / "platforms"

pytestmark = pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import platformio"], capture_output=True).returncode != 0,
    reason="platformio is not installed (run extras/scripts/setup.sh)")


def pio_env():
    env = dict(os.environ)
    env.setdefault("PLATFORMIO_CORE_DIR", str(REPO / ".pio-core"))
    env["PLATFORMIO_SETTING_ENABLE_TELEMETRY"] = "no"
    return env


def pio(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "platformio", *args], capture_output=True, text=True,
                          env=pio_env(), cwd=cwd)


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    out = tmp_path_factory.mktemp("pack")
    r = pio("pkg", "pack", str(REPO), "-o", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    (tarball,) = out.glob("*.tar.gz")
    lib = out / "DeepMicroCompression"
    with tarfile.open(tarball) as t:
        names = t.getnames()
        t.extractall(lib, filter="data")
    return names, lib, tarball


def test_pack_holds_what_users_need_and_no_dev_files(packed):
    names, _, _ = packed
    need = ["library.json", "library.properties", "LICENSE", "README.md", "src/DeepMicroCompression.h",
            "src/DMCSerialRunner.h", "src/dmc/kernels/conv2d.h", "examples/MnistLeNet5/MnistLeNet5.ino",
            "examples/MnistLeNet5/lenet5_tiny.dmc", "examples/MnistLeNet5/lenet.h", "examples/MnistLeNet5/lenet.cpp",
            "examples/SineRegressor/SineRegressor.ino", "examples/SineRegressor/sine.h",
            "examples/SineLedPwm/SineLedPwm.ino", "examples/SineLedPwm/sine.cpp",
            "extras/platformio/dmc_build_hook.py", "extras/python/dmc/__init__.py", "extras/python/pyproject.toml",
            "extras/python/setup.py"]
    missing = [n for n in need if n not in names]
    assert not missing, f"missing from the package: {missing}"
    dev = [n for n in names if re.match(r"(test/|\.ci/|\.venv|extras/scripts/|extras/python/tests/|platformio\.ini$)", n)
           or "/.pio" in n or "__pycache__" in n]
    assert not dev, f"dev-only files in the package: {dev}"


def test_manifests_agree():
    lj = json.loads((REPO / "library.json").read_text())
    props = dict(line.split("=", 1) for line in (REPO / "library.properties").read_text().splitlines() if "=" in line)
    assert lj["name"] == props["name"] and lj["version"] == props["version"] == dmc.__version__
    assert lj["build"]["extraScript"] == "extras/platformio/dmc_build_hook.py"


def arduino_builder(sketch_dir: Path, libraries: Path, build: Path) -> tuple[int, str]:
    """Compile a sketch for the Uno with the Arduino IDE's build engine."""
    build.mkdir(parents=True, exist_ok=True)
    tools = build / "tools"
    tools.mkdir(exist_ok=True)
    r = subprocess.run(["arduino-builder", "-hardware", "/usr/share/arduino/hardware", "-hardware",
                        "/usr/share/arduino-builder", "-tools", str(tools), "-fqbn", "arduino:avr:uno",
                        "-prefs=compiler.cpp.extra_flags=-DDECIMAL_DIG=__DECIMAL_DIG__", "-libraries", str(libraries),
                        "-build-path", str(build), str(sketch_dir / f"{sketch_dir.name}.ino")],
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


@pytest.mark.skipif(not shutil.which("arduino-builder"), reason="arduino-builder not installed")
@pytest.mark.parametrize("sketch", ["MnistLeNet5", "SineRegressor", "SineLedPwm"])
def test_examples_build_as_installed_with_the_arduino_ide_builder(packed, tmp_path, sketch):
    """A clean sketchbook holding only the packed library: open the example, compile, no dmc command."""
    _, lib, _ = packed
    libs = tmp_path / "sketchbook" / "libraries"
    libs.mkdir(parents=True)
    shutil.copytree(lib, libs / "DeepMicroCompression")
    work = tmp_path / "sketchbook" / sketch
    shutil.copytree(lib / "examples" / sketch, work)
    rc, out = arduino_builder(work, libs, tmp_path / "build")
    assert rc == 0, out
    flash = int(re.search(r"Sketch uses (\d+) bytes", out).group(1))
    ram = int(re.search(r"Global variables use (\d+) bytes", out).group(1))
    print(f"{sketch} (Arduino IDE builder, Uno): flash {flash} B, static SRAM {ram} B")
    assert flash <= 32256 and ram <= 2048


PACKED_SKETCH = """#include <Arduino.h>
#include <DeepMicroCompression.h>
#include "net.h"
void setup() {
  Serial.begin(115200);
  for (uint16_t code = 0; code < 256; code += 17) {
    net.set_input(0, (uint8_t)code);
    net.predict();
    Serial.print(code);
    Serial.print(' ');
    Serial.println((int)net.output_code(0));
  }
  Serial.println("done");
  Serial.flush();
}
void loop() {}
"""


@pytest.mark.skipif(not shutil.which("simavr"), reason="simavr not installed")
def test_packed_archive_installs_into_a_new_project_and_builds_with_the_hook(packed, tmp_path):
    """A user's project outside the repository: lib_deps = file://<the pio pkg pack archive>, a model
    in custom_dmc_model, the simulated Uno; its outputs equal the interpreter's."""
    _, _, tarball = packed
    proj = tmp_path / "user project"
    (proj / "src").mkdir(parents=True)
    (proj / "models").mkdir()
    model_path = REPO / "examples" / "SineLedPwm" / "sine.dmc"
    shutil.copy(model_path, proj / "models" / "net.dmc")
    (proj / "src" / "main.cpp").write_text(PACKED_SKETCH)
    (proj / "platformio.ini").write_text(
        f"[env:uno_sim]\nplatform = symlink://{PLATFORMS / 'dmcsimavr'}\nboard = uno_sim\nframework = arduino\n"
        f"lib_deps = file://{tarball}\ncustom_dmc_model = models/net.dmc\ncustom_dmc_name = net\n"
        f"custom_dmc_board = uno\n")
    rc, out = build(proj)
    assert rc == 0, out[-3000:]
    installed = proj / ".pio" / "libdeps" / "uno_sim" / "DeepMicroCompression"
    assert (installed / "library.json").is_file(), "the archive was not installed into the project"
    assert "[dmc] generated net.h / net.cpp from models/net.dmc" in out and "fits" in out, out[-3000:]
    text = subprocess.run([str(proj / ".pio" / "build" / "uno_sim" / "program"), "-t", "1"], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60).stdout.decode()
    assert "done" in text, text
    got = {int(a): int(b) for a, b in (line.split() for line in text.splitlines() if len(line.split()) == 2)}
    codes = np.arange(0, 256, 17)
    want = dict(zip(codes.tolist(), dmc.load(model_path).predict(codes[:, None]).reshape(-1).tolist()))
    bad = {c: (got.get(c), want[c]) for c in want if got.get(c) != want[c]}
    assert not bad, f"device != interpreter (code: (device, interpreter)): {bad}"


# -- the build hook, on the host platform (fast g++ builds) ----------------------------------------

HOOK_SKETCH = """#include <Arduino.h>
#include <DeepMicroCompression.h>
#include "net.h"
void setup() { Serial.begin(115200); net.predict(); Serial.write((uint8_t)net.argmax()); Serial.flush(); }
void loop() {}
"""


def hook_project(tmp_path, model_rel="models/net.dmc", board=""):
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True, exist_ok=True)
    (proj / "models").mkdir(exist_ok=True)
    (proj / "src" / "main.cpp").write_text(HOOK_SKETCH)
    (proj / "platformio.ini").write_text(
        f"[env:host]\nplatform = symlink://{PLATFORMS / 'dmchost'}\nboard = host\nframework = arduino\n"
        f"lib_deps = DeepMicroCompression=symlink://{REPO}\ncustom_dmc_model = {model_rel}\ncustom_dmc_name = net\n"
        + (f"custom_dmc_board = {board}\n" if board else ""))
    return proj


def build(proj):
    r = pio("run", "-d", str(proj))
    return r.returncode, r.stdout + r.stderr


def test_build_hook_generates_skips_and_regenerates(tmp_path):
    proj = hook_project(tmp_path)
    shutil.copy(MNIST_DIR / "lenet5_tiny.dmc", proj / "models" / "net.dmc")
    rc, out = build(proj)
    assert rc == 0, out
    assert "[dmc] generated net.h / net.cpp" in out
    gen = proj / ".pio" / "build" / "host" / "dmc" / "net"
    header = gen / "net.h"
    assert header.exists() and (gen / "net.cpp").exists()
    assert not list((proj / "src").glob("net.*")), "the hook wrote into the source tree"
    arena = budget(dmc.load(MNIST_DIR / "lenet5_tiny.dmc"))["arena_bytes"]
    assert "LENET" not in header.read_text() and f"#define NET_ARENA_BYTES {arena}u" in header.read_text()
    mtime = header.stat().st_mtime_ns

    rc, out = build(proj)                     # unchanged: no regeneration
    assert rc == 0, out
    assert "unchanged" in out and "[dmc] generated" not in out
    assert header.stat().st_mtime_ns == mtime

    shutil.copy(MNIST_DIR / "lenet5_ultra.dmc", proj / "models" / "net.dmc")   # changed model
    rc, out = build(proj)
    assert rc == 0, out
    assert "[dmc] generated net.h / net.cpp" in out
    arena = budget(dmc.load(MNIST_DIR / "lenet5_ultra.dmc"))["arena_bytes"]
    assert f"#define NET_ARENA_BYTES {arena}u" in header.read_text()


def test_build_hook_fails_clearly(tmp_path, oversized_model):
    proj = hook_project(tmp_path, model_rel="models/missing.dmc")
    rc, out = build(proj)
    assert rc != 0 and "custom_dmc_model = models/missing.dmc: no such file" in out

    proj = hook_project(tmp_path)
    data = (MNIST_DIR / "lenet5_tiny.dmc").read_bytes()
    (proj / "models" / "net.dmc").write_bytes(data[:-10])
    rc, out = build(proj)
    assert rc != 0 and "truncated" in out, out[-2000:]

    (proj / "models" / "net.dmc").write_bytes(data[:200] + bytes([data[200] ^ 0xFF]) + data[201:])
    rc, out = build(proj)
    assert rc != 0 and "checksum mismatch" in out, out[-2000:]

    proj = hook_project(tmp_path, board="uno")
    shutil.copy(oversized_model, proj / "models" / "net.dmc")
    rc, out = build(proj)
    assert rc != 0 and "does not fit Arduino Uno" in out and "DOES NOT FIT uno: flash needs" in out, out[-2000:]


# A sketch that prints which model it was built with and the model's outputs on a fixed input.
WHICH_MODEL_SKETCH = """#include <Arduino.h>
#include <stdio.h>
#include <DeepMicroCompression.h>
#include "net.h"
void setup() {
  Serial.begin(115200);
  for (uint16_t i = 0; i < NET_INPUT_SIZE; ++i) net.set_input(i, (uint8_t)((i * 7) & 0x0F));
  net.predict();
  char buf[32];
  snprintf(buf, sizeof buf, "arena %lu outputs", (unsigned long)NET_ARENA_BYTES);
  Serial.print(buf);
  for (uint16_t i = 0; i < NET_OUTPUT_SIZE; ++i) {
    snprintf(buf, sizeof buf, " %d", (int)net.output_code(i));
    Serial.print(buf);
  }
  Serial.println("");
  Serial.flush();
}
void loop() { Serial.available(); }  // the host program ends when stdin closes
"""


def _which_model(proj):
    program = proj / ".pio" / "build" / "host" / "program"
    out = subprocess.run([str(program)], stdin=subprocess.DEVNULL, capture_output=True, timeout=60).stdout.decode()
    m = re.match(r"arena (\d+) outputs((?: \d+)+)", out)
    assert m, out
    return int(m.group(1)), [int(v) for v in m.group(2).split()]


def _expected(model_path):
    model = dmc.load(model_path)
    codes = (np.arange(int(np.prod(model.input_shape))) * 7 & 0x0F).reshape(model.input_shape).astype(np.int64)
    return budget(model)["arena_bytes"], model.predict(codes).reshape(-1).tolist()


def test_build_hook_model_replaces_committed_model_sources(tmp_path):
    """A project that commits generated net.h / net.cpp (as the examples do) builds them as they
    are; with custom_dmc_model the hook's model replaces them: no duplicate symbols, its header wins."""
    from dmc.deploy.codegen import codegen
    proj = hook_project(tmp_path)
    (proj / "src" / "main.cpp").write_text(WHICH_MODEL_SKETCH)
    codegen(dmc.load(MNIST_DIR / "lenet5_tiny.dmc"), proj / "src", "net")     # the committed copy
    shutil.copy(MNIST_DIR / "lenet5_ultra.dmc", proj / "models" / "net.dmc")  # the env's model
    ini = proj / "platformio.ini"
    with_hook = ini.read_text()
    ini.write_text("\n".join(line for line in with_hook.splitlines() if not line.startswith("custom_dmc")) + "\n")

    rc, out = build(proj)                              # no custom_dmc_model: the committed sources
    assert rc == 0, out[-3000:]
    assert "[dmc] no custom_dmc_model" in out
    got, want = _which_model(proj), _expected(MNIST_DIR / "lenet5_tiny.dmc")
    print(f"committed sources: arena {got[0]} B, outputs {got[1]}")
    assert got == want, f"device {got} != interpreter {want}"

    ini.write_text(with_hook)                          # custom_dmc_model: the hook's model wins
    rc, out = build(proj)
    assert rc == 0, out[-3000:]
    assert "[dmc] src/net.cpp, src/net.h: replaced by the model of custom_dmc_model = models/net.dmc" in out, out
    got, want = _expected(MNIST_DIR / "lenet5_ultra.dmc"), _which_model(proj)
    print(f"hook's model: arena {want[0]} B, outputs {want[1]}")
    assert got == want, f"device {want} != interpreter {got}"
    assert got[0] != _expected(MNIST_DIR / "lenet5_tiny.dmc")[0]


def test_verify_sim_host_streams_and_compares(tmp_path):
    model = dmc.load(MNIST_DIR / "lenet5_tiny.dmc")
    with np.load(REPO / "test" / "data" / "mnist_test_256.npz") as z:
        np.savez(tmp_path / "few.npz", x=z["x"][:20], y=z["y"][:20])
    r = subprocess.run([sys.executable, "-m", "dmc", "verify", str(MNIST_DIR / "lenet5_tiny.dmc"), "--data",
                        str(tmp_path / "few.npz"), "--sim", "host", "--quiet"], capture_output=True, text=True,
                       env=pio_env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "20 samples, 200 output values compared bit-exactly" in r.stdout
    assert "agreement: 100.00%" in r.stdout
    assert model.output_shape == (10,)


def test_mnist_example_builds_and_runs_on_the_host_env():
    """The repository's [env:host] (src_dir = examples/MnistLeNet5, the hook, the Arduino-API shim)."""
    r = pio("run", "-d", str(REPO), "-e", "host")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "MnistLeNet5/lenet.cpp, examples/MnistLeNet5/lenet.h: replaced by the model of custom_dmc_model" in r.stdout
    out = subprocess.run([str(REPO / ".pio" / "build" / "host" / "program")], stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=60).stdout
    assert b"MnistLeNet5: built-in digit classified as 7 (expected 7)" in out, out[:300]


@pytest.mark.skipif(not shutil.which("simavr"), reason="simavr not installed")
def test_examples_build_and_run_on_the_simulated_uno():
    r = pio("run", "-d", str(REPO), "-e", "uno_sim")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = subprocess.run([str(REPO / ".pio" / "build" / "uno_sim" / "program"), "-t", "3"], stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=120).stdout
    assert b"MnistLeNet5: built-in digit classified as 7 (expected 7)" in out, out[:300]

    sine = REPO / "examples" / "SineRegressor"
    r = pio("run", "-d", str(sine))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    text = subprocess.run([str(sine / ".pio" / "build" / "uno_sim" / "program"), "-t", "1"], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=120).stdout.decode()
    rows = [list(map(float, line.split())) for line in text.splitlines()[:60] if len(line.split()) == 3]
    assert len(rows) >= 50
    err = max(abs(model - ref) for _, model, ref in rows)
    print(f"SineRegressor on the simulated Uno: {len(rows)} points, max |model - sin(x)| = {err:.3f}")
    assert err < 0.15


@pytest.mark.skipif(not shutil.which("simavr"), reason="simavr not installed")
def test_sensor_example_reads_a0_predicts_and_drives_the_led():
    """SineLedPwm on the simulated Uno with a voltage on A0: x follows the ADC, y is the interpreter's
    output for that x, the PWM duty follows y, and the inference time is reported."""
    sketch = REPO / "examples" / "SineLedPwm"
    r = pio("run", "-d", str(sketch))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    model = dmc.load(sketch / "sine.dmc")
    scale, zero = model.output_quant["scale"], model.output_quant["zero_point"]
    line = re.compile(r"x=(-?[\d.]+) y=(-?[\d.]+) duty=(\d+) predict_us=(\d+)")
    for millivolts in (0, 1250, 2500, 3750, 5000):
        program = sketch / ".pio" / "build" / "uno_sim" / "program"
        out = subprocess.run([str(program), "-a", str(millivolts), "-t", "0.25"], stdin=subprocess.DEVNULL,
                             capture_output=True, timeout=60).stdout.decode()
        rows = [m.groups() for m in map(line.match, out.splitlines()) if m]
        assert len(rows) >= 2, out
        x, y, duty, us = float(rows[-1][0]), float(rows[-1][1]), int(rows[-1][2]), int(rows[-1][3])
        raw = millivolts * 1023 // 5000                # the ADC's reading at 5 V reference
        assert abs(x - raw * 2 * np.pi / 1023) < 1e-3, (millivolts, x)
        code = int(model.predict(np.array([[x]], np.float32))[0, 0])
        # the sketch's float32 arithmetic: y = (code - zero) * scale, duty = (int)((y + 1) * 127.5 + 0.5)
        want = np.float32(code - zero) * np.float32(scale)
        f32 = np.float32
        want_duty = min(255, max(0, int(f32(f32(want + f32(1)) * f32(127.5)) + f32(0.5))))
        assert abs(y - want) < 1e-3, f"{millivolts} mV: device y={y}, interpreter {want:.4f}"
        assert duty == want_duty, f"{millivolts} mV: device duty {duty}, expected {want_duty}"
        assert 0 < us < 100000
        print(f"SineLedPwm, A0 at {millivolts} mV: x={x:.3f} y={y:.3f} duty={duty}, predict() {us} us")
