"""GEMM benchmark: ember._C.gemm against numpy.matmul (OpenBLAS), 1 and 2 threads.

Each (library, thread count) runs in its own subprocess with OMP_NUM_THREADS /
OPENBLAS_NUM_THREADS set, so the OpenMP pool of ember and the pthread pool of OpenBLAS
never spin against each other on a small machine. Both libraries are timed through their
Python call with a preallocated output (`ember._C.gemm(a, b, out=c)`,
`np.matmul(a, b, out=c)`), transposed operands passed as transposed views (no copies).

Prints median GFLOP/s per row, the ratio ember / NumPy, the median ratio over the square
rows with n >= 512, and the machine's nominal AVX2 peak.

    python bench/bench_gemm.py            # full run (~2-3 minutes)
    python bench/bench_gemm.py --quick    # fewer repetitions and shapes
    python bench/bench_gemm.py --rounds 3 # more process pairs (default 2), medians across them
    python bench/bench_gemm.py --path avx2  # cap ember's kernels (portable / avx2 / avx512)

ember picks its best kernel path at run time: AVX-512 where the CPU has it, else AVX2/FMA,
else portable. NumPy's OpenBLAS reports the kernel family it chose (threadpoolctl's
"architecture"; on this machine "Haswell", i.e. AVX2); both are printed.

On a shared machine, 2-thread numbers are only meaningful when nothing else is running:
an OpenMP or OpenBLAS team whose second thread is descheduled waits for a scheduler tick.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def cases(quick: bool) -> list[tuple[str, str, tuple]]:
    """(group, label, spec); spec = ("mm", M, K, N, ta, tb) or ("bmm", B, M, K, N, tb)."""
    out = []
    for n in ([64, 256, 512, 1024] if quick else [64, 128, 256, 512, 1024, 2048]):
        out.append(("square", f"{n}x{n} @ {n}x{n}", ("mm", n, n, n, False, False)))
    for (b, i, o) in [(128, 784, 128), (128, 128, 10), (128, 5408, 128)]:
        out.append(("dense", f"X{b}x{i} @ W{i}x{o}", ("mm", b, i, o, False, False)))
        out.append(("dense", f"dX: dY{b}x{o} @ W{i}x{o}^T", ("mm", b, o, i, False, True)))
        out.append(("dense", f"dW: X{b}x{i}^T @ dY{b}x{o}", ("mm", i, b, o, True, False)))
    p, k, c = 26 * 26 * 128, 9, 32
    out.append(("im2col", f"cols{p}x{k} @ W{k}x{c}", ("mm", p, k, c, False, False)))
    out.append(("im2col", f"dcols: dY{p}x{c} @ W^T", ("mm", p, c, k, False, True)))
    out.append(("im2col", f"dW: cols^T @ dY{p}x{c}", ("mm", k, p, c, True, False)))
    # matrix-vector shapes (not in the list): a batch of one, a Dense(1) head
    out.append(("gemv", "x1x784 @ W784x128", ("mm", 1, 784, 128, False, False)))
    out.append(("gemv", "X128x128 @ W128x1", ("mm", 128, 128, 1, False, False)))
    out.append(("gemv", "x1x4096 @ W4096x4096", ("mm", 1, 4096, 4096, False, False)))
    out.append(("attn", "64 x Q256x64 @ K^T", ("bmm", 64, 256, 64, 256, True)))
    out.append(("attn", "64 x P256x256 @ V256x64", ("bmm", 64, 256, 256, 64, False)))
    return out


def operands(spec, rng):
    """Operands as the user would hold them: a transposed operand is a .T view."""
    if spec[0] == "mm":
        _, m, k, n, ta, tb = spec
        a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
        a = a.T if ta else a
        b = b.T if tb else b
        return a, b, np.empty((m, n), np.float32), 2.0 * m * n * k
    _, bs, m, k, n, tb = spec
    a = rng.standard_normal((bs, m, k), dtype=np.float32)
    b = rng.standard_normal((bs, n, k) if tb else (bs, k, n), dtype=np.float32)
    b = b.transpose(0, 2, 1) if tb else b
    return a, b, np.empty((bs, m, n), np.float32), 2.0 * bs * m * n * k


def time_call(fn, flops: float, quick: bool) -> float:
    """Median GFLOP/s over several repetitions of a batch of calls sized to ~40 ms."""
    for _ in range(3):
        fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int((0.02 if quick else 0.04) / one))
    reps = 5 if quick else 7
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return flops / statistics.median(times) / 1e9


def worker(lib: str, threads: int, quick: bool, path: str) -> None:
    rng = np.random.default_rng(0)
    if lib == "ember":
        import ember
        from ember import _C

        ember.set_num_threads(threads)
        _C.set_kernel_path(path)
    # Keep every core busy for 0.3 s first: here the first ~30 ms of 2-thread work after an
    # idle spell run at half speed (the cores clock up; NumPy and ember alike).
    w = rng.standard_normal((512, 512), dtype=np.float32)
    wo = np.empty_like(w)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        if lib == "numpy":
            np.matmul(w, w, out=wo)
        else:
            _C.gemm(w, w, out=wo)
    res = {}
    for group, label, spec in cases(quick):
        a, b, c, flops = operands(spec, rng)
        if lib == "numpy":
            fn = lambda: np.matmul(a, b, out=c)  # noqa: E731
        elif spec[0] == "mm":
            fn = lambda: _C.gemm(a, b, out=c)  # noqa: E731
        else:
            fn = lambda: _C.gemm_batched(a, b, out=c)  # noqa: E731
        res[label] = time_call(fn, flops, quick)
    print(json.dumps(res))


def run_worker(lib: str, threads: int, quick: bool, path: str) -> dict:
    # The ember process keeps OpenBLAS (loaded by numpy) at 1 thread: its idle pthreads
    # would otherwise spin on the cores ember's OpenMP team needs.
    blas = str(threads) if lib == "numpy" else "1"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=blas,
               MKL_NUM_THREADS=blas)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, "--threads", str(threads),
           "--path", path]
    if quick:
        cmd.append("--quick")
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def kernel_path(cap: str) -> str:
    code = (f"from ember import _C; _C.set_kernel_path({cap!r}); "
            "b = _C.gemm_blocking('float32', 1024); "
            "print(_C.kernel_path(), '(available:', ', '.join(_C.kernel_paths()) + ');', "
            "f\"float32 tile {b['mr']}x{b['nr']}, blocking MC={b['mc']} KC={b['kc']} NC={b['nc']} from \""
            "f\"L1d {b['l1d'] // 1024} KiB, L2 {b['l2'] // 1024} KiB, L3 {b['l3'] >> 20} MiB\")")
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    for d in threadpool_info():
        if d.get("user_api") == "blas":
            return f"{d.get('internal_api')} {d.get('version')}, kernels: {d.get('architecture')}"
    return "unknown"


def nominal_peak() -> tuple[float, int]:
    mhz = 0.0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    mhz = max(mhz, float(line.split(":")[1]))
    except OSError:
        pass
    return mhz, os.cpu_count() or 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None,
                    help="process pairs per thread count (default 2; 1 with --quick)")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--path", default="auto", choices=["auto", "avx512", "avx2", "portable"],
                    help="cap ember's kernel path (default: the best this CPU has)")
    ap.add_argument("--worker", choices=["ember", "numpy"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    if args.worker:
        worker(args.worker, args.threads[0], args.quick, args.path)
        return

    mhz, cores = nominal_peak()
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    print(f"cores: {cores}, cpu MHz (nominal, /proc/cpuinfo): {mhz:.0f}, "
          f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"theoretical AVX2 float32 peak: 2 FMA x 8 lanes x 2 = 32 flop/cycle/core -> "
          f"{32 * mhz / 1e3:.1f} GFLOP/s per core at the nominal clock "
          f"({32 * mhz / 1e3 * cores:.1f} for {cores} cores; boost clocks are higher)")
    print(f"theoretical AVX-512 float32 peak (2 x 512-bit FMA pipes, as on Zen 5): 64 flop/cycle/core"
          f" -> {64 * mhz / 1e3:.1f} GFLOP/s per core at the nominal clock")
    print(f"ember kernel path: {kernel_path(args.path)}; numpy BLAS: {blas_info()}")
    labels = [(g, l) for g, l, _ in cases(args.quick)]
    square_big = {l for _, l, s in cases(args.quick) if s[0] == "mm" and s[1] == s[2] == s[3] >= 512}
    summary = {}
    for nt in args.threads:
        runs = {"ember": [], "numpy": []}
        for _ in range(args.rounds):
            for lib in ("numpy", "ember"):
                runs[lib].append(run_worker(lib, nt, args.quick, args.path))
        med = {lib: {l: statistics.median(r[l] for r in runs[lib]) for _, l in labels}
               for lib in runs}
        print(f"\n== {nt} thread{'s' if nt > 1 else ''} (GFLOP/s, median) ==")
        print(f"{'group':7} {'shape':32} {'ember':>9} {'numpy':>9} {'ratio':>7}")
        ratios = {}
        for g, l in labels:
            e, n = med["ember"][l], med["numpy"][l]
            ratios[l] = e / n
            print(f"{g:7} {l:32} {e:9.1f} {n:9.1f} {ratios[l]:7.2f}")
        big = statistics.median(ratios[l] for l in square_big) if square_big else float("nan")
        dl = [ratios[l] for g, l in labels if g in ("dense", "im2col")]
        print(f"median ratio, square n >= 512: {big:.3f}")
        print(f"median ratio, dense + im2col rows: {statistics.median(dl):.3f} "
              f"(min {min(dl):.2f})")
        summary[nt] = big
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print("\nsummary (median ember/numpy, n >= 512): " +
          ", ".join(f"{nt} thr: {r:.3f}" for nt, r in summary.items()) +
          f"; load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
