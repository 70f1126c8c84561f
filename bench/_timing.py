"""Timing helper shared by the benchmarks."""
import statistics
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
