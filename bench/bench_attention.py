"""Scaled dot-product attention forward and forward+backward: ember's tiled kernel vs a
materialising NumPy reference and PyTorch's scaled_dot_product_attention (own processes).

    python bench/bench_attention.py [--threads 1 2] [--reps 5] [--rounds 3]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _seqbench import main, med  # noqa: E402

CASES = [("B8 H8 T256 D64 causal", (8, 8, 256, 64, True)),
         ("B8 H8 T256 D64", (8, 8, 256, 64, False)),
         ("B4 H4 T1024 D64 causal", (4, 4, 1024, 64, True))]


def data(B, H, T, D):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((B, H, T, D), dtype=np.float32) for _ in range(4)]


def ember_suite(case, threads, reps):
    import ember
    import ember.functional as F
    ember.set_num_threads(threads)
    B, H, T, D, causal = case[1]
    q, k, v, g = data(B, H, T, D)
    ts = [ember.Tensor(a, requires_grad=True) for a in (q, k, v)]

    def fwd():
        with ember.no_grad():
            F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    def fwd_bwd():
        out = F.scaled_dot_product_attention(*ts, is_causal=causal)
        out.backward(g)
        for t in ts:
            t.grad = None
    return {"fwd": med(fwd, reps), "fwd+bwd": med(fwd_bwd, reps)}


def numpy_suite(case, threads, reps):
    B, H, T, D, causal = case[1]
    q, k, v, g = data(B, H, T, D)
    sc = np.float32(1 / np.sqrt(D))
    keep = np.tril(np.ones((T, T), bool)) if causal else None

    def fwd():
        s = (q @ k.swapaxes(-1, -2)) * sc
        if keep is not None:
            s = np.where(keep, s, -np.inf)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        return p, p @ v

    def fwd_bwd():
        p, o = fwd()
        dv = p.swapaxes(-1, -2) @ g
        dp = g @ v.swapaxes(-1, -2)
        ds = p * (dp - (dp * p).sum(-1, keepdims=True)) * sc
        return ds @ k, ds.swapaxes(-1, -2) @ q, dv
    return {"fwd": med(fwd, reps), "fwd+bwd": med(fwd_bwd, reps)}


def torch_suite(case, threads, reps):
    import torch
    torch.set_num_threads(threads)
    B, H, T, D, causal = case[1]
    q, k, v, g = (torch.from_numpy(a) for a in data(B, H, T, D))
    qs, ks, vs = (t.clone().requires_grad_() for t in (q, k, v))
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def fwd():
        with torch.no_grad():
            sdpa(q, k, v, is_causal=causal)

    def fwd_bwd():
        sdpa(qs, ks, vs, is_causal=causal).backward(g)
        for t in (qs, ks, vs):
            t.grad = None
    return {"fwd": med(fwd, reps), "fwd+bwd": med(fwd_bwd, reps)}


if __name__ == "__main__":
    main(os.path.abspath(__file__), {"ember": ember_suite, "numpy": numpy_suite, "torch": torch_suite}, CASES,
         "scaled dot-product attention, float32")
