#!/usr/bin/env bash
# The GPU machine's whole check in one go, well under 8 minutes: build ember with that
# machine's Python (CuPy for CUDA 13 and PyTorch CUDA installed there, no network), print
# the versions, run tests/gpu (CPU/GPU parity of every kernel, training runs, save/load) and
# bench/bench_gpu.py (ember vs PyTorch CUDA eager). Each step has its own time limit, a
# failed step is reported and the next one still runs; the exit status is the number of
# failed steps. With $OUT set, everything also goes to $OUT/gpu_check.log (and the bench's
# JSON to $OUT/bench_gpu.json).
#
#   bash tools/gpu_check.sh                  # PYTHON=python3.12 picks the interpreter
#   GPU_CHECK_BUDGET=420 bash tools/gpu_check.sh   # seconds for the whole run (default 450)
#
# Build, first that works (what it did is printed):
#   0. ember._C already importable and newer than every csrc/ file (a rerun): kept;
#   1. pip install --no-build-isolation --no-deps -e .   (needs scikit-build-core, pybind11, cmake);
#   2. pip wheel --no-build-isolation --no-deps . + pip install of that wheel;
#   3. CMake directly (cmake + pybind11's CMake config), module copied into python/ember;
#   4. g++ directly on csrc/*.cpp with pybind11's headers (from the pybind11 package, or the
#      copy PyTorch ships in torch/include), module written into python/ember.
# For 3 and 4 python/ is put on PYTHONPATH. Missing pure-Python tools (pytest, pybind11,
# scikit-build-core) are installed offline from $WHEELHOUSE (default build/gpu-wheelhouse,
# filled here by tools/gpu_wheelhouse.sh) when it exists.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
T0=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-450}
FAILED=0
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  exec > >(tee -a "$OUT/gpu_check.log") 2>&1
fi
elapsed() { echo $(( $(date +%s) - T0 )); }
say() { echo "[gpu_check +$(elapsed)s] $*"; }
left() { echo $(( BUDGET - $(elapsed) )); }
# step NAME CAP CMD...: run CMD under `timeout min(CAP, budget left)`, report its status.
step() {
  local name=$1 cap=$2; shift 2
  local lim; lim=$(left); [ "$lim" -gt "$cap" ] && lim=$cap
  if [ "$lim" -lt 5 ]; then say "SKIPPED $name: the time budget (${BUDGET}s) is spent"; FAILED=$((FAILED + 1)); return 1; fi
  say "BEGIN $name (limit ${lim}s)"
  timeout --kill-after=10 "$lim" "$@"
  local rc=$?
  if [ $rc -eq 0 ]; then say "OK $name"; else
    [ $rc -eq 124 ] && say "FAILED $name: timed out after ${lim}s" || say "FAILED $name: exit status $rc"
    FAILED=$((FAILED + 1))
  fi
  return $rc
}

# ---- interpreter ------------------------------------------------------------------------------
if [ -z "${PYTHON:-}" ]; then
  for c in python3 python python3.12; do
    if command -v "$c" >/dev/null && "$c" -c "import cupy" 2>/dev/null; then PYTHON=$c; break; fi
  done
fi
PY=${PYTHON:-python3}
export EMBER_CUDA_EMULATION=0 PYTHONDONTWRITEBYTECODE=1
for d in "$ROOT/shared/data" "$ROOT/../shared/data"; do
  [ -d "$d/mnist" ] && export EMBER_DATASETS=${EMBER_DATASETS:-$d}
done
say "python: $(command -v "$PY") ($($PY -c 'import sys; print(sys.version.split()[0])' 2>&1)), $(nproc) cores, budget ${BUDGET}s"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv 2>&1 || say "nvidia-smi failed"
lscpu 2>/dev/null | grep -m1 'Model name' || true

