"""Calls of every kernel of ``ember.backend.interface.KernelBackend``, run on the CPU backend
and on the CUDA backend and compared (tests/gpu/test_kernel_parity.py on a real GPU, or
emulated with EMBER_GPU_TESTS_EMULATE=1; tests/test_gpu_cases_emulated.py runs the small
table emulated in CI).

Each case builds host inputs for a dtype and returns a list of "calls": (kernel name, args,
kwargs, indices of the arguments mutated in place). Two sizes: small odd shapes (1, primes),
and ``big`` ones past the launch geometry (rows longer than a block, more elements than
BLOCK * MAX_BLOCKS for the grid-stride loops, sequences longer than an attention tile), where
a kernel whose result depended on its grid would show it. Placeholders:

* ``Saved(call, index)``: element ``index`` of the result of an earlier call on the same
  backend (backward kernels take their own forward's saved values, as ops use them);
* ``"DY"`` with kwarg ``dy_like``: a random gradient shaped like an earlier result;
* ``Alias(k)``: the very array passed as argument ``k`` (``out=x`` in place);
* ``View(a, fn)``: ``fn(device copy of a, array module)``, a non-contiguous or broadcast view.
"""
from __future__ import annotations

import numpy as np

from ember import backend
from ember.backend.interface import KERNEL_FUNCTIONS


class Saved:
    """Element ``index`` of the result of call number ``call`` (the whole result if None)."""

    def __init__(self, call: int, index=None):
        self.call, self.index = call, index


class Alias:
    """The same array object as argument ``k`` of this call."""

    def __init__(self, k: int):
        self.k = k


class View:
    """``fn(a_on_the_device, array_module)``: a strided or broadcast view of a device copy of ``a``."""

    def __init__(self, a, fn):
        self.a, self.fn = a, fn


