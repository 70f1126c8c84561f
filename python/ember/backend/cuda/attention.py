"""CUDA scaled dot-product attention, forward and backward (kernels/attention.cu).

Same functions, arguments and return values as the attention part of ``backend.cpu``:
``attention_forward(q, k, v, mask, causal, scale, layout)`` -> (out, lse (B, H, Tq)),
``attention_backward(g, q, k, v, out, lse, mask, causal, scale, layout)`` -> (dq, dk, dv).
"""
from __future__ import annotations

import numpy as np

from . import runtime
from ._seq_common import EW_BLOCK, check_shape, contig, float_dtype, i32, i64, launch, same_dtype, scalar

__all__ = ["attention_forward", "attention_backward"]

#: shared memory a block may use (under the 48 KiB every device gives without opting in)
_SHARED_BUDGET = 44 * 1024


def _dims(op: str, q, k, v, layout: str):
    if layout not in ("bhtd", "bthd"):
        raise ValueError(f"{op}: layout must be 'bhtd' or 'bthd'. Received: '{layout}'")
    for name, a in (("query", q), ("key", k), ("value", v)):
        if a.ndim != 4:
            raise ValueError(f"{op}: '{name}' must be 4-D. Received: shape={tuple(a.shape)}")
    d = float_dtype(op, "query", q)
    same_dtype(op, "key", k, d)
    same_dtype(op, "value", v, d)
    ih, it = (1, 2) if layout == "bhtd" else (2, 1)
    B, H, Tq, D = q.shape[0], q.shape[ih], q.shape[it], q.shape[3]
    Tk, Dv = k.shape[it], v.shape[3]
    if (k.shape[0], k.shape[ih], k.shape[3], v.shape[0], v.shape[ih], v.shape[it]) != (B, H, D, B, H, Tk):
        raise ValueError(f"{op}: expected query, key, value of matching (B, H, T, D) shapes in layout '{layout}'. "
                         f"Received: query.shape={tuple(q.shape)}, key.shape={tuple(k.shape)}, "
                         f"value.shape={tuple(v.shape)}")
    return d, (B, H, Tq, Tk, D, Dv)


def _mask(op: str, mask, B, H, Tq, Tk):
    """(int32 device array, element strides (b, h, i, j), has_mask): the mask kept at its own
    (broadcastable) size, 0 strides on its broadcast axes."""
    xp = runtime.xp()
    if mask is None:
        return xp.zeros((1,), dtype=np.int32), (0, 0, 0, 0), 0
    if np.dtype(mask.dtype) != np.dtype(np.bool_):
        raise TypeError(f"{op}: 'mask' must be a bool array. Received: dtype={np.dtype(mask.dtype)}")
    full = (B, H, Tq, Tk)
    if mask.ndim > 4:
        raise ValueError(f"{op}: 'mask' must broadcast to {full}. Received: shape={tuple(mask.shape)}")
    shape = (1,) * (4 - mask.ndim) + tuple(mask.shape)
    if any(s not in (1, f) for s, f in zip(shape, full)):
        raise ValueError(f"{op}: 'mask' must broadcast to {full}. Received: shape={tuple(mask.shape)}")
    m = contig(mask.reshape(shape), dtype=np.int32)
    st, acc = [0] * 4, 1
    for ax in range(3, -1, -1):
        st[ax] = acc if shape[ax] != 1 else 0
        acc *= shape[ax]
    return m, tuple(st), 1


