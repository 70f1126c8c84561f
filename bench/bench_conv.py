"""conv2d forward, forward+backward and max-pool forward+backward: ember vs a NumPy im2col
baseline (sliding_window_view + matmul) in the same process, and vs PyTorch in its own
process (two OpenMP runtimes in one process disturb each other). Medians of several runs.

    python bench/bench_conv.py [--threads 1 2] [--reps 7]
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

from ember.bench import reference
from ember.bench._timing import kernel_path_line, med

LAYERS = {  # name: (N, H, W, C, OC, padding)
    "mnist 128x28x28x1->32": (128, 28, 28, 1, 32, "valid"),
    "mid 32x56x56x64->64": (32, 56, 56, 64, 64, "same"),
}


def numpy_suite(N, H, W, C, OC, pad, reps):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, H, W, C), dtype=np.float32)
    w = rng.standard_normal((3, 3, C, OC), dtype=np.float32)
    p = 1 if pad == "same" else 0

    def fwd():
        return reference.conv3x3(x, w, p)

    def fwd_bwd():
        col, y = fwd()
        return reference.conv3x3_backward(x, w, col, np.maximum(y, 0), p)

    y = fwd()[1]

    def pool_only():
        oh, ow = y.shape[1] // 2, y.shape[2] // 2
        v = y[:, :2 * oh, :2 * ow].reshape(N, oh, 2, ow, 2, OC)
        m = v.max(axis=(2, 4))
        return (v == m[:, :, None, :, None]) * m[:, :, None, :, None]

    return {"fwd": med(fwd, reps), "fwd+bwd": med(fwd_bwd, reps), "pool f+b": med(pool_only, reps)}


def ember_suite(N, H, W, C, OC, pad, reps, threads):
    import ember
    from ember import _C
    ember.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, H, W, C), dtype=np.float32)
    w = rng.standard_normal((3, 3, C, OC), dtype=np.float32)
    b = np.zeros(OC, np.float32)
    pads = (1, 1, 1, 1) if pad == "same" else (0, 0, 0, 0)
    need_dx = C > 1  # the first layer of a model needs no input gradient
    y = _C.conv2d_forward(x, w, b, (1, 1), pads, (1, 1), 1, 1)

    def fwd_bwd():
        yy = _C.conv2d_forward(x, w, b, (1, 1), pads, (1, 1), 1, 1)
        return _C.conv2d_backward(x, w, yy, yy, (1, 1), pads, (1, 1), 1, 1, need_dx, True, True)

    def pool():
        yp, idx = _C.max_pool2d_forward(y, (2, 2), (2, 2), (0, 0, 0, 0))
        return _C.max_pool2d_backward(yp, idx, y.shape, (2, 2), (2, 2), (0, 0, 0, 0))

    return {"fwd": med(lambda: _C.conv2d_forward(x, w, b, (1, 1), pads, (1, 1), 1, 1), reps),
            "fwd+bwd": med(fwd_bwd, reps), "pool f+b": med(pool, reps)}


def torch_suite(N, H, W, C, OC, pad, reps, threads):
    import torch
    torch.set_num_threads(threads)
    x = torch.randn(N, C, H, W)
    conv = torch.nn.Conv2d(C, OC, 3, padding=1 if pad == "same" else 0)
    x.requires_grad_(C > 1)

    def fwd():
        with torch.no_grad():
            return torch.relu(conv(x))

    def fwd_bwd():
        y = torch.relu(conv(x))
        y.backward(y.detach())

    y = fwd()
    yr = y.clone().requires_grad_(True)

    def pool():
        p = torch.nn.functional.max_pool2d(yr, 2)
        p.backward(p.detach())

    return {"fwd": med(fwd, reps), "fwd+bwd": med(fwd_bwd, reps), "pool f+b": med(pool, reps)}


def child(kind, name, reps, threads):
    spec = LAYERS[name]
    res = ember_suite(*spec, reps, threads) if kind == "ember" else torch_suite(*spec, reps, threads)
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--child", nargs=4)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]), int(args.child[3]))
        return

    def sub(kind, name, t):
        env = dict(os.environ, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(t))
        out = subprocess.run([sys.executable, __file__, "--child", kind, name, str(args.reps), str(t)],
                             capture_output=True, text=True, env=env)
        if out.returncode:
            return None
        return json.loads(out.stdout.strip().splitlines()[-1])

    print(kernel_path_line())
    print("times in ms (median); ratio = other / ember (> 1: ember faster)")
    for t in args.threads:
        os.environ["OPENBLAS_NUM_THREADS"] = str(t)
        for name, spec in LAYERS.items():
            e = sub("ember", name, t)
            tr = sub("torch", name, t)
            npres = sub_numpy(spec, args.reps, t)
            for op in ("fwd", "fwd+bwd", "pool f+b"):
                line = f"{t}thr {name:24} {op:9} ember {e[op]:8.2f}  numpy {npres[op]:8.2f} (x{npres[op] / e[op]:5.1f})"
                if tr:
                    line += f"  torch {tr[op]:8.2f} (x{tr[op] / e[op]:5.2f})"
                print(line)


def sub_numpy(spec, reps, t):
    code = (f"import sys; sys.argv=['x']; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import bench_conv as b, json; print(json.dumps(b.numpy_suite(*{spec!r}, {reps})))")
    env = dict(os.environ, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(t))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
