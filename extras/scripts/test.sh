#!/usr/bin/env bash
# Run every test suite (pytest, C++ and PlatformIO tests) and end with "N passed, N failed".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
exec .venv/bin/python extras/scripts/run_tests.py "$@"
