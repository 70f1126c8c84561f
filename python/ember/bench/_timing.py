"""Timing and environment helpers shared by ``python -m ember.bench`` and the scripts in
the repository's ``bench/`` folder."""
import os
import platform
import statistics
import subprocess
import sys
import time


def med(f, reps: int) -> float:
    """Median wall time of f() in ms (after one warm-up call)."""
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def importable(module: str) -> bool:
    """Whether ``module`` imports, tried in a subprocess (importing PyTorch or TensorFlow
    here would load a second OpenMP runtime into the timing process)."""
    try:
        r = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, timeout=180)
        return r.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else the platform's guess."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def thread_env(threads: int) -> dict:
    """The environment for a worker process using ``threads`` threads in every library."""
    t = str(threads)
    return dict(os.environ, OMP_NUM_THREADS=t, OPENBLAS_NUM_THREADS=t, MKL_NUM_THREADS=t,
                TF_NUM_INTRAOP_THREADS=t, TF_NUM_INTEROP_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")


def kernel_path_line() -> str:
    """The CPU and ember's kernel path in force (after EMBER_DISABLE_AVX512 / _AVX2), for the
    header of every benchmark's output."""
    from .. import _C
    capped = [v for v in ("EMBER_DISABLE_AVX512", "EMBER_DISABLE_AVX2") if os.environ.get(v, "0") not in ("", "0")]
    b = _C.gemm_blocking("float32", 1024)
    return (f"CPU: {cpu_name()}; ember kernel path: {_C.kernel_path()} "
            f"(available: {', '.join(_C.kernel_paths())}{'; capped by ' + ', '.join(capped) if capped else ''}); "
            f"GEMM tile {b['mr']}x{b['nr']}, MC={b['mc']} KC={b['kc']} NC={b['nc']}")
