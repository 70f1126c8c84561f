"""python -m ember.bench [--quick] [--plot FILE] [--threads N] [--libs ember numpy torch tensorflow]

Prints one row per case: the median time of each library in ms and the ratio
library / ember (> 1: ember is faster), with the CPU, ember's kernel path and the thread
count. ``--quick`` (smaller matmul, one round, fewer repetitions) finishes in under a
minute on 2 cores.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List

from ._timing import cpu_name, importable, thread_env
from .suites import CASES, LIBRARIES, case_name, run_worker



def _worker(lib: str, quick: bool, threads: int, reps: int):
    cmd = [sys.executable, "-m", "ember.bench", "--worker", lib, "--threads", str(threads), "--reps", str(reps)]
    r = subprocess.run(cmd + (["--quick"] if quick else []), capture_output=True, text=True, env=thread_env(threads))
    lines = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
    if r.returncode or not lines:
        print(f"[{lib} failed]\n{r.stderr[-1500:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1][7:])


def _table(meds: Dict[str, Dict[str, float]], libs: List[str], quick: bool) -> List[str]:
    others = [l for l in libs if l != "ember"]
    head = f"{'case':34s}" + "".join(f"{l + ' ms':>14s}" for l in libs) + "".join(f"{l + '/ember':>17s}" for l in others)
    rows = [head, "-" * len(head)]
    for name in (case_name(c[0], quick) for c in CASES):
        vals = meds.get(name, {})
        row = f"{name:34s}" + "".join(f"{vals[l]:14.2f}" if l in vals else f"{'-':>14s}" for l in libs)
        for l in others:
            ok = l in vals and "ember" in vals
            row += f"{vals[l] / vals['ember']:17.2f}" if ok else f"{'-':>17s}"
        rows.append(row)
    return rows


def plot(meds: Dict[str, Dict[str, float]], libs: List[str], path: str, title: str, quick: bool) -> None:
    """Horizontal bars: for each case, library time / ember time per other library (log scale);
    cases no other library ran are left out."""
    from ..utils.plotting import _matplotlib
    plt = _matplotlib()
    from matplotlib.ticker import FuncFormatter
    others = [l for l in libs if l != "ember"]
    names = [n for n in (case_name(c[0], quick) for c in CASES)
             if "ember" in meds.get(n, {}) and any(l in meds[n] for l in others)]
    if not names:
        raise RuntimeError("ember.bench --plot: no case ran in ember and another library; nothing to draw")
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.9 * len(names)))
    h = 0.8 / max(len(others), 1)
    for j, lib in enumerate(others):
        ys, xs = [], []
        for i, n in enumerate(names):
            if lib in meds[n]:
                ys.append(i + (j - (len(others) - 1) / 2) * h)
                xs.append(meds[n][lib] / meds[n]["ember"])
        bars = ax.barh(ys, xs, height=h, label=f"{lib} time / ember time")
        ax.bar_label(bars, labels=[f"{x:.2f}x" for x in xs], padding=3, fontsize=8)
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("ratio (> 1: ember is faster; log scale)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    lo, hi = ax.get_xlim()
    ax.set_xlim(min(lo, 0.5), hi * 1.6)  # room for the labels
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ember.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, one round: under a minute")
    ap.add_argument("--plot", default=None, metavar="FILE", help="save a bar chart of the ratios (needs matplotlib)")
    ap.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 8))
    ap.add_argument("--libs", nargs="+", default=list(LIBRARIES), choices=list(LIBRARIES))
    ap.add_argument("--rounds", type=int, default=None, help="worker processes per library (default 3, quick 1)")
    ap.add_argument("--reps", type=int, default=None, help="timed calls per case (default 15, quick 5)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    reps = args.reps or (5 if args.quick else 15)
    if args.worker:
        print("RESULT " + json.dumps(run_worker(args.worker, args.quick, args.threads, reps)))
        return
    t0 = time.perf_counter()
    libs = [l for l in args.libs if l in ("ember", "numpy") or importable(l)]
    skipped = [l for l in args.libs if l not in libs]
    rounds = args.rounds or (1 if args.quick else 3)
    runs: Dict[str, Dict[str, List[float]]] = {}
    versions: Dict[str, str] = {}
    for _ in range(rounds):
        for lib in libs:  # alternate the libraries, so a slow minute on a shared machine hits them all
            res = _worker(lib, args.quick, args.threads, reps) or {}
            versions[lib] = res.pop("__version__", "?")
            for case, ms in res.items():
                runs.setdefault(case, {}).setdefault(lib, []).append(ms)
    meds = {c: {l: statistics.median(v) for l, v in d.items()} for c, d in runs.items()}
    import ember
    path = ember._C.kernel_path()
    info = (f"CPU: {cpu_name()}, {os.cpu_count()} logical cores; threads: {args.threads}; "
            f"ember kernel path: {path}")
    print(info)
    print(", ".join(f"{l} {v}" for l, v in versions.items())
          + (f"; not installed: {', '.join(skipped)}" if skipped else ""))
    print(f"median ms of {rounds} round(s) x {reps} calls; ratio = library / ember (> 1: ember is faster)")
    print("\n".join(_table(meds, libs, args.quick)))
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    print(f"({time.perf_counter() - t0:.0f} s; load average at the end: {load}; single runs on a busy "
          "machine vary by 20-40 %)")
    if args.plot:
        plot(meds, libs, args.plot, f"{cpu_name()}, {args.threads} threads, ember {path} kernels", args.quick)
        print(f"chart written to {args.plot}")


if __name__ == "__main__":
    main()
