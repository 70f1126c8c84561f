"""Embedding lookup: a gather of table rows forward, a deterministic scatter-add backward."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import checks
from ..tensor import Tensor, as_array_like, as_tensor, make_op


def embedding_lookup(table, ids) -> Tensor:
    """``table[ids]`` (rows of a (V, d) table for integer ids of any shape); the gradient
    scatter-adds into the table, each row's contributions summed in position order (no
    atomics: the same bits on every run and device)."""
    table = as_tensor(table)
    idx = as_array_like(ids, table.data)
    if idx.dtype.kind == "f":
        idx = idx.astype(np.int64)
    V = table.shape[0]
    xp = backend.xp(table.data)
    if type(idx) is np.ndarray or not idx.size:
        bad = idx.size and bool(((idx < 0) | (idx >= V)).any())
    else:
        outside = ((idx < 0) | (idx >= V)).any()
        if checks.defer(outside, f"Embedding: ids must be in [0, {V}); a batch held an id outside it"):
            # inside fit / evaluate the flag is read at the next host read (no wait per step);
            # clipped ids keep the gather in bounds until then
            idx, bad = xp.clip(idx, 0, V - 1), False
        else:
            bad = bool(outside)
    if bad:
        raise ValueError(f"Embedding: ids must be in [0, {V}). Received: min={int(idx.min())}, max={int(idx.max())}")
    out = table.data[idx]

    def backward(g):
        gt = xp.zeros_like(table.data)
        flat = idx.reshape(-1)
        g2 = g.reshape((flat.size,) + table.shape[1:])
        if flat.size:  # rows grouped by id (stable sort), each group summed in position order
            order = xp.argsort(flat, kind="stable")
            ids_sorted = flat[order]
            if xp is not np:
                return (_id_sums(xp, ids_sorted, g2[order], table.shape[0]),)
            starts = xp.flatnonzero(xp.concatenate([xp.ones(1, dtype=bool), ids_sorted[1:] != ids_sorted[:-1]]))
            gt[ids_sorted[starts]] = xp.add.reduceat(g2[order], starts, axis=0)
        return (gt,)
    return make_op(out, (table,), backward, "embedding")


def _id_sums(xp, ids_sorted, g_sorted, V: int):
    """The (V, ...) table gradient from rows ``g_sorted`` grouped by ``ids_sorted``, each id's
    rows summed in position order (the same sums as the host path's reduceat), with every
    size fixed by V and the batch: the host path's flatnonzero has a data-dependent size,
    which CuPy gets by reading a count back (a wait on the device at every step)."""
    ids = xp.arange(V, dtype=ids_sorted.dtype)
    starts = xp.searchsorted(ids_sorted, ids, side="left")
    present = xp.searchsorted(ids_sorted, ids, side="right") > starts
    # a zero row after the last lets an absent largest id start at n; its (masked) sum
    # and the last id's sum read it (x + 0 is x)
    padded = xp.concatenate([g_sorted, xp.zeros((1,) + g_sorted.shape[1:], g_sorted.dtype)])
    sums = xp.add.reduceat(padded, starts, axis=0)
    return xp.where(present.reshape((V,) + (1,) * (g_sorted.ndim - 1)), sums, 0).astype(g_sorted.dtype)
