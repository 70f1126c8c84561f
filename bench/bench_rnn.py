"""LSTM / GRU over a sequence, forward+backward: ember's fused kernels vs a NumPy reference
LSTM (forward + BPTT) and PyTorch's nn.LSTM / nn.GRU (own processes).

    python bench/bench_rnn.py [--threads 1 2] [--reps 5] [--rounds 3]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _seqbench import main, med  # noqa: E402

CASES = [("LSTM B64 T50 128->256", ("lstm", 64, 50, 128, 256)),
         ("GRU B64 T50 128->256", ("gru", 64, 50, 128, 256))]


def data(B, T, I, U, G):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I), dtype=np.float32)
    W = (rng.standard_normal((I, G * U), dtype=np.float32) * 0.05)
    R = (rng.standard_normal((U, G * U), dtype=np.float32) * 0.05)
    return x, W, R


def ember_suite(case, threads, reps):
    import ember
    import ember.functional as F
    ember.set_num_threads(threads)
    kind, B, T, I, U = case[1]
    G = 4 if kind == "lstm" else 3
    x, W, R = data(B, T, I, U, G)
    b = np.zeros((G * U,) if kind == "lstm" else (2, G * U), np.float32)
    ts = [ember.Tensor(a, requires_grad=True) for a in (x, W, R, b)]
    fn = F.lstm if kind == "lstm" else F.gru

    def fwd():
        with ember.no_grad():
            fn(x, W, R, b)

    def fwd_bwd():
        y = fn(*ts)[0]
        y.backward(np.ones(y.shape, np.float32))
        for t in ts:
            t.grad = None
    return {"fwd": med(fwd, reps), "fwd+bwd": med(fwd_bwd, reps)}


def _sig(z):
    return 1 / (1 + np.exp(-z))


def numpy_suite(case, threads, reps):
    kind, B, T, I, U = case[1]
    if kind != "lstm":
        return {}
    x, W, R = data(B, T, I, U, 4)

    def fwd():
        xw = (x.reshape(B * T, I) @ W).reshape(B, T, 4 * U)
        h = np.zeros((B, U), np.float32)
        c = np.zeros((B, U), np.float32)
        saved = []
        for t in range(T):
            z = xw[:, t] + h @ R
            i, f, g, o = _sig(z[:, :U]), _sig(z[:, U:2 * U]), np.tanh(z[:, 2 * U:3 * U]), _sig(z[:, 3 * U:])
            cp, hp = c, h
            c = f * c + i * g
            tc = np.tanh(c)
            h = o * tc
            saved.append((i, f, g, o, cp, hp, tc))
        return saved

    def fwd_bwd():
        saved = fwd()
        dh = np.zeros((B, U), np.float32)
        dc = np.zeros((B, U), np.float32)
        dz_all = np.empty((B, T, 4 * U), np.float32)
        dR = np.zeros_like(R)
        for t in range(T - 1, -1, -1):
            i, f, g, o, cp, hp, tc = saved[t]
            dh = dh + 1.0
            dct = dc + dh * o * (1 - tc * tc)
            dz = np.concatenate([dct * g * i * (1 - i), dct * cp * f * (1 - f), dct * i * (1 - g * g),
                                 dh * tc * o * (1 - o)], axis=1)
            dz_all[:, t] = dz
            dR += hp.T @ dz
            dh = dz @ R.T
            dc = dct * f
        dz2 = dz_all.reshape(B * T, 4 * U)
        return x.reshape(B * T, I).T @ dz2, dz2 @ W.T, dR
    return {"fwd": med(fwd, reps), "fwd+bwd": med(fwd_bwd, reps)}


def torch_suite(case, threads, reps):
    import torch
    torch.set_num_threads(threads)
    kind, B, T, I, U = case[1]
    x = torch.from_numpy(data(B, T, I, U, 4)[0])
    net = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(I, U, batch_first=True)
    xs = x.clone().requires_grad_()

    def fwd():
        with torch.no_grad():
            net(x)

    def fwd_bwd():
        y, _ = net(xs)
        y.backward(torch.ones_like(y))
        xs.grad = None
        net.zero_grad(set_to_none=True)
    return {"fwd": med(fwd, reps), "fwd+bwd": med(fwd_bwd, reps)}


if __name__ == "__main__":
    main(os.path.abspath(__file__), {"ember": ember_suite, "numpy": numpy_suite, "torch": torch_suite}, CASES,
         "recurrent layers over a whole sequence, float32 (input gradient included)")
