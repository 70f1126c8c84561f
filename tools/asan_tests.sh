#!/usr/bin/env bash
# Build ember._C with AddressSanitizer into a separate venv and run the test suite under it.
# Usage: bash tools/asan_tests.sh [pytest args...]   (from the repo root; several minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ASAN_VENV:-/tmp/ember-asan-venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q numpy pytest hypothesis scikit-learn scikit-build-core pybind11
"$VENV/bin/pip" install -q --no-build-isolation \
  -Ccmake.define.EMBER_ASAN=ON -Cbuild-dir=build/asan .
LIBASAN=$(g++ -print-file-name=libasan.so)
# libstdc++ preloaded too: python does not link it, and ASan's __cxa_throw interceptor
# must find the real one at start-up or every C++ exception (our ValueErrors) aborts.
LIBSTDCXX=$(g++ -print-file-name=libstdc++.so)
# Python itself leaks by design at exit; we look for memory errors, not leaks.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 LD_PRELOAD="$LIBASAN $LIBSTDCXX" \
  "$VENV/bin/python" -m pytest tests -q -x "$@"
