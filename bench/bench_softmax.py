"""Softmax and fused softmax-cross-entropy forward+backward: ember's kernels vs NumPy and
PyTorch (own processes).

    python bench/bench_softmax.py [--threads 1 2] [--reps 7] [--rounds 3]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _seqbench import main, med  # noqa: E402

from ember.bench import reference  # noqa: E402

CASES = [("xent (4096, 1000)", ("xent", 4096, 1000)),
         ("softmax (4096, 1000)", ("softmax", 4096, 1000)),
         ("xent (65536, 64)", ("xent", 65536, 64))]


def data(N, C):
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, C), dtype=np.float32) * 3, rng.integers(0, C, N)


def ember_suite(case, threads, reps):
    import ember
    import ember.functional as F
    ember.set_num_threads(threads)
    kind, N, C = case[1]
    x, lab = data(N, C)
    t = ember.Tensor(x, requires_grad=True)
    g = np.ones((N, C), np.float32)

    def fwd_bwd():
        if kind == "xent":
            F.sparse_softmax_cross_entropy(t, lab).sum().backward()
        else:
            F.softmax(t).backward(g)
        t.grad = None
    return {"fwd+bwd": med(fwd_bwd, reps)}


def numpy_suite(case, threads, reps):
    kind, N, C = case[1]
    x, lab = data(N, C)
    g = np.ones((N, C), np.float32)

    def fwd_bwd():
        if kind == "xent":
            return reference.softmax_xent(x, lab)
        e = np.exp(x - x.max(-1, keepdims=True))
        p = e / e.sum(-1, keepdims=True)
        return p * (g - (g * p).sum(-1, keepdims=True))
    return {"fwd+bwd": med(fwd_bwd, reps)}


def torch_suite(case, threads, reps):
    import torch
    torch.set_num_threads(threads)
    kind, N, C = case[1]
    x, lab = data(N, C)
    t = torch.from_numpy(x).requires_grad_()
    lt = torch.from_numpy(lab)
    g = torch.ones((N, C))

    def fwd_bwd():
        if kind == "xent":
            torch.nn.functional.cross_entropy(t, lt, reduction="none").sum().backward()
        else:
            torch.softmax(t, -1).backward(g)
        t.grad = None
    return {"fwd+bwd": med(fwd_bwd, reps)}


if __name__ == "__main__":
    main(os.path.abspath(__file__), {"ember": ember_suite, "numpy": numpy_suite, "torch": torch_suite}, CASES,
         "softmax / softmax cross-entropy forward+backward, float32")
