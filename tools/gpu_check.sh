#!/usr/bin/env bash
# The GPU machine's whole check in one go (about 8 minutes): build ember with that machine's
# Python (CuPy for CUDA 13 installed there), run tests/gpu (CPU/GPU parity of every kernel,
# autograd, a training run) and bench/bench_gpu.py (ember vs PyTorch CUDA eager). Results
# go to $OUT (or ./gpu_check_out): gpu.txt, build.txt, tests_gpu.txt, bench_gpu.{txt,json}.
#
#   bash tools/gpu_check.sh            # PYTHON=python3.12 to pick the interpreter
#
# Build: pip's editable install when scikit-build-core and pybind11 are there (no network
# needed: --no-build-isolation); else CMake directly, the module copied into python/ember
# and the tree put on PYTHONPATH.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
T0=$(date +%s)
say() { echo "[gpu_check +$(( $(date +%s) - T0 ))s] $*"; }

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
  $PY -c "import sys, numpy, cupy; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'cupy', cupy.__version__, 'devices', cupy.cuda.runtime.getDeviceCount())"
  lscpu 2>/dev/null | grep -m1 'Model name' || true; } > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"

say "building ember"
export EMBER_CUDA_EMULATION=0
if ! $PY -c "import ember._C" 2>/dev/null; then
  if $PY -c "import scikit_build_core, pybind11" 2>/dev/null; then
    timeout 300 $PY -m pip install -q --no-build-isolation --no-deps -e . -Cbuild-dir=build/gpu > "$OUT/build.txt" 2>&1
  else
    { cmake -S . -B build/gpu-cmake -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(command -v $PY)" \
        -Dpybind11_DIR="$($PY -m pybind11 --cmakedir)" &&
      cmake --build build/gpu-cmake -j "$(nproc)" &&
      cp build/gpu-cmake/_C*.so python/ember/; } > "$OUT/build.txt" 2>&1
    export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
if ! $PY -c "import ember, ember._C; print('ember', ember.__version__, ember._C.kernel_path())"; then
  say "build failed"; tail -30 "$OUT/build.txt"; exit 1
fi
$PY -c "import ember; ember.set_device('cuda'); print('device', ember.get_device(), 'available', ember.cuda.is_available())"

say "tests/gpu (parity, autograd, training run)"
if $PY -c "import pytest" 2>/dev/null; then
  timeout 240 $PY -m pytest tests/gpu -q -rs -p no:cacheprovider > "$OUT/tests_gpu.txt" 2>&1
else  # the same checks without pytest
  timeout 240 $PY tests/gpu/run_parity.py > "$OUT/tests_gpu.txt" 2>&1
fi
echo "tests/gpu exit status $?"
tail -25 "$OUT/tests_gpu.txt"

say "bench/bench_gpu.py"
timeout 330 $PY bench/bench_gpu.py --reps 5 --rounds 1 --timeout 150 --json "$OUT/bench_gpu.json" | tee "$OUT/bench_gpu.txt"
say "done"
