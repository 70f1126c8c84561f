"""Fuzz specs: the fused conv2d + max pooling (conv2d_max_pool2d_forward / _backward). The
reference is the float64 convolution of the unit tests, then the NumPy max pooling of
specs_spatial; the backward is checked through its adjoint identity on random directions:
the pooled gradient scattered to the argmax cells (-1, where the forward's ReLU zeroed the
output, passes nothing) is the conv2d backward's dy."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ember import _C

from .core import Case, Role, close, dims, directions, f64, float_dtype, floats, spec
from .specs_spatial import IN, PADS, PAIR, _conv_geometry, check_conv_grads, _conv_roles, _pool_ref, _ref_conv


def _geometry(draw, dt):
    """A convolution (specs_spatial's geometry) and a max pooling that fits its output."""
    a = _conv_geometry(draw, dt)
    OH, OW = _ref_conv(a, a["x"][:0], a["w"]).shape[1:3]
    pool = [min(dims(draw, 1, 3), OH), min(dims(draw, 1, 3), OW)]
    pads = [draw(st.integers(0, pool[0] - 1)), draw(st.integers(0, pool[0] - 1)),
            draw(st.integers(0, pool[1] - 1)), draw(st.integers(0, pool[1] - 1))]
    a.update(pool=pool, pool_strides=[dims(draw, 1, 3), dims(draw, 1, 3)], pool_pads=pads)
    return a


def _roles(a):
    roles = _conv_roles()
    roles.update(groups=Role("int", lo=a["groups"], hi=a["groups"]), act=Role("int", lo=0, hi=1), pool=PAIR,
                 pool_strides=PAIR, pool_pads=PADS)
    # padded cells are skipped, not multiplied by 0 (0 * inf would be NaN), as conv2d_forward
    roles["w"] = Role("in", free=True, nan_ok=not any(a["pads"]))
    return roles


def _conv_out(a, x, w, b=None):
    y = _ref_conv(a, x, w, b)
    return np.where(np.isnan(y), y, np.maximum(y, 0)) if a["act"] else y


@spec("conv2d_max_pool2d_forward")
def conv_pool_forward(draw, name):
    dt = float_dtype(draw)
    a = _geometry(draw, dt)
    a["b"] = floats(draw, (a["w"].shape[3],), dt) if draw(st.booleans()) else None
    a["act"] = draw(st.integers(0, 1))

    def check(before, after, res):
        yc = _conv_out(before, before["x"], before["w"], before["b"])
        y = _pool_ref(yc, before["pool"], before["pool_strides"], before["pool_pads"], "max")
        scale = max(1.0, float(np.prod(before["w"].shape[:3])))
        close("y", res[0], y, dt, scale=scale)
        idx = res[1]
        n, _, _, c = np.indices(idx.shape)
        if yc.size:
            W = max(yc.shape[2], 1)
            at = np.where(idx >= 0, yc[n, np.maximum(idx, 0) // W, np.maximum(idx, 0) % W, c], 0.0)
            close("conv_out[idx]", at, y, dt, scale=scale)
    return Case(name, a, _roles(a), dt, check)


@spec("conv2d_max_pool2d_backward")
def conv_pool_backward(draw, name):
    dt = float_dtype(draw)
    a = _geometry(draw, dt)
    # act 1: the ReLU mask travels in idx (-1 at the ReLU zeros)
    geo = (a["strides"], a["pads"], a["dilation"], a["groups"], draw(st.integers(0, 1)), a["pool"],
           a["pool_strides"], a["pool_pads"])
    y, idx = _C.conv2d_max_pool2d_forward(a["x"], a["w"], None, *geo)
    need = [draw(st.booleans()) for _ in range(3)]
    a.update(dy=floats(draw, y.shape, dt), idx=idx, need_dx=need[0], need_dw=need[1], need_db=need[2])
    roles = _roles(a)
    roles.update(dy=IN, idx=Role("idx", dtypes=(np.int32,)))
    for k in ("b", "act"):
        roles.pop(k)
    if idx.size and draw(st.integers(0, 3)) == 0:  # an index outside its window
        OW = _ref_conv(a, a["x"][:0], a["w"]).shape[2]
        idx.reshape(-1)[draw(st.integers(0, idx.size - 1))] = draw(
            st.sampled_from([-2, OW * 10**6, 2**31 - 1, -2**31, idx.reshape(-1)[0] + 1]))
        if not _idx_ok(a, idx):
            return Case(name, a, roles, dt, None, expect="error", note="idx out of its window")
    ux, uw = directions(draw, a["x"].shape, a["w"].shape)

    def check(before, after, res):
        check_conv_grads(before, res, need, _scatter(before, f64(before["dy"])), ux, uw, dt)
    return Case(name, a, roles, dt, check, ref_nan=False)


def _scatter(a, d):
    """The conv-output gradient: each pooled gradient added at its argmax cell."""
    shape = _ref_conv(a, a["x"], a["w"]).shape
    g = np.zeros(shape)
    n, _, _, c = np.indices(d.shape)
    idx = a["idx"]
    keep = idx >= 0
    W = max(shape[2], 1)
    np.add.at(g, (n[keep], idx[keep] // W, idx[keep] % W, c[keep]), d[keep])
    return g


def _idx_ok(a, idx) -> bool:
    """Whether every entry is -1 or a cell of its own window."""
    OH, OW = _ref_conv(a, a["x"][:0], a["w"]).shape[1:3]
    (ph, pw), (sh, sw), pads = a["pool"], a["pool_strides"], a["pool_pads"]
    for (n, i, j, c), p in np.ndenumerate(idx):
        if p == -1:
            continue
        h0, w0 = i * sh - pads[0], j * sw - pads[2]
        r, q = divmod(int(p), max(OW, 1))
        if not (p >= 0 and max(h0, 0) <= r < min(h0 + ph, OH) and max(w0, 0) <= q < min(w0 + pw, OW)):
            return False
    return True
