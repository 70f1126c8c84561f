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

#: query (or key) rows per block: one row per thread
_ROWS = 64
#: shared memory a block may use (under the 48 KiB every device gives without opting in)
_SHARED_BUDGET = 40 * 1024


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


def _tile(op: str, d: np.dtype, width: int) -> int:
    """Keys (or queries) per shared-memory tile for rows of ``width`` elements: a function of
    the head sizes only, so the result does not depend on the device."""
    kt = min(64, _SHARED_BUDGET // (width * d.itemsize))
    if kt < 1:
        raise ValueError(f"{op}: head dimensions too large for the CUDA attention kernel (key + value + "
                         f"{_ROWS} features of {d.itemsize} bytes must fit {_SHARED_BUDGET} bytes). "
                         f"Received: width={width}")
    return kt


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
    kt = _tile(op, d, D + Dv + _ROWS)
    launch("attention", "attention_forward", d, B * H * -(-Tq // _ROWS), _ROWS,
           (q, k, v, mk[0], out, lse, *_common(mk, causal, scale, layout, d, dims, kt)),
           shared_mem=kt * (D + Dv + _ROWS) * d.itemsize)
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
    kt = _tile(op, d, D + Dv)
    launch("attention", "attention_backward_dq", d, B * H * -(-Tq // _ROWS), _ROWS,
           (g, q, k, v, lse, delta, mk[0], dq, *_common(mk, causal, scale, layout, d, dims, kt)),
           shared_mem=kt * (D + Dv) * d.itemsize)
    kt = _tile(op, d, D + Dv + 2)
    launch("attention", "attention_backward_dkv", d, B * H * -(-Tk // _ROWS), _ROWS,
           (g, q, k, v, lse, delta, mk[0], dk, dv, *_common(mk, causal, scale, layout, d, dims, kt)),
           shared_mem=kt * (D + Dv + 2) * d.itemsize)
    return dq, dk, dv
