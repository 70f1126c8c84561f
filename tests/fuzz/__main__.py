"""python -m tests.fuzz --minutes 10 --path avx2   (from the repository root)

Fuzzes every function of ember._C (or --functions a,b) on one kernel path (portable,
avx2, avx512, or all: each path the CPU has, --minutes each) and prints, per function,
the calls tried, matched with the NumPy reference, rejected with a Python exception,
wrong and crashed. Exit status 1 when any call crashed or was wrong.
"""
from __future__ import annotations

import argparse
import sys

from . import runner


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=1.0, help="time per kernel path")
    ap.add_argument("--path", default="all", help="portable, avx2, avx512 or all")
    ap.add_argument("--functions", default="", help="comma-separated _C names (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-round", type=int, default=10, help="cases per function before moving on")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    names = [n for n in a.functions.split(",") if n] or runner.all_names()
    if a.child:
        runner.child_main(a.path, a.seconds, a.seed, names, a.per_round)
        return 0
    from ember import _C
    paths = _C.kernel_paths() if a.path == "all" else [a.path]
    bad = 0
    for p in paths:
        rep = runner.run(p, a.minutes * 60, names, seed=a.seed, per_round=a.per_round)
        print(rep.table(f"== ember._C fuzz, kernel path {p}, {a.minutes:g} min, {rep.children} process(es)"))
        bad += rep.total("wrong") + rep.total("crash")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
