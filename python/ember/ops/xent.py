"""Fused softmax cross-entropy ops (one C++ pass forward, one backward).

The forward saves only the per-row log-sum-exp; the backward recomputes the probabilities
and writes ``dloss * (softmax(logits) - labels)``. Losses with ``from_logits=True`` (and
softmax activation + crossentropy) route through these.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor, as_tensor, make_op


def _check(op: str, logits: Tensor) -> None:
    if logits.ndim < 1:
        raise ValueError(f"{op} expects logits of shape (..., num_classes). Received: shape={logits.shape}")


def softmax_cross_entropy(logits, onehot) -> Tensor:
    """Per-sample -sum(labels * log_softmax(logits)) over the last axis.

    logits (..., C); ``onehot`` (..., C) one-hot or probability labels. Returns (...,).
    Labels get a gradient too (``lse - logits``) when they require one.
    """
    logits = as_tensor(logits)
    labels = as_tensor(onehot, dtype=logits.dtype)
    _check("softmax_cross_entropy", logits)
    if labels.shape != logits.shape:
        raise ValueError(f"softmax_cross_entropy: labels must have the logits' shape {logits.shape}. "
                         f"Received: shape={labels.shape}")
    kern = backend.ops(logits.data)
    ld, pd = logits.data, labels.data
    if ld.shape[-1] == 0 or ld.size == 0:
        return make_op(np.zeros(ld.shape[:-1], ld.dtype), (logits, labels),
                       lambda g: (np.zeros_like(ld), np.zeros_like(pd)), "softmax_cross_entropy")
    loss, lse = kern.xent_forward(ld, pd, sparse=False)

    def backward(g):
        gx = kern.xent_backward(g, ld, pd, lse, sparse=False) if logits.requires_grad else None
        gl = None
        if labels.requires_grad:
            gl = np.asarray(g)[..., None] * (lse.reshape(ld.shape[:-1] + (1,)) - ld)
        return gx, gl
    return make_op(loss, (logits, labels), backward, "softmax_cross_entropy")


def sparse_softmax_cross_entropy(logits, int_labels) -> Tensor:
    """Per-sample -log_softmax(logits)[label] over the last axis.

    logits (..., C); ``int_labels`` integer class ids of shape (...,) (a trailing axis of 1,
    as Keras allows, is squeezed). Returns (...,).
    """
    logits = as_tensor(logits)
    _check("sparse_softmax_cross_entropy", logits)
    lab = np.asarray(int_labels.data if isinstance(int_labels, Tensor) else int_labels)
    if lab.shape != logits.shape[:-1] and lab.shape == logits.shape[:-1] + (1,):
        lab = lab.reshape(lab.shape[:-1])
    if lab.shape != logits.shape[:-1]:
        raise ValueError(f"sparse_softmax_cross_entropy: labels must have shape {logits.shape[:-1]} for logits of "
                         f"shape {logits.shape}. Received: shape={lab.shape}")
    if lab.dtype.kind == "f":
        if lab.size and not np.all(lab == np.round(lab)):
            raise ValueError("sparse_softmax_cross_entropy: labels must be integer class ids")
    lab = lab.astype(np.int64, copy=False)
    kern = backend.ops(logits.data)
    ld = logits.data
    if ld.size == 0:
        return make_op(np.zeros(ld.shape[:-1], ld.dtype), (logits,), lambda g: (np.zeros_like(ld),),
                       "sparse_softmax_cross_entropy")
    loss, lse = kern.xent_forward(ld, lab, sparse=True)
    return make_op(loss, (logits,), lambda g: (kern.xent_backward(g, ld, lab, lse, sparse=True),),
                   "sparse_softmax_cross_entropy")
