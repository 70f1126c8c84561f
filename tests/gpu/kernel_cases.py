"""One call of every kernel of ``ember.backend.interface.KernelBackend`` on small odd shapes,
run on the CPU backend and on the CUDA backend and compared (tests/gpu/test_gpu_parity.py on
a real GPU; tests/test_gpu_cases_emulated.py runs the same table emulated, in CI).

Each case builds host inputs for a dtype and returns a list of "calls": (kernel name, args,
kwargs, names of the arguments mutated in place). Backward kernels take the saved values of
each backend's own forward (``Saved`` placeholders), so the pair is checked as it is used.
"""
from __future__ import annotations

import numpy as np

from ember.backend.interface import KERNEL_FUNCTIONS


class Saved:
    """A placeholder for element ``index`` of the result of call number ``call``."""

    def __init__(self, call: int, index=None):
        self.call, self.index = call, index


def _r(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _gemm(rng, dt):
    a, b = _r(rng, (7, 5), dt), _r(rng, (5, 3), dt)
    return [("gemm", (a, b), {}, ()), ("gemm", (a.T.copy(), b), {"trans_a": True}, ()),
            ("gemm", (a, b.T.copy()), {"trans_b": True}, ())]


def _matmul(rng, dt):
    return [("matmul", (_r(rng, (2, 7, 5), dt), _r(rng, (5, 3), dt)), {}, ()),
            ("matmul", (_r(rng, (3, 1, 4, 5), dt), _r(rng, (2, 5, 6), dt)), {}, ())]


def _bias_act(rng, dt):
    calls = []
    x, b = _r(rng, (13, 7), dt), _r(rng, (7,), dt)
    for act in ("linear", "relu", "sigmoid", "tanh", "gelu", "leaky_relu"):
        i = len(calls)
        calls.append(("bias_act_forward", (x, b, act, 0.1), {}, ()))
        y = None if act == "gelu" else Saved(i)
        calls.append(("bias_act_backward", (_r(rng, (13, 7), dt), y, x, b, act, 0.1, True), {}, ()))
    return calls


def _optimizers(rng, dt):
    p, g = _r(rng, (11, 3), dt), _r(rng, (11, 3), dt)
    m, v, vh = _r(rng, (11, 3), dt), np.abs(_r(rng, (11, 3), dt)), np.abs(_r(rng, (11, 3), dt))
    return [("sgd_update", (p.copy(), g, m.copy(), 0.1, 0.9, True, 0.01), {}, (0, 2)),
            ("sgd_update", (p.copy(), g, None, 0.1, 0.0, False, 0.0), {}, (0,)),
            ("adam_update", (p.copy(), g, m.copy(), v.copy(), vh.copy(), 1e-3, 2e-3, 0.9, 0.999, 1e-7, 0.01), {},
             (0, 2, 3, 4)),
            ("rmsprop_update", (p.copy(), g, v.copy(), m.copy(), m.copy() * 0.1, 1e-3, 0.9, 0.5, 1e-7, 0.0), {},
             (0, 2, 3, 4))]


def _conv(rng, dt):
    x = _r(rng, (2, 9, 7, 3), dt)
    calls = []
    for w, b, st, pads, dil, groups, act in ((_r(rng, (3, 2, 3, 5), dt), _r(rng, (5,), dt), (1, 2), (1, 0, 1, 1),
                                              (1, 1), 1, 0),
                                             (_r(rng, (2, 3, 1, 6), dt), None, (2, 1), (0, 1, 2, 0), (2, 1), 3, 1)):
        i = len(calls)
        calls.append(("conv2d", (x, w, b, st, pads, dil, groups, act), {}, ()))
        calls.append(("conv2d_backward", (x, w, "DY", Saved(i) if act else None, st, pads, dil, groups, act,
                                          True, True, b is not None), {"dy_like": i}, ()))
    return calls


def _pool(rng, dt):
    x = _r(rng, (2, 9, 7, 3), dt)
    geo = ((2, 3), (2, 2), (0, 1, 1, 0))
    return [("max_pool2d", (x,) + geo, {}, ()),
            ("max_pool2d_backward", ("DY", Saved(0, 1), x.shape) + geo, {"dy_like": (0, 0)}, ()),
            ("avg_pool2d", (x,) + geo + (False,), {}, ()),
            ("avg_pool2d_backward", ("DY", x.shape) + geo + (False,), {"dy_like": 2}, ()),
            ("avg_pool2d", (x,) + geo + (True,), {}, ())]


def _batchnorm(rng, dt):
    x2, gamma, beta = _r(rng, (37, 5), dt), _r(rng, (5,), dt), _r(rng, (5,), dt)
    rm, rv = _r(rng, (5,), dt), np.abs(_r(rng, (5,), dt)) + 0.5
    return [("batch_norm_train", (x2, gamma, beta, rm.copy(), rv.copy(), 1e-3, 0.9), {}, (3, 4)),
            ("batch_norm_infer", (x2, gamma, beta, rm, rv, 1e-3), {}, ()),
            ("batch_norm_backward", (_r(rng, (37, 5), dt), x2, gamma, Saved(0, 1), Saved(0, 2), True), {}, ())]


def _softmax(rng, dt):
    x = _r(rng, (5, 3, 11), dt, 3.0)
    logits = _r(rng, (13, 7), dt, 2.0)
    labels = rng.integers(0, 7, 13).astype(np.int64)
    probs = rng.random((13, 7)).astype(dt)
    return [("softmax_lastaxis", (x,), {}, ()),
            ("softmax_lastaxis_backward", (Saved(0), _r(rng, x.shape, dt)), {}, ()),
            ("softmax_lastaxis", (x, True), {}, ()),
            ("softmax_lastaxis_backward", (Saved(2), _r(rng, x.shape, dt), True), {}, ()),
            ("xent_forward", (logits, labels, True), {}, ()),
            ("xent_backward", (_r(rng, (13,), dt), logits, labels, Saved(4, 1), True), {}, ()),
            ("xent_forward", (logits, probs, False), {}, ()),
            ("xent_backward", (_r(rng, (13,), dt), logits, probs, Saved(6, 1), False), {}, ())]


def _attention(rng, dt):
    q, k, v = _r(rng, (2, 3, 5, 4), dt), _r(rng, (2, 3, 7, 4), dt), _r(rng, (2, 3, 7, 6), dt)
    mask = rng.random((2, 1, 5, 7)) > 0.3
    mask[..., 0] = True
    qt, kt, vt = (np.ascontiguousarray(a.transpose(0, 2, 1, 3)) for a in (q, k, v))
    calls = []
    for args, kw in (((q, k, v, None, False, 0.5), {}), ((q, k, v, mask, False, 0.5), {}),
                     ((q, q, q, None, True, 0.7), {}), ((qt, kt, vt, mask, False, 0.5), {"layout": "bthd"})):
        i = len(calls)
        calls.append(("attention_forward", args, kw, ()))
        out_shape = args[0].shape[:-1] + (args[2].shape[-1],)
        calls.append(("attention_backward", (_r(rng, out_shape, dt),) + args[:3] + (Saved(i, 0), Saved(i, 1))
                      + args[3:], kw, ()))
    return calls


def _rnn(rng, dt):
    B, T, I, U = 3, 5, 4, 6
    x, h0, c0 = _r(rng, (B, T, I), dt), _r(rng, (B, U), dt, 0.5), _r(rng, (B, U), dt, 0.5)
    mask = np.ones((B, T), bool)
    mask[1, 3:] = False
    rmask = (rng.random((B, U)) > 0.2).astype(dt) * dt(1.25)
    dy, dh, dc = _r(rng, (B, T, U), dt), _r(rng, (B, U), dt), _r(rng, (B, U), dt)
    W4, R4, b4 = _r(rng, (I, 4 * U), dt, 0.4), _r(rng, (U, 4 * U), dt, 0.4), _r(rng, (4 * U,), dt, 0.1)
    W3, R3, b3 = _r(rng, (I, 3 * U), dt, 0.4), _r(rng, (U, 3 * U), dt, 0.4), _r(rng, (2, 3 * U), dt, 0.1)
    W1, R1, b1 = _r(rng, (I, U), dt, 0.4), _r(rng, (U, U), dt, 0.4), _r(rng, (U,), dt, 0.1)
    return [("lstm_forward", (x, W4, R4, b4, h0, c0, mask, rmask), {}, ()),
            ("lstm_backward", (dy, dh, dc, x, W4, R4, h0, c0, Saved(0, 0), Saved(0, 1), Saved(0, 2), mask, rmask),
             {}, ()),
            ("gru_forward", (x, W3, R3, b3, h0, None, None, "tanh", "hard_sigmoid"), {}, ()),
            ("gru_backward", (dy, dh, x, W3, R3, h0, Saved(2, 0), Saved(2, 1), Saved(2, 2), None, None, "tanh",
                              "hard_sigmoid"), {}, ()),
            ("simple_rnn_forward", (x, W1, R1, b1, h0, mask, "relu"), {}, ()),
            ("simple_rnn_backward", (dy, dh, x, W1, R1, h0, Saved(4), mask, "relu"), {}, ())]


def _layernorm(rng, dt):
    x, gamma, beta = _r(rng, (7, 3, 9), dt), _r(rng, (9,), dt), _r(rng, (9,), dt)
    return [("layernorm_forward", (x, gamma, beta, 1e-5), {}, ()),
            ("layernorm_backward", (_r(rng, x.shape, dt), x, gamma, Saved(0, 1), Saved(0, 2)), {}, ())]


CASES = {"gemm": _gemm, "matmul": _matmul, "bias_act": _bias_act, "optimizers": _optimizers, "conv": _conv,
         "pool": _pool, "batchnorm": _batchnorm, "softmax": _softmax, "attention": _attention, "rnn": _rnn,
         "layernorm": _layernorm}


def covered() -> set:
    rng = np.random.default_rng(0)
    return {c[0] for make in CASES.values() for c in make(rng, np.float64)}


def _resolve(a, results):
    if isinstance(a, Saved):
        r = results[a.call]
        return r if a.index is None else r[a.index]
    return a


def run(backend_module, to_device, calls, dt, rng_seed=7):
    """Run ``calls`` on one backend: a list of (result, mutated inputs) per call, on the host."""
    rng = np.random.default_rng(rng_seed)
    results, host = [], []
    for name, args, kw, mutated in calls:
        kw = dict(kw)
        dy_like = kw.pop("dy_like", None)
        args = [_resolve(a, results) for a in args]
        if dy_like is not None:  # a gradient shaped like an earlier call's output
            i, j = (dy_like, None) if isinstance(dy_like, int) else dy_like
            ref = results[i] if j is None else results[i][j]
            if isinstance(ref, tuple):
                ref = ref[0]
            args = [_r(rng, tuple(ref.shape), dt) if isinstance(a, str) and a == "DY" else a for a in args]
        # arguments updated in place start from the same values on both backends
        dev_args = [to_device(a.copy() if k in mutated else a) for k, a in enumerate(args)]
        out = getattr(backend_module, name)(*dev_args, **kw)
        results.append(out)
        host.append((out, [dev_args[k] for k in mutated]))
    return host


def check_case(case: str, dt, cpu, cuda, to_device, to_host, rtol, atol):
    calls = CASES[case](np.random.default_rng(1), dt)
    want = run(cpu, lambda a: a, calls, dt)
    got = run(cuda, to_device, calls, dt)
    for (name, *_), (w_out, w_mut), (g_out, g_mut) in zip(calls, want, got):
        _close(name, w_out, g_out, to_host, rtol, atol)
        for a, b in zip(w_mut, g_mut):
            _close(name + " (in place)", a, b, to_host, rtol, atol)


def _close(name, want, got, to_host, rtol, atol):
    if want is None or got is None:
        assert want is None and got is None, f"{name}: None on one backend only"
        return
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), f"{name}: results differ in structure"
        for w, g in zip(want, got):
            _close(name, w, g, to_host, rtol, atol)
        return
    g = to_host(got)
    assert g.shape == want.shape, f"{name}: shape {g.shape} != {want.shape}"
    assert g.dtype == want.dtype, f"{name}: dtype {g.dtype} != {want.dtype}"
    if want.dtype.kind in "iub":
        np.testing.assert_array_equal(g, want, err_msg=name)
    else:
        scale = float(np.max(np.abs(want))) if want.size else 1.0
        np.testing.assert_allclose(g, want, rtol=rtol, atol=atol * max(scale, 1.0), err_msg=name)


assert covered() == set(KERNEL_FUNCTIONS), f"kernel_cases misses {set(KERNEL_FUNCTIONS) - covered()}"
