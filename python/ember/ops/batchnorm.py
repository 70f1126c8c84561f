"""Normalisation ops: batch normalisation (training and inference), forward and backward
side by side, over one axis (the channel axis, last by default) of any-rank input."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor, as_tensor, make_op


def batch_norm(x, gamma=None, beta=None, moving_mean=None, moving_variance=None, training: bool = False,
               momentum: float = 0.99, epsilon: float = 1e-3, axis: int = -1, name: str = "batch_norm") -> Tensor:
    """Batch normalisation over every axis but ``axis``.

    Training: normalise with the batch mean and (biased) variance and, when given, update
    ``moving_mean`` / ``moving_variance`` in place: m = momentum * m + (1 - momentum) * stat
    (Keras). Inference: normalise with the moving statistics. ``gamma`` / ``beta`` (shape
    (C,)) may be None. Gradients flow to x, gamma and beta.
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{name} expects an input of rank >= 2 (batch, ..., channels). Received: shape={x.shape}")
    ax = axis + x.ndim if axis < 0 else axis
    if not 0 <= ax < x.ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for an input of shape {x.shape}")
    C = x.shape[ax]
    dt = x.data.dtype
    tensors = {}
    for key, t in (("gamma", gamma), ("beta", beta)):
        if t is not None:
            t = as_tensor(t)
            if t.shape != (C,):
                raise ValueError(f"{name}: {key} must have shape ({C},) for input shape {x.shape}. Received: {t.shape}")
            tensors[key] = t
    g_t, b_t = tensors.get("gamma"), tensors.get("beta")
    xp = backend.xp(x.data)
    gd = None if g_t is None else xp.ascontiguousarray(g_t.data, dtype=dt)
    bd = None if b_t is None else xp.ascontiguousarray(b_t.data, dtype=dt)
    last = ax == x.ndim - 1
    xd = x.data if last else xp.moveaxis(x.data, ax, -1)
    inner_shape = xd.shape
    x2 = xp.ascontiguousarray(xd).reshape(-1, C)
    ops = backend.ops(x2)

    def mv(t):
        if t is None:
            return None
        a = t.data if isinstance(t, Tensor) else t
        if a.shape != (C,) or a.dtype != dt or not a.flags.c_contiguous:
            raise ValueError(f"{name}: moving statistics must be contiguous {dt} arrays of shape ({C},). "
                             f"Received: shape={a.shape}, dtype={a.dtype}")
        return a

    rm, rv = mv(moving_mean), mv(moving_variance)
    parents = (x,) + tuple(t for t in (g_t, b_t) if t is not None)

    def back_shape(d2):
        d = d2.reshape(inner_shape)
        return d if last else xp.moveaxis(d, -1, ax)

    def fwd_shape(g):
        gd_ = g if last else xp.moveaxis(g, ax, -1)
        return xp.ascontiguousarray(gd_).reshape(-1, C)

    def grads(dx2, dg, db):
        out = [None if dx2 is None else back_shape(dx2)]
        if g_t is not None:
            out.append(dg)
        if b_t is not None:
            out.append(db)
        return tuple(out)

    if training:
        y2, mean, invstd = ops.batch_norm_train(x2, gd, bd, rm, rv, epsilon, momentum)

        def backward(g):
            dx2, dg, db = ops.batch_norm_backward(fwd_shape(g), x2, gd, mean, invstd, x.requires_grad)
            return grads(dx2, dg, db)
    else:
        if rm is None or rv is None:
            raise ValueError(f"{name}: inference mode needs moving_mean and moving_variance")
        y2 = ops.batch_norm_infer(x2, gd, bd, rm, rv, epsilon)
        inv = (1.0 / xp.sqrt(rv.astype(np.float64) + epsilon)).astype(dt)
        mean_c = rm.copy()

        def backward(g):
            g2 = fwd_shape(g)
            scale = inv if gd is None else inv * gd
            dx2 = g2 * scale if x.requires_grad else None
            dg = xp.sum(g2 * ((x2 - mean_c) * inv), axis=0) if g_t is not None else None
            db = xp.sum(g2, axis=0) if b_t is not None else None
            return grads(dx2, dg, db)
    return make_op(back_shape(y2), parents, backward, name)