def _blocks(op: str, d: np.dtype, per_row: int, per_tile_row, what: str):
    """(rows per block, rows per tile): the largest block (64 down to 1) whose own rows
    (``per_row`` elements each, in shared memory) leave room for a tile of at least 16 rows of
    ``per_tile_row(block)`` elements (else any tile). A function of the head sizes only, so the
    result does not depend on the device."""
    it = d.itemsize
    fallback = None
    for rb in (64, 32, 16, 8, 4, 2, 1):
        kt = min(64, (_SHARED_BUDGET - per_row * rb * it) // (per_tile_row(rb) * it))
        if kt >= 16:
            return rb, kt
        if kt >= 1 and fallback is None:
            fallback = (rb, kt)
    if fallback is None:
        raise ValueError(f"{op}: head dimensions too large for the CUDA attention kernel ({what} of "
                         f"{it}-byte elements must fit {_SHARED_BUDGET} bytes of shared memory)")
    return fallback


def _common(mask, causal, scale, layout, d, dims, kt):
    B, H, Tq, Tk, D, Dv = dims
    m, ms, has = mask
    return (i64(B), i64(H), i64(Tq), i64(Tk), i64(D), i64(Dv), *(i64(s) for s in ms), i32(bool(causal)), i32(has),
            i32(layout == "bthd"), scalar(d, scale), i32(kt))


def attention_forward(q, k, v, mask, causal: bool, scale: float, layout: str = "bhtd"):
    op = "scaled_dot_product_attention"
    d, dims = _dims(op, q, k, v, layout)
    B, H, Tq, Tk, D, Dv = dims
    mk = _mask(op, mask, B, H, Tq, Tk)
    q, k, v = contig(q), contig(k), contig(v)
    xp = runtime.xp()
    out = xp.empty((B, H, Tq, Dv) if layout == "bhtd" else (B, Tq, H, Dv), dtype=d)
    lse = xp.empty((B, H, Tq), dtype=d)
    qb, kt = _blocks(op, d, D + Dv, lambda rb: rb + D + Dv, f"a query row and its output (D + Dv = {D + Dv})")
    launch("attention", "attention_forward", d, B * H * -(-Tq // qb), qb,
           (q, k, v, mk[0], out, lse, *_common(mk, causal, scale, layout, d, dims, kt)),
           shared_mem=((D + Dv) * qb + kt * (qb + D + Dv)) * d.itemsize)
    return out, lse


def attention_backward(g, q, k, v, out, lse, mask, causal: bool, scale: float, layout: str = "bhtd"):
    op = "scaled_dot_product_attention_backward"
    d, dims = _dims(op, q, k, v, layout)
    B, H, Tq, Tk, D, Dv = dims
    oshape = (B, H, Tq, Dv) if layout == "bhtd" else (B, Tq, H, Dv)
    check_shape(op, "grad_out", g, oshape)
    check_shape(op, "out", out, oshape)
    same_dtype(op, "out", out, d)
    same_dtype(op, "lse", lse, d)
    check_shape(op, "lse", lse, (B, H, Tq))
    mk = _mask(op, mask, B, H, Tq, Tk)
    g, q, k, v, out, lse = contig(g, dtype=d), contig(q), contig(k), contig(v), contig(out), contig(lse)
    xp = runtime.xp()
    dq, dk, dv = xp.empty(q.shape, dtype=d), xp.empty(k.shape, dtype=d), xp.empty(v.shape, dtype=d)
    delta = xp.empty((B, H, Tq), dtype=d)
    bthd = i32(layout == "bthd")
    launch("attention", "attention_backward_delta", d, -(-B * H * Tq // EW_BLOCK), EW_BLOCK,
           (g, out, delta, i64(B), i64(H), i64(Tq), i64(Dv), bthd))
    what = f"two rows of D + Dv = {D + Dv} features"
    rb, kt = _blocks(op, d, 2 * D + Dv, lambda rb: D + Dv, what)
    launch("attention", "attention_backward_dq", d, B * H * -(-Tq // rb), rb,
           (g, q, k, v, lse, delta, mk[0], dq, *_common(mk, causal, scale, layout, d, dims, kt)),
           shared_mem=((2 * D + Dv) * rb + kt * (D + Dv)) * d.itemsize)
    rb, kt = _blocks(op, d, 2 * (D + Dv), lambda rb: D + Dv + 2, what)
    launch("attention", "attention_backward_dkv", d, B * H * -(-Tk // rb), rb,
           (g, q, k, v, lse, delta, mk[0], dk, dv, *_common(mk, causal, scale, layout, d, dims, kt)),
           shared_mem=(2 * (D + Dv) * rb + kt * (D + Dv + 2)) * d.itemsize)
    return dq, dk, dv
