"""Scaled dot-product attention (fused, tiled C++ kernel; PyTorch semantics)."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .. import backend
from ..tensor import Tensor, as_array_like, as_bool_array, as_tensor, make_op
from . import core, nn


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: Optional[float] = None,
                                 training: bool = True) -> Tensor:
    """softmax(query @ key^T * scale + mask) @ value, like PyTorch's
    ``scaled_dot_product_attention``.

    query (B, H, Tq, D), key (B, H, Tk, D), value (B, H, Tk, Dv) (3-D inputs (B, T, D) are
    treated as one head). ``attn_mask``: bool, broadcastable to (B, H, Tq, Tk), True =
    attend; a float mask is added to the scores. ``is_causal``: query i sees keys j <= i.
    ``scale`` defaults to 1/sqrt(D). A query row with nothing to attend gives zeros (and zero
    gradients), not NaN. Bool / no mask without dropout runs the fused kernel, which never
    stores the Tq x Tk probabilities.

    >>> out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    """
    q, k, v = as_tensor(query), as_tensor(key), as_tensor(value)
    if not (q.ndim == k.ndim == v.ndim and q.ndim in (3, 4)):
        raise ValueError("scaled_dot_product_attention expects query/key/value of shape (B, H, T, D) or (B, T, D). "
                         f"Received: shapes {q.shape}, {k.shape}, {v.shape}")
    if q.ndim == 3:
        m = attn_mask
        if m is not None:
            m = as_array_like(m, q.data)
            m = m[:, None] if m.ndim == 3 else m
        out = scaled_dot_product_attention(core.expand_dims(q, 1), core.expand_dims(k, 1), core.expand_dims(v, 1),
                                           m, dropout_p, is_causal, scale, training)
        return core.squeeze(out, 1)
    dt = np.promote_types(np.promote_types(q.dtype, k.dtype), v.dtype)
    q, k, v = as_tensor(q, dt), as_tensor(k, dt), as_tensor(v, dt)
    B, H, Tq, D = q.shape
    if k.shape[:2] != (B, H) or k.shape[3] != D or v.shape[:3] != k.shape[:3]:
        raise ValueError("scaled_dot_product_attention expects query (B, H, Tq, D), key (B, H, Tk, D), value "
                         f"(B, H, Tk, Dv). Received: shapes {q.shape}, {k.shape}, {v.shape}")
    Tk = k.shape[2]
    sc = float(scale) if scale is not None else 1.0 / math.sqrt(D) if D else 1.0
    mask = None
    if attn_mask is not None:
        mask = as_array_like(attn_mask, q.data)
        try:
            np.broadcast_shapes(mask.shape, (B, H, Tq, Tk))
        except ValueError:
            raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {mask.shape} does not broadcast to "
                             f"(B, H, Tq, Tk) = {(B, H, Tq, Tk)}") from None
    if (mask is not None and mask.dtype != np.bool_) or (dropout_p > 0 and training):
        return _composed(q, k, v, mask, dropout_p if training else 0.0, is_causal, sc)
    kern = backend.ops(q.data)
    out, lse = kern.attention_forward(q.data, k.data, v.data, mask, is_causal, sc)

    def backward(g):
        return kern.attention_backward(g, q.data, k.data, v.data, out, lse, mask, is_causal, sc)
    return make_op(out, (q, k, v), backward, "scaled_dot_product_attention")


def attention_bthd(q, k, v, attn_mask=None, is_causal: bool = False, scale: Optional[float] = None) -> Tensor:
    """The fused attention on the (B, T, H, D) layout that a (B, T, H*D) projection reshapes
    to without a copy (MultiHeadAttention uses it). Returns (B, Tq, H, Dv). ``attn_mask``:
    bool, broadcastable to (B, H, Tq, Tk), True = attend."""
    q, k, v = as_tensor(q), as_tensor(k), as_tensor(v)
    dt = np.promote_types(np.promote_types(q.dtype, k.dtype), v.dtype)
    q, k, v = as_tensor(q, dt), as_tensor(k, dt), as_tensor(v, dt)
    sc = float(scale) if scale is not None else 1.0 / math.sqrt(q.shape[-1])
    mask = None if attn_mask is None else as_bool_array(attn_mask, q.data)
    kern = backend.ops(q.data)
    out, lse = kern.attention_forward(q.data, k.data, v.data, mask, is_causal, sc, layout="bthd")

    def backward(g):
        return kern.attention_backward(g, q.data, k.data, v.data, out, lse, mask, is_causal, sc, layout="bthd")
    return make_op(out, (q, k, v), backward, "scaled_dot_product_attention")


def _composed(q, k, v, mask, dropout_p, is_causal, sc):
    """The unfused path (float masks, attention dropout) built from differentiable ops."""
    s = core.matmul(q, core.swapaxes(k, -1, -2)) * sc
    Tq, Tk = q.shape[2], k.shape[2]
    xp = backend.xp(q.data)
    allowed = xp.ones((Tq, Tk), dtype=bool)
    if is_causal:
        allowed = xp.tril(allowed)
    if mask is not None and mask.dtype == np.bool_:
        allowed = allowed & mask
    elif mask is not None:
        s = s + mask.astype(s.dtype)
    if not bool(allowed.all()):
        s = core.where(xp.broadcast_to(allowed, s.shape), s, -np.inf)
    p = nn.softmax(s, axis=-1)
    if dropout_p > 0:
        p = nn.dropout(p, dropout_p, training=True)
    return core.matmul(p, v)


def attention_weights(query, key, attn_mask=None, is_causal: bool = False, scale: Optional[float] = None) -> Tensor:
    """softmax(query @ key^T * scale) with masks applied (for ``return_attention_scores``)."""
    q, k = as_tensor(query), as_tensor(key)
    sc = float(scale) if scale is not None else 1.0 / math.sqrt(q.shape[-1])
    s = core.matmul(q, core.swapaxes(k, -1, -2)) * sc
    xp = backend.xp(q.data)
    allowed = xp.ones(s.shape[-2:], dtype=bool)
    if is_causal:
        allowed = xp.tril(allowed)
    if attn_mask is not None:
        allowed = allowed & as_bool_array(attn_mask, q.data)
    if not bool(allowed.all()):
        s = core.where(xp.broadcast_to(allowed, s.shape), s, -np.inf)
    return nn.softmax(s, axis=-1)
