"""Differentiable cross-entropy ops (per-sample losses), forward and backward side by side.

All are stable for extreme logits (log-sum-exp / softplus forms). The class axis is the
last one. ``softmax_cross_entropy`` and ``sparse_softmax_cross_entropy`` keep their
signatures when a fused C++ kernel replaces the NumPy bodies.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, as_tensor, make_op
from . import xent as _xent

EPSILON = 1e-7  # Keras' backend epsilon: probabilities are clipped to [eps, 1 - eps]


def _xent_ok(logits: Tensor) -> bool:
    d = logits.data
    return isinstance(d, np.ndarray) and d.dtype in (np.float32, np.float64) and d.ndim >= 1 and d.size > 0


def _log_softmax(z: np.ndarray) -> np.ndarray:
    sh = z - z.max(axis=-1, keepdims=True)
    return sh - np.log(np.exp(sh).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(logits, onehot) -> Tensor:
    """-sum(t * log_softmax(logits), axis=-1): logits (..., C), onehot (..., C) -> (...).

    ``onehot`` may hold soft labels (rows need not sum to one); it is differentiable too.
    """
    logits = as_tensor(logits)
    t = as_tensor(onehot, logits.dtype)
    if t.shape != logits.shape:
        raise ValueError(f"softmax_cross_entropy: targets of shape {t.shape} do not match logits of shape {logits.shape}")
    if _xent_ok(logits):  # the fused C++ kernel (one pass forward, one backward)
        return _xent.softmax_cross_entropy(logits, t)
    logp = _log_softmax(logits.data)
    td = t.data
    out = -(td * logp).sum(axis=-1)

    def backward(g):
        ge = g[..., None]
        gz = ge * (np.exp(logp) * td.sum(axis=-1, keepdims=True) - td) if logits.requires_grad else None
        gt = -ge * logp if t.requires_grad else None
        return gz, gt
    return make_op(out, (logits, t), backward, "softmax_cross_entropy")


def sparse_softmax_cross_entropy(logits, int_labels) -> Tensor:
    """logsumexp(logits) - logits[label]: logits (..., C), int_labels (...) -> (...).

    Labels must be integers in [0, C); anything else raises ValueError.
    """
    logits = as_tensor(logits)
    lab = np.asarray(int_labels.data if isinstance(int_labels, Tensor) else int_labels)
    C = logits.shape[-1]
    if lab.shape != logits.shape[:-1]:
        raise ValueError(f"sparse_softmax_cross_entropy: labels of shape {lab.shape} do not match logits of "
                         f"shape {logits.shape} (expected labels of shape {logits.shape[:-1]})")
    if lab.dtype.kind not in "iub":
        if lab.dtype.kind != "f" or not np.all(np.mod(lab, 1) == 0):
            raise ValueError("sparse_softmax_cross_entropy: labels must be integer class indices. "
                             f"Received: dtype={lab.dtype}")
    lab = lab.astype(np.intp, copy=False)
    if lab.size and (lab.min() < 0 or lab.max() >= C):
        raise ValueError(f"sparse_softmax_cross_entropy: labels must be in [0, {C}). "
                         f"Received: min={lab.min()}, max={lab.max()}")
    if _xent_ok(logits):
        return _xent.sparse_softmax_cross_entropy(logits, lab)
    logp = _log_softmax(logits.data)
    picked = np.take_along_axis(logp, lab[..., None], axis=-1)[..., 0]
    out = -picked

    def backward(g):
        p = np.exp(logp)
        np.put_along_axis(p, lab[..., None], np.take_along_axis(p, lab[..., None], axis=-1) - 1, axis=-1)
        return (g[..., None] * p,)
    return make_op(out, (logits,), backward, "sparse_softmax_cross_entropy")


def sigmoid_binary_cross_entropy(logits, targets) -> Tensor:
    """Elementwise -(t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))) in the stable form
    max(z, 0) - z t + log1p(exp(-|z|)). Shapes must broadcast; output has logits' shape."""
    z = as_tensor(logits)
    t = as_tensor(targets, z.dtype)
    zd, td = z.data, t.data
    out = np.maximum(zd, 0) - zd * td + np.log1p(np.exp(-np.abs(zd)))

    def backward(g):
        e = np.exp(-np.abs(zd))
        sig = np.where(zd >= 0, 1 / (1 + e), e / (1 + e))
        return (g * (sig - td) if z.requires_grad else None,
                -g * zd if t.requires_grad else None)
    return make_op(out.astype(zd.dtype, copy=False), (z, t), backward, "sigmoid_binary_cross_entropy")


def binary_cross_entropy_probs(probs, targets, epsilon: float = EPSILON) -> Tensor:
    """Keras' binary cross-entropy on probabilities: p clipped to [eps, 1 - eps], then
    -(t log p + (1 - t) log(1 - p)) elementwise (no gradient where p was clipped)."""
    p = as_tensor(probs)
    t = as_tensor(targets, p.dtype)
    pd, td = p.data, t.data
    pc = np.clip(pd, epsilon, 1 - epsilon)
    out = -(td * np.log(pc) + (1 - td) * np.log(1 - pc))

    def backward(g):
        inside = (pd >= epsilon) & (pd <= 1 - epsilon)
        gp = g * inside * ((1 - td) / (1 - pc) - td / pc) if p.requires_grad else None
        gt = -g * (np.log(pc) - np.log(1 - pc)) if t.requires_grad else None
        return gp, gt
    return make_op(out.astype(pd.dtype, copy=False), (p, t), backward, "binary_cross_entropy")


def categorical_cross_entropy_probs(probs, onehot, epsilon: float = EPSILON) -> Tensor:
    """Keras' categorical cross-entropy on probabilities: rows renormalised to sum to one,
    clipped to [eps, 1 - eps], then -sum(t log q, axis=-1). probs, onehot (..., C) -> (...)."""
    p = as_tensor(probs)
    t = as_tensor(onehot, p.dtype)
    if t.shape != p.shape:
        raise ValueError(f"categorical_cross_entropy: targets of shape {t.shape} do not match predictions of shape {p.shape}")
    pd, td = p.data, t.data
    s = pd.sum(axis=-1, keepdims=True)
    q = pd / s
    qc = np.clip(q, epsilon, 1 - epsilon)
    logq = np.log(qc)
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
