#!/usr/bin/env bash
# One-time set-up of a fresh Debian machine for DeepMicroCompression development and CI:
# toolchains from apt, a virtual environment in .venv with the pinned Python packages and the
# bundled `dmc` package installed in editable mode. Safe to re-run: finished steps are skipped.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

# Toolchains: host g++, AVR (Uno), Cortex-M and RISC-V RV32 builds; simavr (with its library,
# to build the UART harness) and QEMU (Arm; RISC-V in qemu-system-misc) for the simulated
# boards; Debian's Arduino core and the Arduino IDE's command-line builder; clang with its
# sanitizer and libFuzzer runtimes for the C++ fuzzers; Fashion-MNIST for the backbone study
# and the checkpoint tools.
APT_PACKAGES=(g++ gcc-avr avr-libc binutils-avr gcc-arm-none-eabi libnewlib-arm-none-eabi
              libstdc++-arm-none-eabi-newlib simavr libsimavr-dev libelf-dev qemu-system-arm
              gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc
              arduino-core-avr arduino-builder clang libclang-rt-14-dev dataset-fashion-mnist)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
STAMP=.venv/.dmc-setup
WANT="$(cat extras/python/requirements-dev.txt extras/python/pyproject.toml | sha256sum | cut -c1-16)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "setup: installing Python packages"
  .venv/bin/pip install -q -r extras/python/requirements-dev.txt
  .venv/bin/pip install -q --no-deps -e extras/python
  echo "$WANT" > "$STAMP"
fi
# PlatformIO's build engine from PyPI, in this checkout's own PlatformIO folder (no registry)
export PLATFORMIO_CORE_DIR="${PLATFORMIO_CORE_DIR:-$ROOT/.pio-core}"
[ -f "$PLATFORMIO_CORE_DIR/packages/tool-scons/.piopm" ] || .venv/bin/python extras/platformio/provide_scons.py
echo "setup: ready ($(.venv/bin/python -c 'import torch, dmc; print("torch", torch.__version__, "dmc", dmc.__version__)'))"
