"""``keras.ops``' neural-network names with Keras' signatures and defaults, over the ops
defined in ``ops.nn``, ``ops.core`` and ``ops.losses`` (no op is defined twice here)."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import core, nn
from . import losses as L
from .core import _floating
from .linalg import norm

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
    lab = np.asarray(target.data if isinstance(target, Tensor) else target)
    if lab.shape == output.shape[:-1] + (1,):
        lab = lab[..., 0]
    if from_logits:
        return L.sparse_softmax_cross_entropy(output, lab)
    # probabilities: Keras clips to [eps, 1 - eps] and takes -log of the true class's
    # renormalised probability, which is the categorical loss of its one-hot target
    if lab.shape != output.shape[:-1]:
        raise ValueError(f"sparse_categorical_crossentropy: target must have shape {output.shape[:-1]} for "
                         f"output of shape {output.shape}. Received: shape={lab.shape}")
    C = output.shape[-1]
    if lab.size and (lab.min() < 0 or lab.max() >= C):
        raise ValueError(f"sparse_categorical_crossentropy: target must be in [0, {C}). "
                         f"Received: min={lab.min()}, max={lab.max()}")
    onehot = (lab.astype(np.intp)[..., None] == np.arange(C)).astype(output.data.dtype)
    return L.categorical_cross_entropy_probs(output, onehot, EPSILON)


def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis`` (all axes by default, as Keras)."""
    return nn.logsumexp(x, axis, keepdims)
