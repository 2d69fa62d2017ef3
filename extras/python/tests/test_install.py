"""The dmc package as a user installs it, offline: a wheel from `pip wheel` and `pip install` of
the source folder, each into a fresh venv outside the repository whose only other packages are
numpy and tqdm (linked from this environment; pip runs with --no-index, nothing is downloaded).
From there `dmc --help`, `dmc export` and `dmc verify --host` must work with the C++ runtime that
the package carries."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import dmc
from dmc.deploy.codegen import generate

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "examples" / "MnistLeNet5" / "lenet5_tiny.dmc"
pytestmark = pytest.mark.install


def clean_env() -> dict:
    """The environment of a user's shell: no path into this checkout, no dmc overrides, no index."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DMC_RUNTIME_DIR", "DMC_LIBRARY_DIR", "PYTHONHOME")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def run(cmd, cwd, check=True, **extra_env):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env={**clean_env(), **extra_env})
    if check:
        assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def library_copy(tmp_path_factory) -> Path:
    """The parts of the library the package is built from (as in the `pio pkg pack` archive)."""
    lib = tmp_path_factory.mktemp("library") / "DeepMicroCompression"
    shutil.copytree(REPO / "src", lib / "src")
    py = lib / "extras" / "python"
    shutil.copytree(REPO / "extras" / "python" / "dmc", py / "dmc", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / "extras" / "python" / name, py / name)
    return lib


@pytest.fixture(scope="module")
def wheel(library_copy, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", out,
         library_copy / "extras" / "python"], cwd=out)
    (whl,) = out.glob("dmc-*.whl")
    return whl


def link_packages(folder: Path, *modules: str) -> Path:
    """A folder of symlinks to these installed packages of this environment (with their dist-info)."""
    folder.mkdir()
    for module in modules:
        source = Path(__import__(module).__file__).parent
        for entry in source.parent.iterdir():      # the package, its .libs and its dist-info
            if entry.name == module or entry.name.startswith((module + ".", module + "-")):
                (folder / entry.name).symlink_to(entry)
    return folder


def fresh_venv(where: Path, install_target) -> Path:
    """A venv with no pip and no packages, numpy and tqdm linked in, then dmc installed offline
    (building from the source folder sees this environment's setuptools, at build time only)."""
    run([sys.executable, "-m", "venv", "--without-pip", where], cwd=where.parent)
    python = where / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(run([python, "-c", purelib], cwd=where).stdout.strip())
    (site / "numpy-tqdm.pth").write_text(f"{link_packages(where / 'numpy-tqdm', 'numpy', 'tqdm')}\n")
    build_tools = link_packages(where.parent / "build-tools", "setuptools", "_distutils_hack")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         "--no-build-isolation", install_target], cwd=where.parent, PYTHONPATH=str(build_tools))
    return where


def test_wheel_carries_the_runtime_and_nothing_from_the_repository(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    runtime = {n[len("dmc/runtime/"):] for n in names if n.startswith("dmc/runtime/")}
    expected = {str(p.relative_to(REPO / "src")) for p in (REPO / "src").rglob("*") if p.is_file()}
    assert runtime == expected, f"runtime in the wheel differs from src/: {sorted(runtime ^ expected)}"
    with zipfile.ZipFile(wheel) as z:
        differ = [n for n in expected if z.read("dmc/runtime/" + n) != (REPO / "src" / n).read_bytes()]
    assert not differ, differ
    stray = [n for n in names if "__pycache__" in n or n.startswith(("tests/", "dmc/tests/")) or "experiments" in n]
    assert not stray, stray
    print(f"wheel {wheel.name}: {wheel.stat().st_size} B, {len(names)} files, {len(runtime)} runtime headers")


@pytest.mark.parametrize("how", ["wheel", "source folder"])
def test_installed_dmc_exports_and_verifies_outside_the_repository(how, wheel, library_copy, tmp_path):
    target = wheel if how == "wheel" else library_copy / "extras" / "python"
    venv = fresh_venv(tmp_path / "venv", target)
    work = tmp_path / "user"
    work.mkdir()
    dmc_cmd = venv / "bin" / "dmc"
    where = run([venv / "bin" / "python", "-c", "import dmc, dmc.deploy.host_build as h; "
                 "print(dmc.__file__); print(h.runtime_dir())"], cwd=work).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), f"dmc does not run from the venv: {where}"
    assert run([venv / "bin" / "python", "-c", "import torch"], cwd=work, check=False).returncode != 0

    out = run([dmc_cmd, "--help"], cwd=work).stdout
    assert "export" in out and "verify" in out

    shutil.copy(MODEL, work / "model.dmc")
    run([dmc_cmd, "export", "model.dmc", "--out", "gen", "--name", "lenet"], cwd=work)
    for fname, text in generate(dmc.load(MODEL), "lenet").items():
        assert (work / "gen" / fname).read_text() == text, f"{fname} from the installed dmc differs"

    with np.load(REPO / "test" / "data" / "mnist_test_256.npz") as z:
        np.savez(work / "few.npz", x=z["x"][:16], y=z["y"][:16])
    out = run([dmc_cmd, "verify", "model.dmc", "--data", "few.npz", "--host"], cwd=work).stdout
    assert "16 samples, 160 output values compared bit-exactly" in out and "agreement: 100.00%" in out, out

    r = run([dmc_cmd, "verify", "model.dmc", "--data", "few.npz", "--sim", "uno"], cwd=work, check=False)
    assert r.returncode == 2 and "set DMC_LIBRARY_DIR" in r.stderr, r.stderr
