"""Synchronized batch normalisation (training): the batch statistics, and the sums the
backward pass needs, are reduced over every rank of a data-parallel step, so N ranks
normalise with the statistics of the whole global batch, as one process would.

The arithmetic follows the fused kernel (csrc/batchnorm.cpp): sums in float64, biased
variance by a second pass around the global mean, y = x * scale + shift in the input's
dtype, the backward as dy * k1 + x * k2 + k0. ``shard.allreduce`` sums a float64 array
over the ranks; a phantom shard (a rank holding none of the batch's rows) adds nothing.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor, as_tensor, make_op


def sync_batch_norm(x, gamma, beta, moving_mean, moving_variance, momentum: float, epsilon: float, axis: int,
                    shard, name: str = "sync_batch_norm") -> Tensor:
    """Training-mode batch normalisation of ``x`` over every axis but ``axis`` with global
    statistics; updates ``moving_mean`` / ``moving_variance`` (Tensors of shape (C,)) in
    place with the global mean and biased variance (Keras). ``gamma`` / ``beta`` may be None."""
    x = as_tensor(x)
    backend.require_host("sync_batch_norm (MPI sums on the host)", x.data)
    ax = axis + x.ndim if axis < 0 else axis
    C = x.shape[ax]
    dt = x.data.dtype
    last = ax == x.ndim - 1
    xd = x.data if last else np.moveaxis(x.data, ax, -1)
    inner_shape = xd.shape
    x2 = np.ascontiguousarray(xd).reshape(-1, C)
    live = 0.0 if shard.phantom else 1.0  # a phantom row counts for nothing
    local = np.empty(C + 1)
    local[:C] = np.sum(x2, axis=0, dtype=np.float64) * live
    local[C] = x2.shape[0] * live
    tot = shard.allreduce(local)
    M = tot[C]
    mu = tot[:C] / (M if M > 0 else 1.0)
    d = x2.astype(np.float64) - mu
    var = shard.allreduce(np.sum(d * d, axis=0) * live) / (M if M > 0 else 1.0)
    inv = 1.0 / np.sqrt(var + epsilon)
    g64 = np.ones(C) if gamma is None else gamma.data.astype(np.float64)
    b64 = np.zeros(C) if beta is None else beta.data.astype(np.float64)
    scale, shift = (inv * g64).astype(dt), (b64 - mu * inv * g64).astype(dt)
    y2 = x2 * scale + shift
    mean_t, inv_t = mu.astype(dt), inv.astype(dt)
    for mv, stat in ((moving_mean, mu), (moving_variance, var)):
        if mv is not None:
            a = mv.data if isinstance(mv, Tensor) else mv
            a[...] = (momentum * a.astype(np.float64) + (1.0 - momentum) * stat).astype(a.dtype)
    parents = (x,) + tuple(t for t in (gamma, beta) if t is not None)

    def backward(g):
        gd = g if last else np.moveaxis(g, ax, -1)
        dy = np.ascontiguousarray(gd).reshape(-1, C)
        xhat = (x2.astype(np.float64) - mean_t.astype(np.float64)) * inv_t.astype(np.float64)
        sums = np.concatenate([np.sum(dy, axis=0, dtype=np.float64), np.sum(dy * xhat, axis=0)])
        out = [None]
        if x.requires_grad:
            glob = shard.allreduce(sums * live)
            a = g64 * inv_t.astype(np.float64)
            inv_m = 1.0 / (M if M > 0 else 1.0)
            bx = -a * inv_m * glob[C:] * inv_t.astype(np.float64)
            k0 = (-a * inv_m * glob[:C] - bx * mean_t.astype(np.float64)).astype(dt)
            dx2 = a.astype(dt) * dy + bx.astype(dt) * x2 + k0
            if shard.phantom:  # its row is no sample: the batch-mean terms must not reach it
                dx2 = np.zeros_like(dx2)
            dx = dx2.reshape(inner_shape)
            out[0] = dx if last else np.moveaxis(dx, -1, ax)
        # this rank's share only: the step's one allreduce sums the parameter gradients
        if gamma is not None:
            out.append(sums[C:].astype(dt))
        if beta is not None:
            out.append(sums[:C].astype(dt))
        return tuple(out)

    y = y2.reshape(inner_shape)
    return make_op(y if last else np.moveaxis(y, -1, ax), parents, backward, name)
