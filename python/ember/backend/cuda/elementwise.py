"""CUDA elementwise family: fused bias + activation forward / backward and the in-place
optimizer steps (kernels/elementwise.cu). Same names, arguments and returns as
``backend.cpu``; the formulas and NaN rules are those of csrc/elementwise.h.
"""
from __future__ import annotations

import numpy as np

from ..cpu import FUSED_ACTIVATIONS
from . import runtime
from ._launch import fail, float_dtype, i32, i64, launch, operand, scalar

__all__ = ["bias_act_forward", "bias_act_backward", "sgd_update", "adam_update", "rmsprop_update"]

_FAMILY = "elementwise"
#: rows per partial column sum of db (the CPU's block too): fixed, so db does not depend on the launch
ROW_CHUNK = 32


def _act_code(op: str, act: str) -> int:
    if act not in FUSED_ACTIVATIONS:
        fail(op, f"activation must be one of {sorted(FUSED_ACTIVATIONS)}. Received: {act!r}")
    return FUSED_ACTIVATIONS[act]


def _matrix(op: str, name: str, a):
    if a.ndim != 2:
        fail(op, f"'{name}' must be 2-D. Received: shape={tuple(a.shape)}")


def bias_act_forward(x, b, act: str, alpha: float = 0.0, out=None):
    """y = act(x + b) for x (rows, cols) and b (cols,) or None. ``out`` may be ``x`` (in place)."""
    op = f"bias_act_forward[{act}]"
    code = _act_code(op, act)
    d = float_dtype(op, "x", x)
    _matrix(op, "x", x)
    xp = runtime.xp()
    x = xp.ascontiguousarray(x)
    rows, cols = x.shape
    if b is not None:
        float_dtype(op, "b", b)
        b = operand(op, "b", b.astype(d, copy=False), d, (cols,))
    if out is None:
        out = xp.empty((rows, cols), dtype=d)
    else:
        operand(op, "out", out, d, (rows, cols))
        if not out.flags.c_contiguous:
            fail(op, "'out' must be C-contiguous")
    launch(_FAMILY, "bias_act_forward", d, rows * cols,
           (out, x, x if b is None else b, i64(rows), i64(cols), i32(code), scalar(d, alpha), i32(b is not None)))
    return out


