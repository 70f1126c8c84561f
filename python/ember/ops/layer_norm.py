"""Layer normalization over the last axis (fused C++ forward/backward) and embedding lookup."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor, as_tensor, make_op


def layer_norm(x, gamma=None, beta=None, epsilon: float = 1e-3) -> Tensor:
    """(x - mean) / sqrt(var + epsilon) * gamma + beta over the last axis.

    x (..., n); gamma, beta (n,) or None. The kernel saves mean and 1/std per row.
    """
    x = as_tensor(x)
    n = x.shape[-1]
    dt = x.dtype
    g = as_tensor(gamma, dt) if gamma is not None else Tensor(np.ones(n, dt))
    b = as_tensor(beta, dt) if beta is not None else Tensor(np.zeros(n, dt))
    if g.shape != (n,) or b.shape != (n,):
        raise ValueError(f"layer_norm: gamma and beta must have shape ({n},). Received: {g.shape}, {b.shape}")
    if x.size == 0:
        return make_op(x.data.copy(), (x, g, b), lambda gr: (np.zeros_like(x.data), None, None), "layer_norm")
    kern = backend.ops(x.data)
    y, mu, rs = kern.layernorm_forward(x.data, g.data, b.data, float(epsilon))

    def backward(gr):
        return kern.layernorm_backward(gr, x.data, g.data, mu, rs)
    return make_op(y, (x, g, b), backward, "layer_norm")


def embedding_lookup(table, ids) -> Tensor:
    """``table[ids]`` (rows of an (V, d) table for integer ids of any shape); the gradient
    scatter-adds into the table."""
    table = as_tensor(table)
    idx = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    if idx.dtype.kind == "f":
        idx = idx.astype(np.int64)
    V = table.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= V):
        raise ValueError(f"Embedding: ids must be in [0, {V}). Received: min={idx.min()}, max={idx.max()}")
    out = table.data[idx]

    def backward(g):
        gt = np.zeros_like(table.data)
        flat = idx.reshape(-1)
        g2 = np.asarray(g).reshape((flat.size,) + table.shape[1:])
        if flat.size:  # rows grouped by id (stable sort), each group summed in position order
            order = np.argsort(flat, kind="stable")
            ids_sorted = flat[order]
            starts = np.flatnonzero(np.r_[True, ids_sorted[1:] != ids_sorted[:-1]])
            gt[ids_sorted[starts]] = np.add.reduceat(g2[order], starts, axis=0)
        return (gt,)
    return make_op(out, (table,), backward, "embedding")
