"""CUDA layer normalization over the last axis (kernels/layernorm.cu).

Same functions, arguments and return values as the layer-norm part of ``backend.cpu``:
``layernorm_forward`` -> (y, mean (rows,), rstd (rows,)), ``layernorm_backward`` ->
(dx, dgamma, dbeta).
"""
from __future__ import annotations

from . import runtime
from ._seq_common import EW_BLOCK, ROW_BLOCK, check_shape, contig, float_dtype, i64, launch, rows2, same_dtype, scalar

__all__ = ["layernorm_forward", "layernorm_backward"]

#: rows per partial sum of dgamma / dbeta (EMBER_LN_RB in layernorm.cu)
_RB = 32


def _param(op: str, name: str, a, d, n: int):
    same_dtype(op, name, a, d)
    check_shape(op, name, a, (n,))
    return contig(a)


def layernorm_forward(x, gamma, beta, eps: float):
    op = "layer_norm"
    d = float_dtype(op, "x", x)
    x2 = rows2(x)
    rows, n = x2.shape
    g, b = _param(op, "gamma", gamma, d, n), _param(op, "beta", beta, d, n)
    xp = runtime.xp()
    y, mu, rs = xp.empty((rows, n), dtype=d), xp.empty((rows,), dtype=d), xp.empty((rows,), dtype=d)
    launch("layernorm", "layernorm_forward", d, rows, ROW_BLOCK,
           (x2, g, b, y, mu, rs, i64(rows), i64(n), scalar(d, eps)))
    return y.reshape(x.shape), mu, rs


def layernorm_backward(dy, x, gamma, mu, rs):
    op = "layer_norm_backward"
    d = float_dtype(op, "x", x)
    x2 = rows2(x)
    rows, n = x2.shape
    check_shape(op, "dy", dy, x.shape)
    g2 = rows2(contig(dy, dtype=d))
    gm = _param(op, "gamma", gamma, d, n)
    mu, rs = _param(op, "mean", mu, d, rows), _param(op, "rstd", rs, d, rows)
    xp = runtime.xp()
    dx, dg, db = xp.empty((rows, n), dtype=d), xp.empty((n,), dtype=d), xp.empty((n,), dtype=d)
    launch("layernorm", "layernorm_backward_dx", d, rows, ROW_BLOCK, (g2, x2, gm, mu, rs, dx, i64(rows), i64(n)))
    nblk = -(-rows // _RB)
    pg, pb = xp.empty((nblk, n), dtype=d), xp.empty((nblk, n), dtype=d)
    launch("layernorm", "layernorm_backward_partial", d, -(-nblk * n // EW_BLOCK), EW_BLOCK,
           (g2, x2, mu, rs, pg, pb, i64(rows), i64(n)))
    launch("layernorm", "layernorm_backward_params", d, -(-n // EW_BLOCK), EW_BLOCK,
           (pg, pb, dg, db, i64(nblk), i64(n)))
    return dx.reshape(x.shape), dg, db
