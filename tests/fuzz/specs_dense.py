"""Fuzz specs: GEMM, fused bias + activation, optimizer steps, softmax / cross-entropy,
layer and batch normalisation, and the process settings. Each builder draws a valid call
and gives its float64 NumPy reference."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from .core import Case, Mismatch, Role, close, dims, f64, float_dtype, floats, spec

IN, OUT, STATE = Role("in"), Role("out", optional=True), Role("state")


# ---------------------------------------------------------------------------------------
# gemm
# ---------------------------------------------------------------------------------------

@spec("gemm")
def gemm(draw, name):
    dt = float_dtype(draw)
    M, N, K = dims(draw), dims(draw), dims(draw)
    ta, tb = draw(st.booleans()), draw(st.booleans())
    a = floats(draw, (K, M) if ta else (M, K), dt)
    b = floats(draw, (N, K) if tb else (K, N), dt)
    beta = draw(st.sampled_from([0.0, 0.0, 1.0, -0.5]))
    out = floats(draw, (M, N), dt) if beta != 0 or draw(st.booleans()) else None
    alpha = draw(st.sampled_from([1.0, -2.0, 0.5]))
    args = dict(a=a, b=b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out)

    def check(before, after, res):
        A, B = f64(before["a"]), f64(before["b"])
        want = alpha * ((A.T if ta else A) @ (B.T if tb else B))
        if beta != 0:
            want = want + beta * f64(before["out"])
        close("C", res, want, dt, scale=max(1.0, K))
    # without out, b's column count is free
    roles = dict(a=Role("in", strided_ok=True, free=True), b=Role("in", strided_ok=True, free=out is None),
                 out=Role("out", optional=beta == 0), alpha=Role("float"))
    return Case(name, args, roles, dt, check)


@spec("gemm_batched")
def gemm_batched(draw, name):
    dt = float_dtype(draw)
    M, N, K, B = dims(draw), dims(draw), dims(draw), dims(draw, 0, 3, 6)
    Ba, Bb = draw(st.sampled_from([(B, B), (1, B), (B, 1)]))
    ta, tb = draw(st.booleans()), draw(st.booleans())
    a = floats(draw, (Ba, K, M) if ta else (Ba, M, K), dt)
    b = floats(draw, (Bb, N, K) if tb else (Bb, K, N), dt)
    out = floats(draw, (B if Ba != 1 else Bb, M, N), dt) if draw(st.booleans()) else None
    args = dict(a=a, b=b, trans_a=ta, trans_b=tb, alpha=1.5, out=out)

    def check(before, after, res):
        A, Bm = f64(before["a"]), f64(before["b"])
        want = 1.5 * np.matmul(np.swapaxes(A, 1, 2) if ta else A, np.swapaxes(Bm, 1, 2) if tb else Bm)
        close("C", res, want, dt, scale=max(1.0, K))
    # a batch of 1 broadcasts: either batch size may change validly
    roles = dict(a=Role("in", strided_ok=True, free=True), b=Role("in", strided_ok=True, free=True), out=OUT)
    return Case(name, args, roles, dt, check)


# ---------------------------------------------------------------------------------------
# fused bias + activation
# ---------------------------------------------------------------------------------------

def _act(z, act, alpha):
    if act == 0:
        return z
    if act == 1:
        return np.where(z > 0, z, np.where(np.isnan(z), z, 0.0))
    if act == 2:
        return 1 / (1 + np.exp(-z))
    if act == 3:
        return np.tanh(z)
    if act == 4:
        return 0.5 * z * (1 + np.vectorize(math.erf, otypes=[float])(z / math.sqrt(2))) if z.size else z
    return np.where(z > 0, z, alpha * z)


def _act_grad(y, z, act, alpha):
    if act == 0:
        return np.ones_like(y)
    if act == 1:
        return (y > 0).astype(float)
    if act == 2:
        return y * (1 - y)
    if act == 3:
        return 1 - y * y
    if act == 4:
        cdf = 0.5 * (1 + np.vectorize(math.erf, otypes=[float])(z / math.sqrt(2))) if z.size else z
        return cdf + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return np.where(y > 0, 1.0, alpha)


@spec("bias_act_forward")
def bias_act_forward(draw, name):
    dt = float_dtype(draw)
    R, C = dims(draw), dims(draw, 0, 5, 40)
    act = draw(st.integers(0, 5))
    alpha = draw(st.sampled_from([0.0, 0.2]))
    x, b = floats(draw, (R, C), dt), floats(draw, (C,), dt) if draw(st.booleans()) else None
    out = draw(st.sampled_from(["none", "new", "x"]))
    out = None if out == "none" else x if out == "x" else np.empty((R, C), dt)
    args = dict(x=x, b=b, act=act, alpha=alpha, out=out, naive=draw(st.booleans()))

    def check(before, after, res):
        z = f64(before["x"]) + (0 if before["b"] is None else f64(before["b"]))
        close("y", res, _act(z, act, alpha), dt)
    roles = dict(x=Role("in", free=True), b=Role("in", optional=True), out=OUT,
                 act=Role("int", lo=0, hi=5))
    return Case(name, args, roles, dt, check, inplace_ok=(("out", "x"),))


@spec("bias_act_backward")
def bias_act_backward(draw, name):
    dt = float_dtype(draw)
    R, C = dims(draw), dims(draw, 0, 5, 40)
    act = draw(st.integers(0, 5))
    alpha = draw(st.sampled_from([0.0, 0.2]))
    x = floats(draw, (R, C), dt)
    b = floats(draw, (C,), dt) if draw(st.booleans()) else None
    z = f64(x) + (0 if b is None else f64(b))
    y = _act(z, act, alpha).astype(dt)
    need_db = draw(st.booleans())
    args = dict(dy=floats(draw, (R, C), dt), y=y if act != 4 or draw(st.booleans()) else None,
                x=x if act == 4 or draw(st.booleans()) else None, b=b, act=act, alpha=alpha,
                need_db=need_db, naive=draw(st.booleans()))

    def check(before, after, res):
        zz = f64(before["x"]) + (0 if before["b"] is None else f64(before["b"])) if act == 4 else None
        dy, yy = f64(before["dy"]), f64(before["y"]) if act != 4 else None
        if act == 1:  # a select, as PyTorch's threshold_backward: y <= 0 gives 0 even for dy = inf
            dx = np.where(yy <= 0, 0.0, dy)
        elif act == 5:
            dx = np.where(yy > 0, dy, alpha * dy)
        else:
            dx = dy * _act_grad(yy, zz, act, alpha)
        close("dx", res[0], dx, dt)
        close("db", res[1], dx.sum(0) if need_db else None, dt, scale=max(1.0, R))
    roles = dict(dy=Role("in", free=True), y=Role("in", optional=act in (0, 4)),
                 x=Role("in", optional=act != 4), b=Role("in", optional=True), act=Role("int", lo=0, hi=5))
    return Case(name, args, roles, dt, check, plant=(np.nan,))


# ---------------------------------------------------------------------------------------
# optimizer steps
# ---------------------------------------------------------------------------------------

def _opt_case(draw, name, states, optional):
    dt = float_dtype(draw)
    shape = tuple(dims(draw, 0, 4, 9) for _ in range(draw(st.integers(1, 3))))
    p, g = floats(draw, shape, dt), floats(draw, shape, dt)
    args = dict(param=p, grad=g)
    roles = dict(param=Role("state", free=True, flat=True), grad=Role("in", flat=True))
    for s in states:
        present = s not in optional or draw(st.booleans())
        args[s] = np.abs(floats(draw, shape, dt)) if present else None
        roles[s] = Role("state", optional=s in optional, flat=True)
    return dt, args, roles


def _flat(a):
    return None if a is None else f64(a).reshape(-1)


def _flat_close(name, got, want, dt):
    close(name, np.asarray(got).reshape(-1), np.asarray(want).reshape(-1), dt)


@spec("sgd_update")
def sgd(draw, name):
    dt, args, roles = _opt_case(draw, name, ["momentum_buf"], ["momentum_buf"])
    lr, mu, nest, wd = 0.1, draw(st.sampled_from([0.0, 0.9])), draw(st.booleans()), draw(st.sampled_from([0, 0.01]))
    args.update(lr=lr, momentum=mu, nesterov=nest, weight_decay=wd)

    def check(before, after, res):
        p, g, m = (_flat(before[k]) for k in ("param", "grad", "momentum_buf"))
        p = p - lr * wd * p if wd else p
        if m is None:
            p = p - lr * g
        else:
            m = mu * m - lr * g
            p = p + (mu * m - lr * g if nest else m)
            _flat_close("momentum", after["momentum_buf"], m, dt)
        _flat_close("param", after["param"], p, dt)
    return Case(name, args, roles, dt, check)


@spec("adam_update")
def adam(draw, name):
    dt, args, roles = _opt_case(draw, name, ["m", "v", "vhat"], ["vhat"])
    lr, lr_t, b1, b2, eps, wd = 0.01, 0.02, 0.9, 0.999, 1e-7, draw(st.sampled_from([0.0, 0.1]))
    args.update(lr=lr, lr_t=lr_t, beta_1=b1, beta_2=b2, epsilon=eps, weight_decay=wd)

    def check(before, after, res):
        p, g, m, v, h = (_flat(before[k]) for k in ("param", "grad", "m", "v", "vhat"))
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        den = v
        if h is not None:
            h = np.maximum(h, v)
            den = h
            _flat_close("vhat", after["vhat"], h, dt)
        p = p * (1 - lr * wd) - lr_t * m / (np.sqrt(den) + eps)
        _flat_close("m", after["m"], m, dt)
        _flat_close("v", after["v"], v, dt)
        _flat_close("param", after["param"], p, dt)
    return Case(name, args, roles, dt, check)


@spec("rmsprop_update")
def rmsprop(draw, name):
    dt, args, roles = _opt_case(draw, name, ["v", "momentum_buf", "average_grad"], ["momentum_buf", "average_grad"])
    lr, rho, mu, eps, wd = 0.01, 0.9, 0.5, 1e-7, draw(st.sampled_from([0.0, 0.1]))
    args.update(lr=lr, rho=rho, momentum=mu, epsilon=eps, weight_decay=wd)

    def check(before, after, res):
        p, g, v, mo, a = (_flat(before[k]) for k in ("param", "grad", "v", "momentum_buf", "average_grad"))
        p = p - lr * wd * p if wd else p
        v = rho * v + (1 - rho) * g * g
        den = v + eps
        if a is not None:
            a = rho * a + (1 - rho) * g
            den = v - a * a + eps
            _flat_close("average_grad", after["average_grad"], a, dt)
        inc = lr * g / np.sqrt(den)
        if mo is not None:
            mo = mu * mo + inc
            _flat_close("momentum_buf", after["momentum_buf"], mo, dt)
            inc = mo
        _flat_close("v", after["v"], v, dt)
        _flat_close("param", after["param"], p - inc, dt)
    return Case(name, args, roles, dt, check)


# ---------------------------------------------------------------------------------------
# softmax / cross-entropy
# ---------------------------------------------------------------------------------------

def _lse(x):
    m = np.max(x, -1, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        return (np.log(np.exp(x - m).sum(-1, keepdims=True)) + m)[..., 0]


def _log_softmax(x):
    """(log_softmax, lse) by PyTorch's formula, s = x - max(x): a row holding +inf or NaN is
    NaN throughout; a row of -inf (fully masked) has lse -inf, log_softmax NaN, softmax 0."""
    m = np.max(x, -1, keepdims=True, initial=-np.inf)
    masked = m == -np.inf
    s = x - np.where(masked, 0, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        ls_s = np.log(np.exp(s).sum(-1, keepdims=True))
    ls = np.where(masked, np.nan, s - ls_s)
    lse = np.where(masked, -np.inf, m + ls_s)[..., 0]
    return ls, lse, masked


@spec("softmax_forward")
def softmax_forward(draw, name):
    dt = float_dtype(draw)
    x = floats(draw, (dims(draw), dims(draw, 0, 5, 40)), dt, 3.0)
    log = draw(st.booleans())

    def check(before, after, res):
        ls, _, masked = _log_softmax(f64(before["x"]))
        close("y", res, ls if log else np.where(masked, 0.0, np.exp(ls)), dt)
    return Case(name, dict(x=x, log=log), dict(x=Role("in", free=True)), dt, check)


@spec("softmax_backward")
def softmax_backward(draw, name):
    dt = float_dtype(draw)
    R, N = dims(draw), dims(draw, 0, 5, 40)
    log = draw(st.booleans())
    X = floats(draw, (R, N), np.float64)
    ls = X - _lse(X)[:, None]
    y = (ls if log else np.exp(ls)).astype(dt)
    args = dict(y=y, dy=floats(draw, (R, N), dt), log=log)

    def check(before, after, res):
        Y, D = f64(before["y"]), f64(before["dy"])
        want = D - np.exp(Y) * D.sum(-1, keepdims=True) if log else Y * (D - (D * Y).sum(-1, keepdims=True))
        close("dx", res, want, dt, scale=max(1.0, N))
    return Case(name, args, dict(y=Role("in", free=True), dy=IN), dt, check, plant=(np.nan,))


def _xent_inputs(draw, dt, sparse):
    R, N = dims(draw), dims(draw, 1, 5, 40)
    x = floats(draw, (R, N), dt, 3.0)
    if sparse:
        seed = draw(st.integers(0, 2**32 - 1))
        lab = np.random.default_rng(seed).integers(0, N, R).astype(np.int64)
        return x, lab, Role("labels", dtypes=(np.int64,))
    return x, np.abs(floats(draw, (R, N), dt)), IN


@spec("xent_forward")
def xent_forward(draw, name):
    dt, sparse = float_dtype(draw), draw(st.booleans())
    x, lab, lrole = _xent_inputs(draw, dt, sparse)

    def check(before, after, res):
        X = f64(before["logits"])
        ls, lse, _ = _log_softmax(X)
        if sparse:
            lb = before["labels"]
            loss = -ls[np.arange(len(lb)), lb]
        else:
            loss = -(f64(before["labels"]) * ls).sum(-1)
        close("loss", res[0], loss, dt, scale=max(1.0, X.shape[1]))
        close("lse", res[1], lse, dt)
    return Case(name, dict(logits=x, labels=lab, sparse=sparse), dict(logits=Role("in", free=True), labels=lrole),
                dt, check)


@spec("xent_backward")
def xent_backward(draw, name):
    dt, sparse = float_dtype(draw), draw(st.booleans())
    x, lab, lrole = _xent_inputs(draw, dt, sparse)
    lse = _lse(f64(x)).astype(dt)
    args = dict(dloss=floats(draw, (x.shape[0],), dt), logits=x, labels=lab, lse=lse, sparse=sparse)

    def check(before, after, res):
        X, L, d = f64(before["logits"]), f64(before["lse"]), f64(before["dloss"])
        sm = np.exp(X - L[:, None])
        if sparse:
            oh = np.zeros_like(X)
            oh[np.arange(len(before["labels"])), before["labels"]] = 1
            want = d[:, None] * (sm - oh)
        else:
            P = f64(before["labels"])
            want = d[:, None] * (sm * P.sum(-1, keepdims=True) - P)
        close("dx", res, want, dt, scale=max(1.0, X.shape[1]))
    roles = dict(dloss=IN, logits=Role("in", free=True), labels=lrole, lse=IN)
    return Case(name, args, roles, dt, check, plant=(np.nan,))


# ---------------------------------------------------------------------------------------
# layer / batch normalisation
# ---------------------------------------------------------------------------------------

@spec("layernorm_forward")
def layernorm_forward(draw, name):
    dt = float_dtype(draw)
    R, N = dims(draw), dims(draw, 0, 5, 40)
    args = dict(x=floats(draw, (R, N), dt), gamma=floats(draw, (N,), dt), beta=floats(draw, (N,), dt), eps=1e-3)

    def check(before, after, res):
        X = f64(before["x"])
        if N == 0:
            return close("y", res[0], X, dt)
        m = X.mean(-1, keepdims=True)
        rs = 1 / np.sqrt(((X - m) ** 2).mean(-1, keepdims=True) + 1e-3)
        close("y", res[0], (X - m) * rs * f64(before["gamma"]) + f64(before["beta"]), dt)
        close("mean", res[1], m[:, 0], dt)
        close("rstd", res[2], rs[:, 0], dt, rtol=2e-2 if dt == np.float32 else 1e-6)
    roles = dict(x=Role("in", free=True), gamma=IN, beta=IN, eps=Role("float"))
    return Case(name, args, roles, dt, check)


@spec("layernorm_backward")
def layernorm_backward(draw, name):
    dt = float_dtype(draw)
    R, N = dims(draw), dims(draw, 1, 5, 40)
    X = floats(draw, (R, N), np.float64)
    m = X.mean(-1)
    rs = 1 / np.sqrt(X.var(-1) + 1e-3)
    args = dict(dy=floats(draw, (R, N), dt), x=X.astype(dt), gamma=floats(draw, (N,), dt),
                mean=m.astype(dt), rstd=rs.astype(dt))

    def check(before, after, res):
        D, Xb, G = f64(before["dy"]), f64(before["x"]), f64(before["gamma"])
        mu, r = f64(before["mean"])[:, None], f64(before["rstd"])[:, None]
        xh = (Xb - mu) * r
        gx = D * G
        dx = r * (gx - gx.mean(-1, keepdims=True) - xh * (gx * xh).mean(-1, keepdims=True))
        close("dx", res[0], dx, dt, rtol=2e-2 if dt == np.float32 else 1e-6)
        close("dgamma", res[1], (D * xh).sum(0), dt, scale=max(1.0, R))
        close("dbeta", res[2], D.sum(0), dt, scale=max(1.0, R))
    roles = dict(dy=IN, x=Role("in", free=True), gamma=IN, mean=IN, rstd=IN)
    return Case(name, args, roles, dt, check, plant=(np.nan,))


def _bn_apply(a, mean, inv):
    """y = x * scale + shift, scale = gamma * invstd, shift = beta - mean * scale: PyTorch's
    CPU formula (an infinite gamma gives NaN where x * scale and shift are opposite infinities)."""
    sc = inv * (1.0 if a["gamma"] is None else f64(a["gamma"]))
    return f64(a["x"]) * sc + ((0.0 if a["beta"] is None else f64(a["beta"])) - mean * sc)


@spec("batch_norm_forward_train")
def bn_train(draw, name):
    dt = float_dtype(draw)
    M, C = dims(draw, 1), dims(draw, 0, 5, 20)
    opt = lambda f: f if draw(st.booleans()) else None  # noqa: E731
    args = dict(x=floats(draw, (M, C), dt), gamma=opt(floats(draw, (C,), dt)), beta=opt(floats(draw, (C,), dt)),
                running_mean=opt(floats(draw, (C,), dt)), running_var=opt(np.abs(floats(draw, (C,), dt))),
                eps=1e-3, momentum=0.9)

    def check(before, after, res):
        X = f64(before["x"])
        m, v = X.mean(0), X.var(0)
        inv = 1 / np.sqrt(v + 1e-3)
        y = _bn_apply(before, m, inv)
        close("y", res[0], y, dt, rtol=2e-2 if dt == np.float32 else 1e-6)
        close("mean", res[1], m, dt)
        close("invstd", res[2], inv, dt, rtol=2e-2 if dt == np.float32 else 1e-6)
        for k, stat in (("running_mean", m), ("running_var", v)):
            if before[k] is not None:
                close(k, after[k], 0.9 * f64(before[k]) + 0.1 * stat, dt)
    roles = dict(x=Role("in", free=True), gamma=Role("in", optional=True), beta=Role("in", optional=True),
                 running_mean=Role("state", optional=True), running_var=Role("state", optional=True))
    return Case(name, args, roles, dt, check)


@spec("batch_norm_forward_infer")
def bn_infer(draw, name):
    dt = float_dtype(draw)
    M, C = dims(draw), dims(draw, 0, 5, 20)
    args = dict(x=floats(draw, (M, C), dt), gamma=floats(draw, (C,), dt) if draw(st.booleans()) else None,
                beta=None, running_mean=floats(draw, (C,), dt), running_var=np.abs(floats(draw, (C,), dt)), eps=1e-3)

    def check(before, after, res):
        y = _bn_apply(before, f64(before["running_mean"]), 1 / np.sqrt(f64(before["running_var"]) + 1e-3))
        close("y", res, y, dt, rtol=2e-2 if dt == np.float32 else 1e-6)
    roles = dict(x=Role("in", free=True), gamma=Role("in", optional=True), beta=Role("in", optional=True),
                 running_mean=IN, running_var=IN)
    return Case(name, args, roles, dt, check)


@spec("batch_norm_backward_train")
def bn_backward(draw, name):
    dt = float_dtype(draw)
    M, C = dims(draw, 1), dims(draw, 0, 5, 20)
    X = floats(draw, (M, C), np.float64)
    need_dx = draw(st.booleans())
    args = dict(dy=floats(draw, (M, C), dt), x=X.astype(dt), gamma=floats(draw, (C,), dt) if draw(st.booleans())
                else None, mean=X.mean(0).astype(dt), invstd=(1 / np.sqrt(X.var(0) + 1e-3)).astype(dt),
                need_dx=need_dx)

    def check(before, after, res):
        D, Xb = f64(before["dy"]), f64(before["x"])
        inv = f64(before["invstd"])
        xh = (Xb - f64(before["mean"])) * inv
        db, dg = D.sum(0), (D * xh).sum(0)
        g = 1.0 if before["gamma"] is None else f64(before["gamma"])
        dx = g * inv / M * (M * D - db - xh * dg) if need_dx else None
        close("dx", res[0], dx, dt, rtol=2e-2 if dt == np.float32 else 1e-6, scale=max(1.0, M))
        close("dgamma", res[1], dg, dt, scale=max(1.0, M))
        close("dbeta", res[2], db, dt, scale=max(1.0, M))
    roles = dict(dy=IN, x=Role("in", free=True), gamma=Role("in", optional=True), mean=IN, invstd=IN)
    return Case(name, args, roles, dt, check, plant=(np.nan,))


# ---------------------------------------------------------------------------------------
# process settings (each call is undone by the runner)
# ---------------------------------------------------------------------------------------

@spec("set_num_threads")
def set_threads(draw, name):
    n = draw(st.integers(0, 4))
    return Case(name, dict(n=n), dict(n=Role("int", lo=0, hi=2**31 - 1)), np.float32, None)


@spec("set_kernel_path")
def set_path(draw, name):
    p = draw(st.sampled_from(["portable", "avx2", "avx512", "auto", "", "AVX2", "gpu", "avx2\x00x"]))
    ok = p in ("portable", "avx2", "avx512", "auto")
    return Case(name, dict(path=p), {}, np.float32, None, expect="ok" if ok else "error", note=f"path={p!r}")


@spec("get_num_threads", "cpu_has_avx2_fma", "cpu_has_avx512", "kernel_paths", "kernel_path", "max_threads")
def queries(draw, name):
    return Case(name, {}, {}, np.float32, None)


@spec("gemm_blocking")
def blocking(draw, name):
    dtype = draw(st.sampled_from(["float32", "float64", "float16", "", "int32"]))
    n = draw(st.integers(-3, 5000))
    ok = dtype in ("float32", "float64") and n >= 1

    def check(before, after, res):
        if set(res) != {"mr", "nr", "mc", "kc", "nc", "l1d", "l2", "l3"}:
            raise Mismatch(f"keys {sorted(res)}")
        if res["mc"] % res["mr"] or res["nc"] % res["nr"] or res["kc"] < 1:
            raise Mismatch(f"blocking {res}")
    return Case(name, dict(dtype=dtype, n=n), {}, np.float32, check if ok else None,
                expect="ok" if ok else "error", note=f"dtype={dtype!r} n={n}")
