#!/usr/bin/env bash
# Fill build/gpu-wheelhouse with the pure-Python wheels tools/gpu_check.sh may need on the
# offline GPU machine (pytest and its dependencies, pybind11, scikit-build-core), for
# Python 3.12; pass it along with the run (carry: build/gpu-wheelhouse). About 2 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-build/gpu-wheelhouse}
mkdir -p "$DEST"
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation py --dest "$DEST" \
  pytest pybind11 scikit-build-core
ls -la "$DEST"
