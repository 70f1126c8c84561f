"""Fuzz specs: convolution, pooling, attention and the recurrent cells. References are the
float64 NumPy oracles of the unit tests (tests/test_conv.py ...); linear backward ops are
checked through their adjoint identity <dx, u> = <dy, f(u)> on random directions, the
recurrent backward ops by a central difference of the float64 reference along one random
direction of all their inputs."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from ember import _C

from .core import Case, Mismatch, Role, close, dims, directions, f64, float_dtype, floats, spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_attention import ref_attention_grads  # noqa: E402
from test_conv import ref_conv2d  # noqa: E402
from test_rnn import ACT_FNS, ref_gru, ref_lstm, ref_srnn  # noqa: E402

IN = Role("in")
PAIR = Role("ints", lo=1)
PADS = Role("ints", lo=0)


def _scalar_close(name, got, want, scale, dt):
    if dt == np.float32 and np.isfinite(want) and abs(want) > np.finfo(np.float32).max and not np.isfinite(got):
        return  # past float32's range: the float32 kernel overflows to inf or NaN (as core.close)
    tol = (2e-3 if dt == np.float32 else 1e-7) * max(scale, 1e-30)
    if not (abs(got - want) <= tol) and not (np.isnan(got) and np.isnan(want)):
        raise Mismatch(f"{name}: <grad, u> = {got!r}, the reference gives {want!r} (scale {scale:.3g})")


# ---------------------------------------------------------------------------------------
# conv
# ---------------------------------------------------------------------------------------

def _conv_geometry(draw, dt):
    G = draw(st.sampled_from([1, 1, 2]))
    N, C, OC = dims(draw, 0, 3), G * dims(draw, 0 if G == 1 else 1, 3, 9), G * dims(draw, 0, 3, 9)
    KH, KW = dims(draw, 1, 3), dims(draw, 1, 3)
    st_ = [dims(draw, 1, 2, 3), dims(draw, 1, 2, 3)]
    dil = [dims(draw, 1, 2), dims(draw, 1, 2)]
    pads = [dims(draw, 0, 2) for _ in range(4)]
    eh, ew = dil[0] * (KH - 1) + 1, dil[1] * (KW - 1) + 1
    H = max(eh - pads[0] - pads[1], 0) + dims(draw, 0, 4)
    W = max(ew - pads[2] - pads[3], 0) + dims(draw, 0, 4)
    x, w = floats(draw, (N, H, W, C), dt), floats(draw, (KH, KW, max(C // G, 0), OC), dt)
    return dict(x=x, w=w, strides=st_, pads=pads, dilation=dil, groups=G)


def _conv_roles():
    return dict(x=Role("in", free=True), w=Role("in", free=True), b=Role("in", optional=True),
                strides=PAIR, pads=PADS, dilation=PAIR, groups=Role("int", lo=1, hi=1))


def _ref_conv(a, x, w, b=None):
    x, w = f64(x), f64(w)
    pads, st_, dil = a["pads"], a["strides"], a["dilation"]
    OH = (x.shape[1] + pads[0] + pads[1] - dil[0] * (w.shape[0] - 1) - 1) // st_[0] + 1
    OW = (x.shape[2] + pads[2] + pads[3] - dil[1] * (w.shape[1] - 1) - 1) // st_[1] + 1
    shape = (x.shape[0], OH, OW, w.shape[3])
    if 0 in shape or w.shape[2] == 0:  # nothing to sum: the bias alone
        return np.zeros(shape) + (0 if b is None else f64(b))
    return ref_conv2d(x, w, None if b is None else f64(b), st_, pads, dil, a["groups"])


@spec("conv2d_forward", "conv2d_naive")
def conv_forward(draw, name):
    dt = float_dtype(draw)
    a = _conv_geometry(draw, dt)
    a["b"] = floats(draw, (a["w"].shape[3],), dt) if draw(st.booleans()) else None
    act = 0
    if name == "conv2d_forward":
        act = draw(st.integers(0, 1))
        a.update(act=act, out=None)
    roles = _conv_roles()
    roles["groups"] = Role("int", lo=a["groups"], hi=a["groups"])
    # padded cells are skipped, not multiplied by 0 (0 * inf would be NaN): keep the
    # weights finite when there is padding, the reference multiplies zeros
    roles["w"] = Role("in", free=True, nan_ok=not any(a["pads"]))
    if name == "conv2d_forward":
        roles.update(act=Role("int", lo=0, hi=1), out=Role("out", optional=True))
        if draw(st.booleans()):
            a["out"] = np.empty(_ref_conv(a, a["x"], a["w"]).shape, dt)

    def check(before, after, res):
        y = _ref_conv(before, before["x"], before["w"], before["b"])
        if act:
            y = np.where(np.isnan(y), y, np.maximum(y, 0))
        close("y", res, y, dt, scale=max(1.0, float(np.prod(before["w"].shape[:3]))))
    return Case(name, a, roles, dt, check)


def check_conv_grads(before, res, need, g, ux, uw, dt):
    """(dx, dw, db) of a convolution whose output gradient is ``g`` (float64, after any mask):
    present exactly where requested; dx and dw through <grad, u> = <g, conv(u)> in random
    directions ux / uw (the adjoint identity), db as g's sum over N, H, W."""
    for i, (nm, ok) in enumerate(zip(("dx", "dw", "db"), need)):
        if (res[i] is None) == ok:
            raise Mismatch(f"{nm}: returned {res[i] is not None}, requested {ok}")
    if need[0]:
        _scalar_close("dx", float((f64(res[0]) * ux).sum()), float((g * _ref_conv(before, ux, before["w"])).sum()),
                      float((np.abs(g) * _ref_conv(before, np.abs(ux), np.abs(f64(before["w"])))).sum()), dt)
    if need[1]:
        _scalar_close("dw", float((f64(res[1]) * uw).sum()), float((g * _ref_conv(before, before["x"], uw)).sum()),
                      float((np.abs(g) * _ref_conv(before, np.abs(f64(before["x"])), np.abs(uw))).sum()), dt)
    if need[2]:
        close("db", res[2], g.sum((0, 1, 2)), dt, scale=max(1.0, g.size // max(g.shape[-1], 1)))


@spec("conv2d_backward")
def conv_backward(draw, name):
    dt = float_dtype(draw)
    a = _conv_geometry(draw, dt)
    act = draw(st.integers(0, 1))
    y = _ref_conv(a, a["x"], a["w"])
    yv = np.maximum(y, 0).astype(dt) if act else (y.astype(dt) if draw(st.booleans()) else None)
    need = [draw(st.booleans()) for _ in range(3)]
    a.update(dy=floats(draw, y.shape, dt), y=yv, act=act, need_dx=need[0], need_dw=need[1], need_db=need[2])
    ux, uw = directions(draw, a["x"].shape, a["w"].shape)

    def check(before, after, res):
        g = f64(before["dy"]) * ((f64(before["y"]) > 0) if act else 1.0)
        check_conv_grads(before, res, need, g, ux, uw, dt)
    roles = _conv_roles()
    roles.update(dy=IN, y=Role("in", optional=act == 0), groups=Role("int", lo=a["groups"], hi=a["groups"]),
                 act=Role("int", lo=0, hi=1))
    return Case(name, a, roles, dt, check, ref_nan=False)


# ---------------------------------------------------------------------------------------
# pool
# ---------------------------------------------------------------------------------------

def _pool_geometry(draw, dt):
    pool = [dims(draw, 1, 3), dims(draw, 1, 3)]
    strides = [dims(draw, 1, 3), dims(draw, 1, 3)]
    pads = [draw(st.integers(0, pool[0] - 1)), draw(st.integers(0, pool[0] - 1)),
            draw(st.integers(0, pool[1] - 1)), draw(st.integers(0, pool[1] - 1))]
    H = max(pool[0] - pads[0] - pads[1], 0) + dims(draw, 0, 4)
    W = max(pool[1] - pads[2] - pads[3], 0) + dims(draw, 0, 4)
    C = draw(st.sampled_from([dims(draw, 0, 5), 8, 16]))
    return floats(draw, (dims(draw, 0, 3), H, W, C), dt), pool, strides, pads


def _pool_ref(x, pool, strides, pads, kind, count_pad=False):
    N, H, W, C = x.shape
    OH = (H + pads[0] + pads[1] - pool[0]) // strides[0] + 1
    OW = (W + pads[2] + pads[3] - pool[1]) // strides[1] + 1
    y = np.zeros((N, OH, OW, C))
    for i in range(OH):
        for j in range(OW):
            h0, w0 = i * strides[0] - pads[0], j * strides[1] - pads[2]
            win = x[:, max(h0, 0):min(h0 + pool[0], H), max(w0, 0):min(w0 + pool[1], W)]
            if win.shape[1] * win.shape[2] == 0:  # a window with no cell of x: 0 (pool.h)
                continue
            if kind == "max":
                y[:, i, j] = win.max(axis=(1, 2))
            else:
                y[:, i, j] = win.sum(axis=(1, 2)) / (pool[0] * pool[1] if count_pad else win.shape[1] * win.shape[2])
    return y


def _pool_roles(xname):
    return {xname: Role("in", free=True), "pool": PAIR, "strides": PAIR, "pads": PADS}


@spec("max_pool2d_forward", "avg_pool2d_forward")
def pool_forward(draw, name):
    dt = float_dtype(draw)
    x, pool, strides, pads = _pool_geometry(draw, dt)
    kind = "max" if name.startswith("max") else "avg"
    a = dict(x=x, pool=pool, strides=strides, pads=pads)
    if kind == "avg":
        a["count_pad"] = draw(st.booleans())

    def check(before, after, res):
        X = f64(before["x"])
        y = _pool_ref(X, pool, strides, pads, kind, before.get("count_pad", False))
        if kind == "avg":
            return close("y", res, y, dt)
        close("y", res[0], y, dt)
        idx = res[1]
        n, _, _, c = np.indices(idx.shape)
        if X.size:
            at = np.where(idx >= 0, X[n, idx // max(X.shape[2], 1), idx % max(X.shape[2], 1), c], 0.0)
            close("x[idx]", at, y, dt)
    return Case(name, a, _pool_roles("x"), dt, check)


@spec("max_pool2d_backward", "avg_pool2d_backward")
def pool_backward(draw, name):
    dt = float_dtype(draw)
    x, pool, strides, pads = _pool_geometry(draw, dt)
    kind = "max" if name.startswith("max") else "avg"
    count_pad = draw(st.booleans())
    yshape = _pool_ref(x, pool, strides, pads, "avg").shape
    a = dict(dy=floats(draw, yshape, dt))
    # dy is the only float operand: either float dtype is valid
    roles = dict(dy=Role("in", dtypes=(np.float32, np.float64)), x_shape=Role("ints", lo=0), pool=PAIR,
                 strides=PAIR, pads=PADS)
    if kind == "max":
        a["idx"] = _C.max_pool2d_forward(x, pool, strides, pads)[1]
        roles["idx"] = Role("idx", dtypes=(np.int32,))
        if a["idx"].size and draw(st.integers(0, 3)) == 0:  # an index outside its window
            a["idx"].reshape(-1)[draw(st.integers(0, a["idx"].size - 1))] = draw(
                st.sampled_from([-2, x.shape[1] * x.shape[2], 2**31 - 1, -2**31]))
            return Case(name, dict(a, x_shape=list(x.shape), pool=pool, strides=strides, pads=pads), roles, dt,
                        None, expect="error", note="idx out of its window")
    a.update(x_shape=list(x.shape), pool=pool, strides=strides, pads=pads)
    if kind == "avg":
        a["count_pad"] = count_pad
    (u,) = directions(draw, x.shape)

    def check(before, after, res):
        D = f64(before["dy"])
        if kind == "max":
            want = np.zeros(x.shape)
            n, oh, ow, c = np.indices(D.shape)
            idx, keep = before["idx"], before["idx"] >= 0
            W = max(x.shape[2], 1)
            np.add.at(want, (n[keep], idx[keep] // W, idx[keep] % W, c[keep]), D[keep])
            return close("dx", res, want, dt, scale=max(1.0, pool[0] * pool[1]))
        lhs = float((f64(res) * u).sum())
        reach = _pool_ref(np.ones(x.shape), pool, strides, pads, "avg") > 0  # windows with a cell of x
        rhs = float(np.where(reach, D * _pool_ref(u, pool, strides, pads, "avg", count_pad), 0).sum())
        scale = float(np.where(reach, np.abs(D) * _pool_ref(np.abs(u), pool, strides, pads, "avg", count_pad),
                               0).sum())
        _scalar_close("dx", lhs, rhs, scale, dt)
    return Case(name, a, roles, dt, check, plant=(np.nan,))


# ---------------------------------------------------------------------------------------
# attention
# ---------------------------------------------------------------------------------------

def _attn_inputs(draw, dt, layout):
    B, H, Tq, Tk, D, Dv = dims(draw, 0, 2), dims(draw, 0, 2), dims(draw, 0, 4, 20), dims(draw, 0, 4, 20), \
        dims(draw, 0, 4, 9), dims(draw, 0, 4, 9)
    sh = (lambda T, d: (B, T, H, d)) if layout == "bthd" else (lambda T, d: (B, H, T, d))
    q, k, v = floats(draw, sh(Tq, D), dt), floats(draw, sh(Tk, D), dt), floats(draw, sh(Tk, Dv), dt)
    mask = None
    if draw(st.booleans()):
        seed = draw(st.integers(0, 2**32 - 1))
        mask = np.random.default_rng(seed).random((B, H, Tq, Tk)) < 0.7
        if draw(st.booleans()):
            mask = np.broadcast_to(mask[:, :1, :, :], mask.shape)
    scale = draw(st.sampled_from([1 / np.sqrt(max(D, 1)), 0.5, 1.0, 0.0, -0.5]))
    return dict(q=q, k=k, v=v, mask=mask, causal=draw(st.booleans()), scale=float(scale))


def _attn_ref(q, k, v, mask, causal, scale):
    """The README's attention rules (ref_attention of test_attention.py is the finite-input
    oracle): masks act by position, after scaling, so a masked key's score and value never
    count; an attended NaN or +inf score makes the row NaN; an attended NaN / inf value reaches
    the row even where its weight underflows to 0 (0 * NaN, as softmax(QK^T) V); a row with no
    attended key, or only -inf scores, is 0."""
    B, H, Tq, _ = q.shape
    Tk = k.shape[2]
    if 0 in q.shape[:3] or Tk == 0 or v.shape[3] == 0:  # no key: every row fully masked -> 0
        return np.zeros((B, H, Tq, v.shape[3]))
    allowed = np.ones((B, H, Tq, Tk), bool)
    if causal:
        allowed &= np.tril(np.ones((Tq, Tk), bool))
    if mask is not None:
        allowed &= mask
    with np.errstate(all="ignore"):
        s = np.where(allowed, np.einsum("bhqd,bhkd->bhqk", q, k) * scale, -np.inf)
        bad = (allowed & (np.isnan(s) | (s == np.inf))).any(-1, keepdims=True)
        m = np.max(np.where(np.isnan(s), -np.inf, s), -1, keepdims=True)
        e = np.where(allowed, np.exp(s - np.where(np.isfinite(m), m, 0)), 0)
        z = e.sum(-1, keepdims=True)
        p = e / np.where(z == 0, 1, z)
        out = np.where(allowed[..., None], p[..., None] * v[:, :, None, :, :], 0).sum(-2)
    out = np.where(z == 0, 0, out)
    return np.where(bad, np.nan, out)


def _attn_grads_ref(q, k, v, g, mask, causal, scale):
    if 0 in q.shape[:3] or k.shape[2] == 0:
        return np.zeros(q.shape), np.zeros(k.shape), np.zeros(v.shape)
    return ref_attention_grads(q, k, v, g, mask, causal, scale)


def _bhtd(a, layout):
    return np.swapaxes(f64(a), 1, 2) if layout == "bthd" else f64(a)


_ATTN_ROLES = dict(q=Role("in", free=True), k=Role("in", free=True), v=Role("in", free=True),
                   mask=Role("mask", optional=True, dtypes=(np.bool_,), strided_ok=True))


@spec("attention_forward", "attention_forward_naive")
def attention_forward(draw, name):
    dt = float_dtype(draw)
    layout = draw(st.sampled_from(["bhtd", "bthd"])) if name == "attention_forward" else "bhtd"
    a = _attn_inputs(draw, dt, layout)
    if name == "attention_forward":
        a["layout"] = layout

    def check(before, after, res):
        want = _attn_ref(_bhtd(before["q"], layout), _bhtd(before["k"], layout), _bhtd(before["v"], layout),
                             before["mask"], before["causal"], before["scale"])
        close("out", res[0], np.swapaxes(want, 1, 2) if layout == "bthd" else want, dt,
              scale=max(1.0, a["k"].shape[1 if layout == "bthd" else 2]))
    return Case(name, a, dict(_ATTN_ROLES), dt, check)


@spec("attention_backward")
def attention_backward(draw, name):
    dt = float_dtype(draw)
    layout = draw(st.sampled_from(["bhtd", "bthd"]))
    a = _attn_inputs(draw, dt, layout)
    out, lse = _C.attention_forward(a["q"], a["k"], a["v"], a["mask"], a["causal"], a["scale"], layout)
    args = dict(grad_out=floats(draw, out.shape, dt), q=a["q"], k=a["k"], v=a["v"], out=out, lse=lse,
                mask=a["mask"], causal=a["causal"], scale=a["scale"], layout=layout)

    def check(before, after, res):
        t = lambda z: _bhtd(before[z], layout)  # noqa: E731
        want = _attn_grads_ref(t("q"), t("k"), t("v"), t("grad_out"), before["mask"], before["causal"],
                                   before["scale"])
        for nm, g, w in zip(("dq", "dk", "dv"), res, want):
            close(nm, g, np.swapaxes(w, 1, 2) if layout == "bthd" else w, dt,
                  scale=max(1.0, a["k"].shape[1 if layout == "bthd" else 2]))
    roles = dict(_ATTN_ROLES, grad_out=IN, out=IN, lse=IN)
    return Case(name, args, roles, dt, check, ref_nan=False)


# ---------------------------------------------------------------------------------------
# recurrent cells
# ---------------------------------------------------------------------------------------

_GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}


def _rnn_inputs(draw, dt, cell):
    B, T, I, U = dims(draw, 0, 3), dims(draw, 0, 4), dims(draw, 0, 4, 9), dims(draw, 0, 4, 9)
    G = _GATES[cell]
    act = draw(st.sampled_from(["tanh", "relu", "sigmoid", "linear"]))
    ract = draw(st.sampled_from(["sigmoid", "hard_sigmoid", "tanh", "linear"]))
    # unbounded activations compound over the steps: small weights keep the values (and the
    # finite differences of the backward check) in range
    w = 0.4 if act in ("tanh", "sigmoid") and ract != "linear" else 0.05
    a = dict(x=floats(draw, (B, T, I), dt), kernel=floats(draw, (I, G * U), dt, w),
             recurrent_kernel=floats(draw, (U, G * U), dt, w),
             bias=floats(draw, (2, 3 * U) if cell == "gru" else (G * U,), dt, 0.3), h0=floats(draw, (B, U), dt))
    if cell == "lstm":
        a["c0"] = floats(draw, (B, U), dt)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    a["mask"] = (rng.random((B, T)) < 0.7) if draw(st.booleans()) else None
    a["recurrent_mask"] = ((rng.random((B, U)) < 0.6) / 0.6).astype(dt) if draw(st.booleans()) else None
    a["activation"] = act
    if cell != "simple_rnn":
        a["recurrent_activation"] = ract
    return a


def _rnn_roles(cell):
    r = dict(x=Role("in", free=True), kernel=Role("in", free=True), recurrent_kernel=Role("in", free=True),
             bias=IN, h0=IN, c0=IN, mask=Role("mask", optional=True, dtypes=(np.bool_, np.uint8)),
             recurrent_mask=Role("in", optional=True))
    return r


def _rnn_ref(cell, a, **over):
    g = lambda k: f64(over.get(k, a.get(k)))  # noqa: E731
    m = a["mask"]
    B, T, U = a["x"].shape[0], a["x"].shape[1], a["h0"].shape[1]
    if T == 0:  # no step: the states pass through
        return (np.zeros((B, 0, U)), g("h0")) + ((g("c0"),) if cell == "lstm" else ())
    if cell == "lstm":
        return ref_lstm(g("x"), g("kernel"), g("recurrent_kernel"), g("bias"), g("h0"), g("c0"), m,
                        g("recurrent_mask"), a["activation"], a["recurrent_activation"])
    if cell == "gru":
        return ref_gru(g("x"), g("kernel"), g("recurrent_kernel"), g("bias"), g("h0"), m, g("recurrent_mask"),
                       a["activation"], a["recurrent_activation"])
    return ref_srnn(g("x"), g("kernel"), g("recurrent_kernel"), g("bias"), g("h0"), m, ACT_FNS[a["activation"]],
                    g("recurrent_mask"))


@spec("lstm_forward", "gru_forward", "simple_rnn_forward")
def rnn_forward(draw, name):
    cell = name[:-len("_forward")]
    dt = float_dtype(draw)
    a = _rnn_inputs(draw, dt, cell)

    def check(before, after, res):
        y = _rnn_ref(cell, before)[0]
        close("y", res if cell == "simple_rnn" else res[0], y, dt, scale=max(1.0, a["x"].shape[2] + a["h0"].shape[1]))
    return Case(name, a, _rnn_roles(cell), dt, check)


@spec("lstm_backward", "gru_backward", "simple_rnn_backward")
def rnn_backward(draw, name):
    cell = name[:-len("_backward")]
    dt = float_dtype(draw)
    a = _rnn_inputs(draw, dt, cell)
    fwd = getattr(_C, f"{cell}_forward")(**a)
    fwd = (fwd,) if cell == "simple_rnn" else fwd
    B, T, U = a["x"].shape[0], a["x"].shape[1], a["h0"].shape[1]
    d = dict(dy=floats(draw, (B, T, U), dt), dh=floats(draw, (B, U), dt))
    if cell == "lstm":
        d["dc"] = floats(draw, (B, U), dt)
    saved = dict(lstm=("y", "cell_states", "gates"), gru=("y", "gates", "hrec"), simple_rnn=("y",))[cell]
    args = dict(d, **{k: a[k] for k in ("x", "kernel", "recurrent_kernel", "h0")})
    if cell == "lstm":
        args["c0"] = a["c0"]
    args.update(dict(zip(saved, fwd)), mask=a["mask"], recurrent_mask=a["recurrent_mask"], activation=a["activation"])
    if cell != "simple_rnn":
        args["recurrent_activation"] = a["recurrent_activation"]
    wrt = ["x", "kernel", "recurrent_kernel", "bias", "h0"] + (["c0"] if cell == "lstm" else [])
    us = dict(zip(wrt, directions(draw, *[a[k].shape for k in wrt])))

    def f(eps):
        r = _rnn_ref(cell, a, **{k: f64(a[k]) + eps * us[k] for k in wrt})
        s = (f64(d["dy"]) * r[0]).sum() + (f64(d["dh"]) * r[1]).sum()
        return s + ((f64(d["dc"]) * r[2]).sum() if cell == "lstm" else 0.0)

    def check(before, after, res):
        lhs = sum(float((f64(g) * us[k]).sum()) for k, g in zip(wrt, res))
        rhs = (f(1e-6) - f(-1e-6)) / 2e-6
        scale = sum(float(np.abs(f64(g) * us[k]).sum()) for k, g in zip(wrt, res)) + 1e-3
        _scalar_close("grads", lhs, rhs, scale * (10 if dt == np.float32 else 100), dt)
    roles = dict(_rnn_roles(cell), dy=IN, dh=IN, dc=IN, y=IN, cell_states=IN, gates=IN, hrec=IN)
    return Case(name, args, roles, dt, check, ref_nan=False)