def bias_act_backward(dy, y, x, b, act: str, alpha: float = 0.0, need_db: bool = True):
    """(dx, db): dx = dy * act'(x + b), db = column sums of dx (None unless ``need_db``).

    ``y`` is the saved forward output; ``x`` (the pre-bias input) is needed for gelu only.
    Non-contiguous ``dy`` (e.g. a broadcast gradient) is made contiguous first.
    """
    op = f"bias_act_backward[{act}]"
    code = _act_code(op, act)
    ref = y if y is not None else x
    if ref is None:
        fail(op, "'y' (or 'x' for gelu) is required")
    d = float_dtype(op, "y" if y is not None else "x", ref)
    xp = runtime.xp()
    float_dtype(op, "dy", dy)
    dy = xp.ascontiguousarray(dy.astype(d, copy=False))
    _matrix(op, "dy", dy)
    rows, cols = dy.shape
    gelu = code == FUSED_ACTIVATIONS["gelu"]

    def take(a, name, shape, required):
        if a is None:
            if required:
                fail(op, f"'{name}' is required for this activation")
            return dy  # never read by the kernel: a valid pointer of the right dtype
        return operand(op, name, a, d, shape)

    ya = take(y, "y", (rows, cols), not gelu and code != FUSED_ACTIVATIONS["linear"])
    xa = take(x, "x", (rows, cols), gelu)
    ba = take(None if b is None else b.astype(d, copy=False), "b", (cols,), False)
    dx = xp.empty((rows, cols), dtype=d)
    tail = (i64(rows), i64(cols), i32(code), scalar(d, alpha), i32(b is not None))
    if not need_db:
        launch(_FAMILY, "bias_act_backward", d, rows * cols, (dx, dy, ya, xa, ba) + tail)
        return dx, None
    db = xp.empty((cols,), dtype=d)
    nch = -(-rows // ROW_CHUNK)
    part = xp.empty((nch, cols), dtype=d)
    launch(_FAMILY, "bias_act_backward_part", d, nch * cols, (dx, part, dy, ya, xa, ba) + tail + (i64(ROW_CHUNK),))
    column_sums(db, part)
    return dx, db


def column_sums(out, part) -> None:
    """out[c] = sum of part[k, c] over k in order (part (chunks, cols)); 0 for no chunks."""
    nch, cols = (int(e) for e in part.shape)
    if nch == 0:
        out[...] = 0
        return
    launch(_FAMILY, "chunk_column_sum", np.dtype(part.dtype), cols, (out, part, i64(nch), i64(cols)))


def _param(op: str, p, g):
    d = float_dtype(op, "param", p)
    if not p.flags.c_contiguous:
        fail(op, f"'param' must be C-contiguous. Received: shape={tuple(p.shape)}")
    float_dtype(op, "grad", g)
    if g.size != p.size:
        fail(op, f"'grad' has shape {tuple(g.shape)} but 'param' has shape {tuple(p.shape)}")
    g = runtime.xp().ascontiguousarray(g.astype(d, copy=False)).reshape(p.shape)
    return d, g


def _slot(op: str, name: str, a, p, d, required: bool):
    """An optimizer state buffer: same dtype and size as the parameter, C-contiguous (it is
    updated in place), its own memory; None passes as p (never read: the flag is 0)."""
    if a is None:
        if required:
            fail(op, f"state '{name}' is required")
        return p
    float_dtype(op, name, a)
    if a.dtype != d or a.size != p.size or not a.flags.c_contiguous:
        fail(op, f"state '{name}' must be a C-contiguous {d} array of the parameter's size {tuple(p.shape)}. "
                 f"Received: dtype={a.dtype}, shape={tuple(a.shape)}")
    if a is p:
        fail(op, f"state '{name}' is the parameter itself")
    return a


def _distinct(op: str, **states) -> None:
    seen = {}
    for name, a in states.items():
        if a is None:
            continue
        for other, b in seen.items():
            if a is b:
                fail(op, f"states '{other}' and '{name}' are the same array")
        seen[name] = a


def sgd_update(p, g, m, lr: float, momentum: float, nesterov: bool, weight_decay: float) -> None:
    """In-place Keras SGD step on ``p`` (``m``: momentum buffer or None)."""
    op = "sgd_update"
    d, g = _param(op, p, g)
    ma = _slot(op, "momentum", m, p, d, False)
    launch(_FAMILY, "sgd_update", d, p.size,
           (p, ma, g, i64(p.size), scalar(d, lr), scalar(d, momentum), i32(bool(nesterov)), i32(m is not None),
            i32(weight_decay != 0.0), scalar(d, lr * weight_decay)))


def adam_update(p, g, m, v, vhat, lr: float, lr_t: float, beta_1: float, beta_2: float,
                epsilon: float, weight_decay: float) -> None:
    """In-place Keras Adam / AdamW step (``vhat`` for amsgrad, else None)."""
    op = "adam_update"
    d, g = _param(op, p, g)
    _distinct(op, m=m, v=v, vhat=vhat)
    ma, va = _slot(op, "m", m, p, d, True), _slot(op, "v", v, p, d, True)
    ha = _slot(op, "vhat", vhat, p, d, False)
    launch(_FAMILY, "adam_update", d, p.size,
           (p, ma, va, ha, g, i64(p.size), scalar(d, 1.0 - beta_1), scalar(d, 1.0 - beta_2), scalar(d, lr_t),
            scalar(d, epsilon), scalar(d, 1.0 - lr * weight_decay), i32(vhat is not None)))


def rmsprop_update(p, g, v, mom, avg, lr: float, rho: float, momentum: float, epsilon: float,
                   weight_decay: float) -> None:
    """In-place Keras RMSprop step (``mom`` / ``avg`` None unless momentum / centered)."""
    op = "rmsprop_update"
    d, g = _param(op, p, g)
    _distinct(op, v=v, momentum=mom, average_grad=avg)
    va = _slot(op, "v", v, p, d, True)
    ma, aa = _slot(op, "momentum", mom, p, d, False), _slot(op, "average_grad", avg, p, d, False)
    launch(_FAMILY, "rmsprop_update", d, p.size,
           (p, va, ma, aa, g, i64(p.size), scalar(d, lr), scalar(d, rho), scalar(d, 1.0 - rho), scalar(d, momentum),
            scalar(d, epsilon), scalar(d, lr * weight_decay), i32(weight_decay != 0.0), i32(mom is not None),
            i32(avg is not None)))
