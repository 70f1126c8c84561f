"""``keras.ops``' neural-network names with Keras' signatures and defaults, over the ops
defined in ``ops.nn``, ``ops.core``, ``ops.losses``, ``ops.pool`` and ``ops.attention``
(adapters and compositions; the one op of its own is ``segment_sum``)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor, as_array_like, as_bool_array, make_op
from . import core, nn, pool
from . import losses as L
from .attention import scaled_dot_product_attention
from .core import _floating
from .linalg import norm
from .xent import sparse_labels

EPSILON = L.EPSILON


def gelu(x, approximate: bool = True) -> Tensor:
    """Gaussian error linear unit; ``keras.ops.gelu`` defaults to the tanh approximation
    (the ``gelu`` activation, ``ember.functional.gelu``, to the exact form)."""
    return nn.gelu(x, approximate=approximate)


def relu6(x) -> Tensor:
    return core.clip(_floating(x), 0.0, 6.0)


def log_sigmoid(x) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return core.neg(nn.softplus(core.neg(_floating(x))))


def hard_sigmoid(x) -> Tensor:
    """relu6(x + 3) / 6 (Keras 3's definition)."""
    return core.div(relu6(core.add(_floating(x), 3.0)), 6.0)


def normalize(x, axis: int = -1, order: int = 2, epsilon=None) -> Tensor:
    """x divided by its ``order``-norm along ``axis`` (at least ``epsilon``)."""
    x = _floating(x)
    eps = 1e-12 if epsilon is None else float(epsilon)
    return core.div(x, core.maximum(norm(x, ord=order, axis=axis, keepdims=True), eps))


def moments(x, axes, keepdims: bool = False, synchronized: bool = False):
    """(mean, variance) over ``axes`` (population variance)."""
    x = _floating(x)
    return core.mean(x, axes, keepdims), core.var(x, axes, keepdims)


def _last(x: Tensor, axis: int, op: str) -> Tensor:
    if x.ndim == 0:
        raise ValueError(f"{op}: output must be at least 1-D. Received: shape={x.shape}")
    ax = core._norm_axis(axis, x.ndim, op)[0]
    return x if ax == x.ndim - 1 else core.transpose(x, [i for i in range(x.ndim) if i != ax] + [ax])


def binary_crossentropy(target, output, from_logits: bool = False) -> Tensor:
    """Elementwise binary cross-entropy of ``output`` (probabilities, or logits with
    ``from_logits``) against ``target`` of the same shape."""
    output = _floating(output)
    target = _floating(target)
    if target.shape != output.shape:
        raise ValueError(f"binary_crossentropy: target and output must have the same shape. "
                         f"Received: target.shape={target.shape}, output.shape={output.shape}")
    if from_logits:
        return L.sigmoid_binary_cross_entropy(output, target)
    return L.binary_cross_entropy_probs(output, target, EPSILON)


def categorical_crossentropy(target, output, from_logits: bool = False, axis: int = -1) -> Tensor:
    """Cross-entropy of one-hot (or soft) ``target`` against ``output`` over ``axis``;
    ``output`` holds probabilities (renormalised, clipped as Keras) or logits."""
    output = _floating(output)
    target = _floating(target)
    if target.shape != output.shape:
        raise ValueError(f"categorical_crossentropy: target and output must have the same shape. "
                         f"Received: target.shape={target.shape}, output.shape={output.shape}")
    out, tgt = _last(output, axis, "categorical_crossentropy"), _last(target, axis, "categorical_crossentropy")
    if from_logits:
        return L.softmax_cross_entropy(out, tgt)
    return L.categorical_cross_entropy_probs(out, tgt, EPSILON)


def sparse_categorical_crossentropy(target, output, from_logits: bool = False, axis: int = -1) -> Tensor:
    """Cross-entropy of integer class ids ``target`` against ``output`` (probabilities or
    logits) over ``axis``."""
    output = _last(_floating(output), axis, "sparse_categorical_crossentropy")
    if from_logits:  # the fused op checks the labels (once)
        return L.sparse_softmax_cross_entropy(output, target)
    lab = sparse_labels("sparse_categorical_crossentropy", target, output, "target")
    # probabilities: Keras clips to [eps, 1 - eps] and takes -log of the true class's
    # renormalised probability, which is the categorical loss of its one-hot target
    onehot = (lab[..., None] == backend.xp(lab).arange(output.shape[-1])).astype(output.data.dtype)
    return L.categorical_cross_entropy_probs(output, onehot, EPSILON)


def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis`` (all axes by default, as Keras)."""
    return nn.logsumexp(x, axis, keepdims)


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal: bool = False,
                          flash_attention=None, attn_logits_soft_cap=None) -> Tensor:
    """softmax(q k^T * scale + bias, masked) v with Keras' layout: query (B, T, N, H), key
    and value (B, S, N, H); ``mask`` bool (True = attend) and ``bias`` broadcast to
    (B, N, T, S). Runs ember's fused attention; ``bias`` enters as a constant (no
    gradient to it)."""
    q, k, v = _floating(query), _floating(key), _floating(value)
    if not (q.ndim == k.ndim == v.ndim == 4):
        raise ValueError(f"dot_product_attention expects 4-D query, key and value (batch, length, heads, dim). "
                         f"Received: shapes {q.shape}, {k.shape}, {v.shape}")
    if attn_logits_soft_cap is not None:
        raise ValueError("dot_product_attention: attn_logits_soft_cap is not supported by ember. "
                         f"Received: attn_logits_soft_cap={attn_logits_soft_cap}")
    m = None
    if mask is not None:
        m = as_bool_array(mask, q.data)
    if bias is not None:
        b = as_array_like(bias, q.data, q.data.dtype)
        m = b if m is None else backend.xp(b).where(m, b, -np.inf).astype(q.data.dtype)
    heads = [core.transpose(t, (0, 2, 1, 3)) for t in (q, k, v)]  # (B, N, T, H)
    out = scaled_dot_product_attention(*heads, attn_mask=m, is_causal=is_causal, scale=scale)
    return core.transpose(out, (0, 2, 1, 3))


def batch_normalization(x, mean, variance, axis: int, offset=None, scale=None, epsilon: float = 1e-3) -> Tensor:
    """(x - mean) / sqrt(variance + epsilon) * scale + offset, the 1-D statistics laid
    along ``axis``; differentiable in every tensor argument."""
    x = _floating(x)
    ax = core._norm_axis(axis, x.ndim, "batch_normalization")[0]
    shape = [-1 if i == ax else 1 for i in range(x.ndim)]

    def along(t, what):
        t = _floating(t)
        if t.shape != (x.shape[ax],):
            raise ValueError(f"batch_normalization: {what} must have shape ({x.shape[ax]},) for axis {axis} of an "
                             f"input of shape {x.shape}. Received: shape={t.shape}")
        return core.reshape(t, shape)
    y = core.div(core.sub(x, along(mean, "mean")), core.sqrt(core.add(along(variance, "variance"), epsilon)))
    if scale is not None:
        y = core.mul(y, along(scale, "scale"))
    return y if offset is None else core.add(y, along(offset, "offset"))


def _pool(kind: str, inputs, pool_size, strides, padding, data_format):
    x = _floating(inputs)
    df = data_format or "channels_last"
    if x.ndim == 3:
        fn = pool.max_pool1d if kind == "max" else pool.avg_pool1d
    elif x.ndim == 4:
        fn = pool.max_pool2d if kind == "max" else pool.avg_pool2d
    else:
        raise ValueError(f"{kind}_pool: inputs must be 3-D or 4-D (1-D or 2-D pooling). Received: shape={x.shape}")
    return fn(x, pool_size, strides, padding, df)


def max_pool(inputs, pool_size, strides=None, padding: str = "valid", data_format=None) -> Tensor:
    """Max pooling over 1-D (3-D input) or 2-D (4-D input) windows."""
    return _pool("max", inputs, pool_size, strides, padding, data_format)


def average_pool(inputs, pool_size, strides=None, padding: str = "valid", data_format=None) -> Tensor:
    """Average pooling over 1-D (3-D input) or 2-D (4-D input) windows."""
    return _pool("average", inputs, pool_size, strides, padding, data_format)


def segment_sum(data, segment_ids, num_segments=None, sorted: bool = False) -> Tensor:  # noqa: A002
    """Sums of the rows of ``data`` that share a segment id: (num_segments, ...)."""
    x = _floating(data)
    ids = as_array_like(segment_ids, x.data).astype(np.int64)
    if x.ndim == 0 or ids.shape != x.shape[:1]:
        raise ValueError(f"segment_sum: segment_ids must have shape ({x.shape[0] if x.ndim else 0},), one per row of "
                         f"data of shape {x.shape}. Received: shape={ids.shape}")
    n = int(num_segments) if num_segments is not None else (int(ids.max()) + 1 if ids.size else 0)
    keep = (ids >= 0) & (ids < n)  # ids outside [0, num_segments) are dropped, as in TensorFlow
    xp = backend.xp(x.data)
    out = xp.zeros((n,) + x.shape[1:], dtype=x.data.dtype)
    xp.add.at(out, ids[keep], x.data[keep])
    return make_op(out, (x,), lambda g: (xp.where(keep.reshape((-1,) + (1,) * (x.ndim - 1)), g[xp.where(keep, ids, 0)], 0),),
                   "segment_sum")