pipi() {  # pip install into the machine's Python, past PEP 668's guard when it has one
  $PY -m pip install -q "$@" 2>/tmp/gpu_check_pip.err ||
    { grep -q externally-managed /tmp/gpu_check_pip.err && $PY -m pip install -q --break-system-packages "$@"; } ||
    { cat /tmp/gpu_check_pip.err; return 1; }
}
has() { $PY -c "import $1" 2>/dev/null; }

WHEELHOUSE=${WHEELHOUSE:-$ROOT/build/gpu-wheelhouse}
for mod in pytest pybind11 scikit_build_core; do
  if ! has $mod && [ -d "$WHEELHOUSE" ]; then
    pkg=${mod//_/-}
    say "installing $pkg from $WHEELHOUSE (offline)"
    pipi --no-index --find-links "$WHEELHOUSE" "$pkg" || say "could not install $pkg offline"
  fi
done
say "tools: pytest=$(has pytest && echo yes || echo no) pybind11=$(has pybind11 && echo yes || echo no)" \
    "scikit_build_core=$(has scikit_build_core && echo yes || echo no) cmake=$(command -v cmake || echo no)" \
    "ninja=$(command -v ninja || echo no) g++=$(command -v g++ || echo no) torch=$(has torch && echo yes || echo no)"

# ---- build ------------------------------------------------------------------------------------
# ember imported from this tree (an editable install keeps _C in site-packages) with its _C
built_ok() { $PY -c "import ember, ember._C, sys; sys.exit(0 if ember.__file__.startswith('$ROOT/') else 3)" 2>/dev/null; }
fresh_so() {  # built_ok, and the module newer than every C++ source (a rerun on a warm machine)
  built_ok || return 1
  local so; so=$($PY -c "import ember._C as c; print(c.__file__)" 2>/dev/null) || return 1
  [ -z "$(find csrc CMakeLists.txt -newer "$so" -print -quit)" ]
}
build_pip_editable() { $PY -m pip install --no-build-isolation --no-deps --no-index -e . -Cbuild-dir=build/gpu; }
build_pip_wheel() {
  rm -rf build/gpu-wheel && $PY -m pip wheel --no-build-isolation --no-deps --no-index -w build/gpu-wheel . &&
    pipi --no-deps --force-reinstall build/gpu-wheel/ember-*.whl
}
build_cmake() {
  cmake -S . -B build/gpu-cmake -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(command -v "$PY")" \
    -Dpybind11_DIR="$($PY -m pybind11 --cmakedir)" && cmake --build build/gpu-cmake -j "$(nproc)" &&
    cp build/gpu-cmake/_C*.so python/ember/
}
build_gxx() {
  local inc pyinc ext flags
  pyinc=$($PY -c "import sysconfig; print(sysconfig.get_paths()['include'])") || return 1
  inc=$($PY -c "import pybind11; print(pybind11.get_include())" 2>/dev/null) ||
    inc=$($PY -c "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'include'))") || return 1
  [ -f "$inc/pybind11/pybind11.h" ] || { echo "no pybind11 headers found (pybind11 package or torch/include)"; return 1; }
  ext=$($PY -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
  echo "g++ with pybind11 headers from $inc"
  mkdir -p build/gpu-gxx
  flags="-O3 -std=c++17 -fPIC -fvisibility=hidden -fopenmp -fno-math-errno -fno-trapping-math -DEMBER_X86=1"
  flags="$flags -DEMBER_OPENMP=1 -I$pyinc -I$inc -Icsrc"
  export flags
  ls csrc/*.cpp | xargs -P "$(nproc)" -I{} sh -c '
    f={}; o=build/gpu-gxx/$(basename "$f" .cpp).o; extra=""
    case $f in *_avx512.cpp) extra="-mavx512f -mavx2 -mfma";; *_avx2.cpp) extra="-mavx2 -mfma";; esac
    g++ $flags $extra -c "$f" -o "$o" || exit 255' || return 1
  g++ -shared -fopenmp build/gpu-gxx/*.o -o "python/ember/_C$ext"
}

do_build() {
  case ${GPU_CHECK_BUILD:-auto} in  # force one way (to test the fallbacks)
    pip) build_pip_editable; return;; wheel) build_pip_wheel; return;; cmake) build_cmake; return;;
    gxx) build_gxx; return;;
  esac
  if fresh_so; then echo "build: kept the existing $($PY -c 'import ember._C as c; print(c.__file__)')"; return 0; fi
  if has scikit_build_core && has pybind11 && command -v cmake >/dev/null; then
    echo "build: pip install --no-build-isolation -e ."
    build_pip_editable && built_ok && return 0
    echo "build: pip wheel --no-build-isolation ."
    build_pip_wheel && $PY -c "import ember._C" && return 0
  else
    echo "build: pip not used (needs scikit-build-core, pybind11 and cmake)"
  fi
  if has pybind11 && command -v cmake >/dev/null; then
    echo "build: CMake directly"
    build_cmake && return 0
  fi
  echo "build: g++ directly"
  build_gxx
}
BUILD_LOG=${OUT:-/tmp}/gpu_check_build.log
step "build" 240 bash -c "$(declare -f has pipi built_ok fresh_so build_pip_editable build_pip_wheel build_cmake build_gxx do_build); PY='$PY'; ROOT='$ROOT'; do_build" > "$BUILD_LOG" 2>&1
BUILD_RC=$?
grep -E '^(build:|g\+\+ with|\[gpu_check)' "$BUILD_LOG"
[ $BUILD_RC -ne 0 ] && { echo "(last lines of $BUILD_LOG:)"; tail -25 "$BUILD_LOG"; }
if ! built_ok; then
  export PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"  # builds 3 and 4 write into python/ember
  say "using python/ on PYTHONPATH"
fi

# ---- versions ---------------------------------------------------------------------------------
step "import" 60 $PY -c "
import sys, numpy, ember, ember._C, cupy
rt = cupy.cuda.runtime
p = rt.getDeviceProperties(0)
v = lambda x: f'{x // 1000}.{x % 1000 // 10}'
print('ember', ember.__version__, 'from', ember.__file__, '| kernel path', ember._C.kernel_path())
print('numpy', numpy.__version__, '| cupy', cupy.__version__, '| CUDA runtime', v(rt.runtimeGetVersion()),
      '| driver', v(rt.driverGetVersion()), '| GPU', p['name'].decode() if isinstance(p['name'], bytes) else p['name'])
print('ember.cuda.is_available():', ember.cuda.is_available(), ember.cuda.unavailable_reason() or '')
try:
    import torch
    print('torch', torch.__version__, '| torch CUDA', torch.version.cuda, '| sees GPU', torch.cuda.is_available())
except ImportError as e:
    print('torch missing:', e)
ember.set_device('cuda')
x = ember.Tensor(numpy.arange(6, dtype=numpy.float32).reshape(2, 3)).to('cuda')
print('device check:', ember.get_device(), type(x.data).__module__, (x @ x.T).numpy().tolist())
"

# ---- tests/gpu --------------------------------------------------------------------------------
# --maxfail=10 rather than -x: one family's failure should not hide the training and save runs.
export EMBER_GPU_TESTS_REQUIRE=1  # no GPU seen: an error here, not 59 quiet skips
if has pytest; then
  step "tests/gpu" 180 $PY -m pytest tests/gpu -q -rs --maxfail=10 -p no:cacheprovider --durations=10
else  # the kernel table and the seed-CNN run without pytest
  step "tests/gpu (run_parity.py: no pytest here)" 180 $PY tests/gpu/run_parity.py
fi

# ---- bench ------------------------------------------------------------------------------------
step "bench_gpu" 400 $PY bench/bench_gpu.py --rounds 3 --reps 3 --timeout 100 \
  ${OUT:+--json "$OUT/bench_gpu.json"}

say "done: $FAILED step(s) failed"
exit $FAILED