def _r(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _gemm(rng, dt, big):
    M, K, N = (67, 131, 257) if big else (7, 5, 3)
    a, b = _r(rng, (M, K), dt), _r(rng, (K, N), dt)
    return [("gemm", (a, b), {}, ()), ("gemm", (a.T.copy(), b), {"trans_a": True}, ()),
            ("gemm", (a, b.T.copy()), {"trans_b": True}, ()),
            ("gemm", (a, b, False, False, np.full((M, N), np.nan, dt)), {}, (4,)),  # into out
            ("gemm", (View(a.T.copy(), lambda d, xp: d.T), b), {}, ())]  # a transposed view


def _matmul(rng, dt, big):
    M, K, N = (33, 70, 129) if big else (7, 5, 3)
    return [("matmul", (_r(rng, (2, M, K), dt), _r(rng, (K, N), dt)), {}, ()),
            ("matmul", (_r(rng, (3, 1, 4, K), dt), _r(rng, (2, K, 6), dt)), {}, ())]


def _bias_act(rng, dt, big):
    R, C = (1031, 263) if big else (13, 7)
    calls = []
    x, b = _r(rng, (R, C), dt), _r(rng, (C,), dt)
    for act in ("linear", "relu", "sigmoid", "tanh", "gelu", "leaky_relu"):
        i = len(calls)
        calls.append(("bias_act_forward", (x, b, act, 0.1), {}, ()))
        y = None if act == "gelu" else Saved(i)
        calls.append(("bias_act_backward", (_r(rng, (R, C), dt), y, x, b, act, 0.1, True), {}, ()))
    calls.append(("bias_act_forward", (x, None, "relu", 0.0, Alias(0)), {}, (0,)))  # out=x, in place
    dy_row = _r(rng, (1, C), dt)  # a broadcast dy, as the gradient of a sum arrives
    calls.append(("bias_act_backward", (View(dy_row, lambda d, xp: xp.broadcast_to(d, (R, C))), Saved(2), x, b,
                                        "relu", 0.0, True), {}, ()))
    calls.append(("bias_act_backward", (_r(rng, (R, C), dt), Saved(6), x, None, "tanh", 0.0, False), {}, ()))
    return calls


def _optimizers(rng, dt, big):
    shape = (1048583,) if big else (11, 3)  # big: more elements than BLOCK * MAX_BLOCKS
    p, g = _r(rng, shape, dt), _r(rng, shape, dt)
    # v >= avg**2, as a centered RMSprop's running averages always are (Jensen)
    m, v, vh = _r(rng, shape, dt), np.abs(_r(rng, shape, dt)) + 0.5, np.abs(_r(rng, shape, dt))
    return [("sgd_update", (p, g, m, 0.1, 0.9, True, 0.01), {}, (0, 2)),
            ("sgd_update", (p, g, m, 0.1, 0.9, False, 0.0), {}, (0, 2)),
            ("sgd_update", (p, g, None, 0.1, 0.0, False, 0.0), {}, (0,)),
            ("adam_update", (p, g, m, v, vh, 1e-3, 2e-3, 0.9, 0.999, 1e-7, 0.01), {}, (0, 2, 3, 4)),
            ("adam_update", (p, g, m, v, None, 1e-3, 2e-3, 0.9, 0.999, 1e-7, 0.0), {}, (0, 2, 3)),
            ("rmsprop_update", (p, g, v, m, np.clip(m, -3, 3) * 0.1, 1e-3, 0.9, 0.5, 1e-7, 0.0), {}, (0, 2, 3, 4)),
            ("rmsprop_update", (p, g, v, None, None, 1e-3, 0.9, 0.0, 1e-7, 0.004), {}, (0, 2))]


def _conv(rng, dt, big):
    x = _r(rng, (3, 23, 19, 5) if big else (2, 9, 7, 3), dt)
    C = x.shape[3]
    calls = []
    for w, b, st, pads, dil, groups, act in ((_r(rng, (3, 2, C, 5), dt), _r(rng, (5,), dt), (1, 2), (1, 0, 1, 1),
                                              (1, 1), 1, 0),
                                             (_r(rng, (2, 3, 1, 2 * C), dt), None, (2, 1), (0, 1, 2, 0), (2, 1), C, 1),
                                             (_r(rng, (3, 3, C, 7), dt), _r(rng, (7,), dt), (1, 1), (1, 1, 1, 1),
                                              (1, 1), 1, 1)):
        i = len(calls)
        calls.append(("conv2d", (x, w, b, st, pads, dil, groups, act), {}, ()))
        calls.append(("conv2d_backward", (x, w, "DY", Saved(i) if act else None, st, pads, dil, groups, act,
                                          True, True, b is not None), {"dy_like": i}, ()))
    calls.append(("conv2d_backward", (x, calls[0][1][1], "DY", None, (1, 2), (1, 0, 1, 1), (1, 1), 1, 0,
                                      False, True, True), {"dy_like": 0}, ()))  # dw, db only
    return calls


def _conv_pool(rng, dt, big):
    # small integers: every conv sum is exact in float32 too, so both backends pool the same
    # values and their argmax (first maximum, -1 at ReLU zeros) must agree exactly
    def ints(shape):
        return rng.integers(-3, 4, size=shape).astype(dt)
    x = ints((3, 17, 15, 1) if big else (2, 9, 8, 1))
    x2 = ints((2, 10, 9, 4))
    calls = []
    for xx, w, b, st, pads, dil, groups, act, pool, pst, ppads in (
            (x, ints((3, 3, 1, 6)), ints((6,)), (1, 1), (0, 0, 0, 0), (1, 1), 1, 1, (2, 2), (2, 2), (0, 0, 0, 0)),
            (x2, ints((2, 3, 2, 6)), None, (1, 2), (1, 0, 1, 1), (1, 1), 2, 0, (3, 2), (2, 1), (1, 1, 0, 0))):
        i = len(calls)
        geo = (st, pads, dil, groups)
        calls.append(("conv2d_max_pool2d", (xx, w, b) + geo + (act, pool, pst, ppads), {}, ()))
        calls.append(("conv2d_max_pool2d_backward", (xx, w, "DY", Saved(i, 1)) + geo + (pool, pst, ppads, True, True,
                                                                                       b is not None),
                      {"dy_like": (i, 0)}, ()))
    return calls


def _pool(rng, dt, big):
    x = _r(rng, (3, 31, 29, 7) if big else (2, 9, 7, 3), dt)
    geo = ((2, 3), (2, 2), (0, 1, 1, 0))
    geo3 = ((3, 3), (1, 1), (1, 1, 1, 1))
    return [("max_pool2d", (x,) + geo, {}, ()),
            ("max_pool2d_backward", ("DY", Saved(0, 1), x.shape) + geo, {"dy_like": (0, 0)}, ()),
            ("avg_pool2d", (x,) + geo + (False,), {}, ()),
            ("avg_pool2d_backward", ("DY", x.shape) + geo + (False,), {"dy_like": 2}, ()),
            ("avg_pool2d", (x,) + geo + (True,), {}, ()),
            ("avg_pool2d_backward", ("DY", x.shape) + geo + (True,), {"dy_like": 4}, ()),
            ("max_pool2d", (x,) + geo3, {}, ()),  # overlapping windows
            ("max_pool2d_backward", ("DY", Saved(6, 1), x.shape) + geo3, {"dy_like": (6, 0)}, ())]


def _batchnorm(rng, dt, big):
    M, C = (1031, 37) if big else (37, 5)
    x2, gamma, beta = _r(rng, (M, C), dt) + 0.3, _r(rng, (C,), dt), _r(rng, (C,), dt)
    rm, rv = _r(rng, (C,), dt), np.abs(_r(rng, (C,), dt)) + 0.5
    return [("batch_norm_train", (x2, gamma, beta, rm, rv, 1e-3, 0.9), {}, (3, 4)),
            ("batch_norm_infer", (x2, gamma, beta, rm, rv, 1e-3), {}, ()),
            ("batch_norm_backward", (_r(rng, (M, C), dt), x2, gamma, Saved(0, 1), Saved(0, 2), True), {}, ()),
            ("batch_norm_backward", (_r(rng, (M, C), dt), x2, gamma, Saved(0, 1), Saved(0, 2), False), {}, ())]


def _softmax(rng, dt, big):
    K, R = (1031, 300) if big else (7, 13)
    x = _r(rng, (5, 3, 2 * K + 1) if big else (5, 3, 11), dt, 3.0)
    logits = _r(rng, (R, K), dt, 2.0)
    labels = rng.integers(0, K, R).astype(np.int64)
    probs = rng.random((R, K)).astype(dt)
    strided = View(x, lambda d, xp: d[..., ::2])  # a non-contiguous input
    return [("softmax_lastaxis", (x,), {}, ()),
            ("softmax_lastaxis_backward", (Saved(0), _r(rng, x.shape, dt)), {}, ()),
            ("softmax_lastaxis", (x, True), {}, ()),
            ("softmax_lastaxis_backward", (Saved(2), _r(rng, x.shape, dt), True), {}, ()),
            ("softmax_lastaxis", (strided,), {}, ()),
            ("xent_forward", (logits, labels, True), {}, ()),
            ("xent_backward", (_r(rng, (R,), dt), logits, labels, Saved(5, 1), True), {}, ()),
            ("xent_forward", (logits, probs, False), {}, ()),
            ("xent_backward", (_r(rng, (R,), dt), logits, probs, Saved(7, 1), False), {}, ()),
            ("xent_forward", (logits, labels.astype(np.int32), True), {}, ()),
            ("xent_backward", (View(np.ones(1, dt), lambda d, xp: xp.broadcast_to(d, (R,))), logits, labels,
                               Saved(5, 1), True), {}, ())]


def _attention(rng, dt, big):
    (B, H, Tq, Tk, D, Dv) = (2, 3, 67, 131, 64, 48) if big else (2, 3, 5, 7, 4, 6)
    q, k, v = _r(rng, (B, H, Tq, D), dt), _r(rng, (B, H, Tk, D), dt), _r(rng, (B, H, Tk, Dv), dt)
    mask = rng.random((B, 1, Tq, Tk)) > 0.3
    mask[..., 0] = True
    qt, kt, vt = (np.ascontiguousarray(a.transpose(0, 2, 1, 3)) for a in (q, k, v))
    s = 1.0 / np.sqrt(D)
    calls = []
    for args, kw in (((q, k, v, None, False, s), {}), ((q, k, v, mask, False, s), {}),
                     ((q, q, q, None, True, 0.7 * s), {}), ((q, q, q, mask[:, :, :, :Tq], True, s), {}),
                     ((qt, kt, vt, mask, False, s), {"layout": "bthd"})):
        i = len(calls)
        calls.append(("attention_forward", args, kw, ()))
        out_shape = args[0].shape[:-1] + (args[2].shape[-1],)
        calls.append(("attention_backward", (_r(rng, out_shape, dt),) + args[:3] + (Saved(i, 0), Saved(i, 1))
                      + args[3:], kw, ()))
    return calls


def _rnn(rng, dt, big):
    B, T, I, U = (7, 23, 19, 67) if big else (3, 5, 4, 6)
    x, h0, c0 = _r(rng, (B, T, I), dt), _r(rng, (B, U), dt, 0.5), _r(rng, (B, U), dt, 0.5)
    mask = np.ones((B, T), bool)
    mask[1, 3:] = False
    mask[-1, :2] = False
    rmask = (rng.random((B, U)) > 0.2).astype(dt) * dt(1.25)
    dy, dh, dc = _r(rng, (B, T, U), dt), _r(rng, (B, U), dt), _r(rng, (B, U), dt)
    s = 0.4 * min(1.0, np.sqrt(6 / U))  # a stable recurrence: rounding differences do not grow step by step
    W4, R4, b4 = _r(rng, (I, 4 * U), dt, s), _r(rng, (U, 4 * U), dt, s), _r(rng, (4 * U,), dt, 0.1)
    W3, R3, b3 = _r(rng, (I, 3 * U), dt, s), _r(rng, (U, 3 * U), dt, s), _r(rng, (2, 3 * U), dt, 0.1)
    W1, R1, b1 = _r(rng, (I, U), dt, s), _r(rng, (U, U), dt, s), _r(rng, (U,), dt, 0.1)
    return [("lstm_forward", (x, W4, R4, b4, h0, c0, mask, rmask), {}, ()),
            ("lstm_backward", (dy, dh, dc, x, W4, R4, h0, c0, Saved(0, 0), Saved(0, 1), Saved(0, 2), mask, rmask),
             {}, ()),
            ("lstm_forward", (x, W4, R4, b4, h0, c0), {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
             ()),
            ("lstm_backward", (dy, dh, dc, x, W4, R4, h0, c0, Saved(2, 0), Saved(2, 1), Saved(2, 2)),
             {"activation": "relu", "recurrent_activation": "hard_sigmoid"}, ()),
            ("gru_forward", (x, W3, R3, b3, h0, None, None, "tanh", "hard_sigmoid"), {}, ()),
            ("gru_backward", (dy, dh, x, W3, R3, h0, Saved(4, 0), Saved(4, 1), Saved(4, 2), None, None, "tanh",
                              "hard_sigmoid"), {}, ()),
            ("gru_forward", (x, W3, R3, b3, h0, mask, rmask), {}, ()),
            ("gru_backward", (dy, dh, x, W3, R3, h0, Saved(6, 0), Saved(6, 1), Saved(6, 2), mask, rmask), {}, ()),
            ("simple_rnn_forward", (x, W1, R1, b1, h0, mask, "relu"), {}, ()),
            ("simple_rnn_backward", (dy, dh, x, W1, R1, h0, Saved(8), mask, "relu"), {}, ()),
            ("simple_rnn_forward", (x, W1, R1, b1, h0, None, "tanh", rmask), {}, ()),
            ("simple_rnn_backward", (dy, dh, x, W1, R1, h0, Saved(10), None, "tanh", rmask), {}, ())]


def _layernorm(rng, dt, big):
    C = 1031 if big else 9
    x, gamma, beta = _r(rng, (7, 3, C), dt) + 0.5, _r(rng, (C,), dt), _r(rng, (C,), dt)
    return [("layernorm_forward", (x, gamma, beta, 1e-5), {}, ()),
            ("layernorm_backward", (_r(rng, x.shape, dt), x, gamma, Saved(0, 1), Saved(0, 2)), {}, ()),
            ("layernorm_forward", (x[:1, :1], gamma, beta, 1e-3), {}, ()),  # a single row
            ("layernorm_backward", (_r(rng, (1, 1, C), dt), x[:1, :1], gamma, Saved(2, 1), Saved(2, 2)), {}, ())]


def _nan_inf(rng, dt, big):
    """NaN in, NaN out, and IEEE infinities, the same on both devices (README "NaN and Inf")."""
    R, C = (300, 1031) if big else (6, 7)
    x = _r(rng, (R, C), dt)
    x[0, 1], x[1, :] = np.nan, -np.inf  # a NaN in a row; a row of -inf (fully masked)
    x[2, 3], x[3, 0] = np.inf, -np.inf
    b = _r(rng, (C,), dt)
    labels = rng.integers(0, C, R).astype(np.int64)
    gamma, beta = _r(rng, (C,), dt), _r(rng, (C,), dt)
    calls = [("softmax_lastaxis", (x,), {}, ()), ("softmax_lastaxis", (x, True), {}, ()),
             ("xent_forward", (x, labels, True), {}, ()),
             ("layernorm_forward", (x, gamma, beta, 1e-5), {}, ())]
    for act in ("linear", "relu", "sigmoid", "tanh", "gelu", "leaky_relu"):
        calls.append(("bias_act_forward", (x, b, act, 0.1), {}, ()))
    return calls


CASES = {"gemm": _gemm, "matmul": _matmul, "bias_act": _bias_act, "optimizers": _optimizers, "conv": _conv,
         "conv_pool": _conv_pool, "pool": _pool, "batchnorm": _batchnorm, "softmax": _softmax, "attention": _attention, "rnn": _rnn,
         "layernorm": _layernorm, "nan_inf": _nan_inf}


def make_calls(case: str, dt, big: bool = False, seed: int = 1):
    return CASES[case](np.random.default_rng(seed), dt, big)


def covered(big: bool = False) -> set:
    return {c[0] for case in CASES for c in make_calls(case, np.float64, big)}


def _resolve(a, results):
    if isinstance(a, Saved):
        r = results[a.call]
        return r if a.index is None else r[a.index]
    return a


def run(backend_module, to_device, calls, dt, rng_seed=7):
    """Run ``calls`` on one backend: a list of (result, arrays mutated in place) per call."""
    rng = np.random.default_rng(rng_seed)
    results, out = [], []
    for name, args, kw, mutated in calls:
        kw = dict(kw)
        dy_like = kw.pop("dy_like", None)
        args = [_resolve(a, results) for a in args]
        if dy_like is not None:  # a gradient shaped like an earlier call's output
            i, j = (dy_like, None) if isinstance(dy_like, int) else dy_like
            ref = results[i] if j is None else results[i][j]
            args = [_r(rng, tuple(ref.shape), dt) if isinstance(a, str) and a == "DY" else a for a in args]
        dev_args = []
        for k, a in enumerate(args):
            if isinstance(a, Alias):
                a = dev_args[a.k]
            elif isinstance(a, View):
                d = to_device(a.a)
                a = a.fn(d, backend.xp(d))
            elif isinstance(a, np.ndarray):
                # arguments updated in place start from the same values on both backends
                a = to_device(a.copy() if k in mutated else a)
            dev_args.append(a)
        res = getattr(backend_module, name)(*dev_args, **kw)
        results.append(res)
        out.append((res, [dev_args[k] for k in mutated]))
    return out


def check_case(case: str, dt, cpu, cuda, to_device, to_host, rtol, atol, big: bool = False):
    """Every call of ``case`` on both backends: results and in-place updates agree to
    ``rtol`` and ``atol`` times the largest magnitude of the CPU result (index arrays exactly)."""
    calls = make_calls(case, dt, big)
    want = run(cpu, lambda a: a, calls, dt)
    got = run(cuda, to_device, calls, dt)
    for n, ((name, *_), (w_out, w_mut), (g_out, g_mut)) in enumerate(zip(calls, want, got)):
        what = f"{case}[{n}] {name} {np.dtype(dt).name}{' big' if big else ''}"
        _close(what, w_out, g_out, to_host, rtol, atol)
        for k, (a, b) in enumerate(zip(w_mut, g_mut)):
            _close(f"{what} (argument {calls[n][3][k]} in place)", a, b, to_host, rtol, atol)


def _close(name, want, got, to_host, rtol, atol):
    if want is None or got is None:
        assert want is None and got is None, f"{name}: None on one backend only"
        return
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), f"{name}: results differ in structure"
        for i, (w, g) in enumerate(zip(want, got)):
            _close(f"{name} result {i}", w, g, to_host, rtol, atol)
        return
    g = to_host(got)
    assert g.shape == want.shape, f"{name}: shape {g.shape} != {want.shape}"
    assert g.dtype == want.dtype, f"{name}: dtype {g.dtype} != {want.dtype}"
    if want.dtype.kind in "iub":
        np.testing.assert_array_equal(g, want, err_msg=name)
    else:
        np.testing.assert_array_equal(np.isnan(g), np.isnan(want), err_msg=f"{name}: NaN in different places")
        finite = want[np.isfinite(want)]
        scale = float(np.max(np.abs(finite))) if finite.size else 1.0
        np.testing.assert_allclose(g, want, rtol=rtol, atol=atol * max(scale, 1.0), err_msg=name)


for _big in (False, True):
    _missing = set(KERNEL_FUNCTIONS) - covered(_big)
    assert not _missing, f"kernel_cases (big={_big}) misses {_missing}"
