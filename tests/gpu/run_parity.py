"""The parity checks of tests/gpu (the kernel table, a training run) without pytest (a GPU
machine whose Python has CuPy but no pytest): every kernel of the interface CPU vs GPU in float64 (1e-10) and float32
(1e-4), then the seed-CNN training run. Exit status 0 when all pass.

    python tests/gpu/run_parity.py
"""
import itertools
import os
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_cases  # noqa: E402

import ember  # noqa: E402
from ember.backend import cpu  # noqa: E402


def main() -> int:
    from ember.backend.cuda import runtime
    why = None if runtime.emulating() else runtime.unavailable_reason()
    if why:
        print(f"SKIP: no usable GPU: {why}")
        return 0
    ember.set_device("cuda")
    import ember.backend.cuda as cuda
    xp = runtime.xp()
    failures = 0
    for case in sorted(kernel_cases.CASES):
        for (dt, rtol, atol), big in itertools.product(((np.float64, 1e-10, 1e-12), (np.float32, 1e-4, 1e-5)),
                                                      (False, True)):
            what = f"{case:12s} {np.dtype(dt).name:8s} {'big' if big else 'small':5s}"
            t = time.perf_counter()
            try:
                kernel_cases.check_case(case, dt, cpu, cuda, lambda a: xp.asarray(a) if isinstance(a, np.ndarray) else a,
                                        lambda a: a.get(), rtol, atol, big=big)
                print(f"PASS {what} {time.perf_counter() - t:6.2f} s", flush=True)
            except Exception:  # report every case, then fail
                failures += 1
                print(f"FAIL {what}\n{traceback.format_exc(limit=3)}", flush=True)
    from training_run import seed_cnn_run
    try:
        seed_cnn_run()
        print("PASS seed CNN training run (CPU vs GPU)")
    except Exception:
        failures += 1
        print(f"FAIL seed CNN training run\n{traceback.format_exc(limit=3)}")
    ember.set_device("cpu")
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
