"""Differentiable cross-entropy ops (per-sample losses), forward and backward side by side.

All are stable for extreme logits (log-sum-exp / softplus forms). The class axis is the
last one. The softmax cross-entropies are the fused ops of ``ops.xent`` (re-exported here).
"""
from __future__ import annotations

from .. import backend
from ..tensor import Tensor, as_tensor, as_tensor_on, make_op
from .xent import softmax_cross_entropy, sparse_softmax_cross_entropy  # noqa: F401  (defined once, there)

EPSILON = 1e-7  # Keras' backend epsilon: probabilities are clipped to [eps, 1 - eps]


def sigmoid_binary_cross_entropy(logits, targets) -> Tensor:
    """Elementwise -(t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))) in the stable form
    max(z, 0) - z t + log1p(exp(-|z|)). Shapes must broadcast; output has logits' shape."""
    z = as_tensor(logits)
    t = as_tensor_on(targets, z, z.dtype)
    zd, td = z.data, t.data
    xp = backend.xp(zd)
    out = xp.maximum(zd, 0) - zd * td + xp.log1p(xp.exp(-xp.abs(zd)))

    def backward(g):
        e = xp.exp(-xp.abs(zd))
        sig = xp.where(zd >= 0, 1 / (1 + e), e / (1 + e))
        return (g * (sig - td) if z.requires_grad else None,
                -g * zd if t.requires_grad else None)
    return make_op(out.astype(zd.dtype, copy=False), (z, t), backward, "sigmoid_binary_cross_entropy")


def binary_cross_entropy_probs(probs, targets, epsilon: float = EPSILON) -> Tensor:
    """Keras' binary cross-entropy on probabilities: p clipped to [eps, 1 - eps], then
    -(t log p + (1 - t) log(1 - p)) elementwise (no gradient where p was clipped)."""
    p = as_tensor(probs)
    t = as_tensor_on(targets, p, p.dtype)
    pd, td = p.data, t.data
    xp = backend.xp(pd)
    pc = xp.clip(pd, epsilon, 1 - epsilon)
    out = -(td * xp.log(pc) + (1 - td) * xp.log(1 - pc))

    def backward(g):
        inside = (pd >= epsilon) & (pd <= 1 - epsilon)
        gp = g * inside * ((1 - td) / (1 - pc) - td / pc) if p.requires_grad else None
        gt = -g * (xp.log(pc) - xp.log(1 - pc)) if t.requires_grad else None
        return gp, gt
    return make_op(out.astype(pd.dtype, copy=False), (p, t), backward, "binary_cross_entropy")


def categorical_cross_entropy_probs(probs, onehot, epsilon: float = EPSILON) -> Tensor:
    """Keras' categorical cross-entropy on probabilities: rows renormalised to sum to one,
    clipped to [eps, 1 - eps], then -sum(t log q, axis=-1). probs, onehot (..., C) -> (...)."""
    p = as_tensor(probs)
    t = as_tensor_on(onehot, p, p.dtype)
    if t.shape != p.shape:
        raise ValueError(f"categorical_cross_entropy: targets of shape {t.shape} do not match predictions of shape {p.shape}")
    pd, td = p.data, t.data
    xp = backend.xp(pd)
    s = pd.sum(axis=-1, keepdims=True)
    q = pd / s
    qc = xp.clip(q, epsilon, 1 - epsilon)
    logq = xp.log(qc)
    out = -(td * logq).sum(axis=-1)

    def backward(g):
        gp = gt = None
        if p.requires_grad:
            a = -g[..., None] * td / qc * ((q >= epsilon) & (q <= 1 - epsilon))
            gp = (a - (a * q).sum(axis=-1, keepdims=True)) / s
        if t.requires_grad:
            gt = -g[..., None] * logq
        return gp, gt
    return make_op(out.astype(pd.dtype, copy=False), (p, t), backward, "categorical_cross_entropy")
