"""CUDA softmax / log-softmax / fused softmax cross-entropy (kernels/softmax.cu).

Same functions, arguments and return values as the softmax section of ``backend.cpu``;
arrays are device arrays. The CPU's NaN / inf / fully-masked-row rules hold (see softmax.cu).
"""
from __future__ import annotations

import numpy as np

from .. import checks
from . import runtime
from ._seq_common import (EW_BLOCK, ROW_BLOCK, check_shape, contig, float_dtype, i32, i64, launch, rows2,
                          same_dtype)

__all__ = ["softmax_lastaxis", "softmax_lastaxis_backward", "xent_forward", "xent_backward"]


def softmax_lastaxis(x, log: bool = False):
    """softmax / log-softmax over the last axis."""
    d = float_dtype("log_softmax" if log else "softmax", "x", x)
    x2 = rows2(x)
    y = runtime.xp().empty(x2.shape, dtype=d)
    launch("softmax", "softmax_forward", d, x2.shape[0], ROW_BLOCK,
           (x2, y, i64(x2.shape[0]), i64(x2.shape[1]), i32(bool(log))))
    return y.reshape(x.shape)


def softmax_lastaxis_backward(y, dy, log: bool = False):
    op = "log_softmax_backward" if log else "softmax_backward"
    d = float_dtype(op, "y", y)
    check_shape(op, "dy", dy, y.shape)
    y2, g2 = rows2(y), rows2(contig(dy, dtype=d))
    dx = runtime.xp().empty(y2.shape, dtype=d)
    launch("softmax", "softmax_backward", d, y2.shape[0], ROW_BLOCK,
           (y2, g2, dx, i64(y2.shape[0]), i64(y2.shape[1]), i32(bool(log))))
    return dx.reshape(y.shape)


def _labels(op: str, logits2, labels, sparse: bool):
    """Labels as the kernels take them: int64 (rows,) in [0, n), or dense (rows, n) of the
    logits' dtype. An out-of-range id is the CPU's ValueError: at once (a device-to-host read of
    one flag), or at the next host sync point inside fit / evaluate (``checks.deferred``)."""
    rows, n = logits2.shape
    if not sparse:
        lab = rows2(contig(labels, dtype=logits2.dtype))
        check_shape(op, "labels", lab, (rows, n))
        return lab
    lab = contig(labels.reshape(-1), dtype=np.int64)
    check_shape(op, "labels", lab, (rows,))
    if not rows:
        return lab
    outside = (lab < 0) | (lab >= n)
    # Inside fit / evaluate the range flag is read at the next host sync point (checks.py):
    # reading it here would make every step wait for the GPU. The kernels give an
    # out-of-range label a NaN loss and gradient meanwhile (never an out-of-bounds read).
    flag = outside.any()
    if checks.defer(flag, f"{op}: labels must be in [0, {n}) for logits of shape (..., {n}); "
                          "a batch held a label outside it"):
        return lab
    if bool(flag):
        xp = runtime.xp()
        r = int(xp.argmax((lab < 0) | (lab >= n)))
        raise ValueError(f"{op}: label {int(lab[r])} at row {r} is outside [0, {n}) for logits of shape "
                         f"({rows}, {n})")
    return lab


def xent_forward(logits, labels, sparse: bool):
    """Fused softmax cross-entropy over the last axis: (per-row loss, per-row lse)."""
    op = "sparse_softmax_cross_entropy" if sparse else "softmax_cross_entropy"
    d = float_dtype(op, "logits", logits)
    x2 = rows2(logits)
    rows, n = x2.shape
    lab = _labels(op, x2, labels, sparse)
    xp = runtime.xp()
    loss, lse = xp.empty((rows,), dtype=d), xp.empty((rows,), dtype=d)
    launch("softmax", "xent_sparse_forward" if sparse else "xent_forward", d, rows, ROW_BLOCK,
           (x2, lab, loss, lse, i64(rows), i64(n)))
    return loss.reshape(logits.shape[:-1]), lse


def xent_backward(dloss, logits, labels, lse, sparse: bool):
    op = "sparse_softmax_cross_entropy_backward" if sparse else "softmax_cross_entropy_backward"
    d = float_dtype(op, "logits", logits)
    x2 = rows2(logits)
    rows, n = x2.shape
    lab = _labels(op, x2, labels, sparse)
    xp = runtime.xp()
    dl = contig(xp.broadcast_to(xp.asarray(dloss, dtype=d), logits.shape[:-1]), dtype=d).reshape(-1)
    same_dtype(op, "lse", lse, d)
    check_shape(op, "lse", lse, (rows,))
    lse = contig(lse)
    dx = xp.empty((rows, n), dtype=d)
    if sparse:
        launch("softmax", "xent_sparse_backward", d, -(-rows * n // EW_BLOCK), EW_BLOCK,
               (dl, x2, lab, lse, dx, i64(rows), i64(n)))
    else:
        launch("softmax", "xent_backward", d, rows, ROW_BLOCK, (dl, x2, lab, lse, dx, i64(rows), i64(n)))
    return dx.reshape(logits.shape)
