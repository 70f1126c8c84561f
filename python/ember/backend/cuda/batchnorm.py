"""CUDA batch normalisation over the channels of x2 (M, C) (kernels/batchnorm.cu): same
arguments and returns as ``backend.cpu``; formulas of csrc/batchnorm.h. Per-channel sums run
in double over fixed lanes reduced by a fixed tree, so they do not depend on the launch.
"""
from __future__ import annotations

import numpy as np

from . import runtime
from ._launch import fail, float_dtype, i32, i64, launch, launch_rows, operand

__all__ = ["batch_norm_train", "batch_norm_infer", "batch_norm_backward"]

_FAMILY = "batchnorm"


def _x(op, x2):
    d = float_dtype(op, "x", x2)
    if x2.ndim != 2:
        fail(op, f"'x' must be 2-D. Received: shape={tuple(x2.shape)}")
    return d, runtime.xp().ascontiguousarray(x2)


def _opt(op, name, a, d, C, fallback):
    """(array or fallback, flag): an optional (C,) operand; the fallback is never read."""
    if a is None:
        return fallback, i32(0)
    return operand(op, name, a, d, (C,)), i32(1)


def _running(op, name, a, d, C, others):
    """A running statistic, updated in place: the caller's own array, contiguous, apart
    from the operands the kernel reads."""
    if a is None:
        return None
    operand(op, name, a, d, (C,))
    if not a.flags.c_contiguous:
        fail(op, f"'{name}' must be C-contiguous (it is updated in place)")
    if any(a is o for o in others):
        fail(op, f"'{name}' must not be the same array as another operand")
    return a


def batch_norm_train(x2, gamma, beta, running_mean, running_var, eps: float, momentum: float):
    """x2 (M, C): (y, mean, invstd); the running statistics are updated in place."""
    op = "batch_norm"
    d, x2 = _x(op, x2)
    M, C = (int(e) for e in x2.shape)
    xp = runtime.xp()
    g, has_g = _opt(op, "gamma", gamma, d, C, x2)
    b, has_b = _opt(op, "beta", beta, d, C, x2)
    rm = _running(op, "running_mean", running_mean, d, C, (x2, gamma, beta, running_var))
    rv = _running(op, "running_var", running_var, d, C, (x2, gamma, beta, running_mean))
    y = xp.empty((M, C), dtype=d)
    mean, inv = xp.empty((C,), dtype=d), xp.empty((C,), dtype=d)
    launch_rows(_FAMILY, "batch_norm_train", d, C,
                (y, mean, inv, mean if rm is None else rm, inv if rv is None else rv, x2, g, b, i64(M), i64(C),
                 np.float64(eps), np.float64(momentum), has_g, has_b, i32(rm is not None), i32(rv is not None)))
    return y, mean, inv


def batch_norm_infer(x2, gamma, beta, running_mean, running_var, eps: float):
    """y = (x2 - running_mean) / sqrt(running_var + eps) * gamma + beta, x2 (M, C)."""
    op = "batch_norm"
    d, x2 = _x(op, x2)
    M, C = (int(e) for e in x2.shape)
    g, has_g = _opt(op, "gamma", gamma, d, C, x2)
    b, has_b = _opt(op, "beta", beta, d, C, x2)
    for name, a in (("running_mean", running_mean), ("running_var", running_var)):
        if a is None:
            fail(op, f"'{name}' is required for inference")
    rm, rv = operand(op, "running_mean", running_mean, d, (C,)), operand(op, "running_var", running_var, d, (C,))
    y = runtime.xp().empty((M, C), dtype=d)
    launch(_FAMILY, "batch_norm_infer", d, M * C, (y, x2, g, b, rm, rv, i64(M), i64(C), np.float64(eps), has_g, has_b))
    return y


def batch_norm_backward(dy2, x2, gamma, mean, invstd, need_dx: bool = True):
    """(dx or None, dgamma, dbeta) of the training-mode batch norm."""
    op = "batch_norm_backward"
    d, x2 = _x(op, x2)
    M, C = (int(e) for e in x2.shape)
    xp = runtime.xp()
    dy2 = operand(op, "dy", dy2, d, (M, C))
    g, has_g = _opt(op, "gamma", gamma, d, C, x2)
    mu, inv = operand(op, "mean", mean, d, (C,)), operand(op, "invstd", invstd, d, (C,))
    dx = xp.empty((M, C), dtype=d) if need_dx else None
    dg, db = xp.empty((C,), dtype=d), xp.empty((C,), dtype=d)
    launch_rows(_FAMILY, "batch_norm_backward", d, C,
                (dx if need_dx else dy2, dg, db, dy2, x2, g, mu, inv, i64(M), i64(C), has_g, i32(bool(need_dx))))
    return dx, dg, db
