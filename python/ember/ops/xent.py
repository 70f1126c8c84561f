"""Fused softmax cross-entropy ops (one C++ pass forward, one backward).

The forward saves only the per-row log-sum-exp; the backward recomputes the probabilities
and writes ``dloss * (sum(labels) * softmax(logits) - labels)``. Losses with
``from_logits=True`` (and softmax activation + crossentropy) route through these. This is
the one definition of both ops (``ops.losses`` and ``functional`` re-export them).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import checks
from ..tensor import Tensor, as_array_like, as_tensor, make_op


def _check(op: str, logits: Tensor) -> None:
    if logits.ndim < 1:
        raise ValueError(f"{op} expects logits of shape (..., num_classes). Received: shape={logits.shape}")


def softmax_cross_entropy(logits, onehot) -> Tensor:
    """Per-sample -sum(labels * log_softmax(logits)) over the last axis.

    logits (..., C); ``onehot`` (..., C) one-hot or probability labels (soft labels need not
    sum to one: the gradient is dloss * (sum(labels) * softmax - labels)). Returns (...,).
    Labels get a gradient too (``lse - logits``) when they require one.
    """
    logits = as_tensor(logits)
    labels = as_tensor(onehot, dtype=logits.dtype)
    _check("softmax_cross_entropy", logits)
    if labels.shape != logits.shape:
        raise ValueError(f"softmax_cross_entropy: labels must have the logits' shape {logits.shape}. "
                         f"Received: shape={labels.shape}")
    ld = logits.data
    pd = as_array_like(labels.data, ld)
    kern, xp = backend.ops(ld), backend.xp(ld)
    if ld.shape[-1] == 0 or ld.size == 0:
        return make_op(xp.zeros(ld.shape[:-1], ld.dtype), (logits, labels),
                       lambda g: (xp.zeros_like(ld), xp.zeros_like(pd)), "softmax_cross_entropy")
    loss, lse = kern.xent_forward(ld, pd, sparse=False)

    def backward(g):
        gx = kern.xent_backward(g, ld, pd, lse, sparse=False) if logits.requires_grad else None
        gl = None
        if labels.requires_grad:
            gl = g[..., None] * (lse.reshape(ld.shape[:-1] + (1,)) - ld)
        return gx, gl
    return make_op(loss, (logits, labels), backward, "softmax_cross_entropy")


def sparse_labels(op: str, int_labels, logits: Tensor, what: str = "labels", device_range_check: bool = True):
    """Keras' rules for integer class labels, checked once: shape (...) or (..., 1) for
    logits (..., C) (the trailing 1 is squeezed); integer or bool dtype, or floats holding
    whole numbers; every label in [0, C). Returns int64 labels on the logits' device.
    ``device_range_check=False`` leaves the range of device labels to the fused kernels'
    wrapper, which reads them back anyway (one device sync instead of two)."""
    lab = as_array_like(int_labels, logits.data)
    lead = logits.shape[:-1]
    if tuple(lab.shape) != lead and tuple(lab.shape) == lead + (1,):
        lab = lab.reshape(lead)
    if tuple(lab.shape) != lead:
        raise ValueError(f"{op}: {what} must have shape {lead} (or {lead + (1,)}) for logits of shape "
                         f"{logits.shape}. Received: shape={tuple(lab.shape)}")
    if lab.dtype.kind not in "iub":
        if lab.dtype.kind != "f" or (lab.size and not _whole(lab, f"{op}: {what} must be integer class indices "
                                                                f"(floats holding whole numbers)")):
            raise ValueError(f"{op}: {what} must be integer class indices. Received: dtype={lab.dtype}")
    lab = lab.astype(np.int64, copy=False)
    C = logits.shape[-1]
    if type(lab) is np.ndarray:
        bad = lab.size and (lab.min() < 0 or lab.max() >= C)  # cheapest on the host
    elif not device_range_check or not lab.size:
        bad = False
    else:  # read at the next host sync point inside fit / evaluate (see backend.checks)
        outside = ((lab < 0) | (lab >= C)).any()
        bad = not checks.defer(outside, f"{op}: {what} must be in [0, {C}); a batch held a label "
                                        "outside it") and bool(outside)  # else one device sync
    if bad:
        raise ValueError(f"{op}: {what} must be in [0, {C}). Received: min={int(lab.min())}, max={int(lab.max())}")
    return lab


def _whole(lab, message: str) -> bool:
    """Whether float labels hold whole numbers: read now on the host, deferred on a device
    inside fit / evaluate (then True here; ``message`` is raised at the next host read)."""
    if type(lab) is np.ndarray:
        return bool((lab == lab.round()).all())
    whole = (lab == lab.round()).all()
    return checks.defer(~whole, message) or bool(whole)


def sparse_softmax_cross_entropy(logits, int_labels) -> Tensor:
    """Per-sample -log_softmax(logits)[label] over the last axis.

    logits (..., C); ``int_labels`` integer class ids of shape (...,) (a trailing axis of 1,
    as Keras allows, is squeezed), see :func:`sparse_labels`. Returns (...,).
    """
    logits = as_tensor(logits)
    _check("sparse_softmax_cross_entropy", logits)
    lab = sparse_labels("sparse_softmax_cross_entropy", int_labels, logits, device_range_check=False)
    ld = logits.data
    kern, xp = backend.ops(ld), backend.xp(ld)
    if ld.size == 0:
        return make_op(xp.zeros(ld.shape[:-1], ld.dtype), (logits,), lambda g: (xp.zeros_like(ld),),
                       "sparse_softmax_cross_entropy")
    loss, lse = kern.xent_forward(ld, lab, sparse=True)
    return make_op(loss, (logits,), lambda g: (kern.xent_backward(g, ld, lab, lse, sparse=True),),
                   "sparse_softmax_cross_entropy")
