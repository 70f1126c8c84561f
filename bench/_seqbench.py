"""Shared harness for the sequence-model benchmarks (bench_attention / bench_rnn /
bench_softmax): each library runs in its own worker process (two OpenMP runtimes in one
process disturb each other), workers alternate over several rounds, and the table shows
medians and ratios."""
import argparse
import json
import os
import statistics
import subprocess
import sys

from ember.bench._timing import importable, kernel_path_line, med  # noqa: F401  (med re-exported to the benchmarks)


def main(script: str, suites: dict, cases: list, doc: str) -> None:
    """suites: {lib: fn(case, threads, reps) -> {metric: ms}}; run as workers in subprocesses."""
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--worker", default=None)
    ap.add_argument("--worker-threads", type=int, default=1)
    args = ap.parse_args()
    if args.worker:
        res = {c[0]: suites[args.worker](c, args.worker_threads, args.reps) for c in cases}
        print("RESULT " + json.dumps(res))
        return
    libs = [lib for lib in suites if lib != "torch" or importable("torch")]
    runs = {}
    for _ in range(args.rounds):
        for t in args.threads:
            for lib in libs:
                env = dict(os.environ, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
                r = subprocess.run([sys.executable, script, "--worker", lib, "--worker-threads", str(t),
                                    "--reps", str(args.reps)], capture_output=True, text=True, env=env)
                line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
                if r.returncode or not line:
                    print(f"[{lib} t={t} failed]\n{r.stderr[-2000:]}")
                    continue
                for case, metrics in json.loads(line[0][7:]).items():
                    for m, v in metrics.items():
                        runs.setdefault((case, m, t, lib), []).append(v)
    print(doc)
    print(kernel_path_line())
    print(f"medians of {args.rounds} rounds x {args.reps} runs, ms (shared, loaded machine: expect 20-40 % noise)")
    hdr = f"{'case':34s} {'metric':10s} {'thr':>3s} " + " ".join(f"{lib:>9s}" for lib in libs)
    hdr += "  " + " ".join(f"{'ember/' + lib:>12s}" for lib in libs if lib != "ember")
    print(hdr)
    print("-" * len(hdr))
    keys = sorted({(c, m, t) for (c, m, t, _) in runs}, key=lambda k: ([c[0] for c in cases].index(k[0]), k[1], k[2]))
    for case, m, t in keys:
        vals = {lib: statistics.median(runs[(case, m, t, lib)]) for lib in libs if (case, m, t, lib) in runs}
        row = f"{case:34s} {m:10s} {t:3d} " + " ".join(f"{vals.get(lib, float('nan')):9.2f}" for lib in libs)
        if "ember" in vals:
            row += "  " + " ".join(f"{vals['ember'] / vals[lib]:12.2f}" if lib in vals else f"{'-':>12s}"
                                   for lib in libs if lib != "ember")
        print(row)
    print("(ember/X < 1 means ember is faster)")
