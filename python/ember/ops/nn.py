"""Neural-network ops: activations, softmax family, dropout."""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from .. import random as erandom
from ..tensor import Tensor, as_tensor, make_op
from .core import _floating, _kernel_act, _sigmoid_array, relu, sigmoid, tanh  # noqa: F401  (re-exported)


def leaky_relu(x, negative_slope: float = 0.2) -> Tensor:
    """max(x, 0) + negative_slope * min(x, 0). Keras' default slope is 0.2 (``alpha``)."""
    x = _floating(x)
    xd = x.data
    xp = backend.xp(xd)
    k = _kernel_act(xd, "leaky_relu", float(negative_slope))
    if k is not None:
        return make_op(k[0], (x,), lambda g: (k[1](g),), "leaky_relu")
    s = xd.dtype.type(negative_slope)
    pos = xd > 0
    return make_op(xp.where(pos, xd, s * xd), (x,), lambda g: (xp.where(pos, g, s * g),), "leaky_relu")


def elu(x, alpha: float = 1.0) -> Tensor:
    # arithmetic blends rather than np.where on a random sign pattern (several times faster)
    x = _floating(x)
    xd = x.data
    xp = backend.xp(xd)
    pos = xd > 0
    em1 = xp.expm1(xp.minimum(xd, 0))
    out = (xp.maximum(xd, 0) + alpha * em1).astype(xd.dtype, copy=False)
    return make_op(out, (x,), lambda g: (g * (pos + (~pos) * (alpha * (em1 + 1))).astype(xd.dtype, copy=False),),
                   "elu")


_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def selu(x) -> Tensor:
    x = _floating(x)
    xd = x.data
    xp = backend.xp(xd)
    pos = xd > 0
    e = xp.exp(xp.minimum(xd, 0))
    out = _SELU_SCALE * (xp.maximum(xd, 0) + _SELU_ALPHA * (e - 1))
    return make_op(out.astype(xd.dtype), (x,),
                   lambda g: (g * (_SELU_SCALE * (pos + (~pos) * (_SELU_ALPHA * e))).astype(xd.dtype),), "selu")


def softplus(x) -> Tensor:
    """log(1 + exp(x)), as max(x, 0) + log1p(exp(-|x|)) (no overflow, accurate for x << 0)."""
    x = _floating(x)
    xd = x.data
    xp = backend.xp(xd)
    out = (xp.maximum(xd, 0) + xp.log1p(xp.exp(-xp.abs(xd)))).astype(xd.dtype, copy=False)
    return make_op(out, (x,), lambda g: (g * _sigmoid_array(xd),), "softplus")


def silu(x) -> Tensor:
    """x * sigmoid(x) (``swish``)."""
    x = _floating(x)
    xd = x.data
    s = _sigmoid_array(xd)
    return make_op(xd * s, (x,), lambda g: (g * (s * (1 + xd * (1 - s))),), "silu")


swish = silu


def _erf(x):
    backend.require_host("gelu of a 0-d or empty tensor", x)  # the fused kernel covers the rest
    try:
        from scipy.special import erf  # optional: exact and vectorised
        return erf(x)
    except ImportError:  # pragma: no cover - scipy is optional
        return np.vectorize(math.erf, otypes=[x.dtype])(x)


def gelu(x, approximate: bool = False) -> Tensor:
    """Gaussian error linear unit. Exact (erf) by default like Keras; ``approximate=True``
    uses the tanh form."""
    x = _floating(x)
    xd = x.data
    xp = backend.xp(xd)
    if approximate:
        c = math.sqrt(2 / math.pi)
        u = c * (xd + 0.044715 * xd ** 3)
        t = xp.tanh(u)
        out = 0.5 * xd * (1 + t)

        def backward(g):
            du = c * (1 + 3 * 0.044715 * xd * xd)
            return (g * (0.5 * (1 + t) + 0.5 * xd * (1 - t * t) * du),)
        return make_op(out.astype(xd.dtype), (x,), backward, "gelu")
    k = _kernel_act(xd, "gelu")
    if k is not None:
        return make_op(k[0], (x,), lambda g: (k[1](g),), "gelu")
    cdf = 0.5 * (1 + _erf(xd / math.sqrt(2)))
    pdf = xp.exp(-0.5 * xd * xd) / math.sqrt(2 * math.pi)
    return make_op((xd * cdf).astype(xd.dtype), (x,), lambda g: ((g * (cdf + xd * pdf)).astype(xd.dtype),), "gelu")


def _fused_lastaxis(xd, axis: int) -> bool:
    return xd.ndim >= 1 and axis in (-1, xd.ndim - 1) and xd.dtype in (np.float32, np.float64) and xd.shape[-1] > 0


def softmax(x, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, stable for large logits (fused C++ kernel over
    the last axis; NumPy otherwise). A row that is all -inf gives zeros."""
    x = _floating(x)
    xd = x.data
    xp = backend.xp(xd)
    if _fused_lastaxis(xd, axis):
        kern = backend.ops(xd)
        out = kern.softmax_lastaxis(xd)
        return make_op(out, (x,), lambda g: (kern.softmax_lastaxis_backward(out, g),), "softmax")
    m = xd.max(axis=axis, keepdims=True)  # NaN or +inf in a row: its max or x - max is NaN
    e = xp.exp(xd - xp.where(m == -np.inf, 0, m))
    s = e.sum(axis=axis, keepdims=True)
    nz = s != 0
    out = xp.where(nz, e / xp.where(nz, s, 1), 0).astype(e.dtype, copy=False)  # an all -inf row: zeros, as the kernel

    def backward(g):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)
    # "softmax" marks a softmax over the last axis: cross-entropy losses use its input (the
    # logits) for a stable gradient, as Keras does
    return make_op(out, (x,), backward, "softmax" if axis in (-1, xd.ndim - 1) else "softmax_axis")


def log_softmax(x, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``, stable for large logits (fused C++ kernel over the
    last axis; NumPy otherwise)."""
    x = _floating(x)
    xd = x.data
    xp = backend.xp(xd)
    if _fused_lastaxis(xd, axis):
        kern = backend.ops(xd)
        out = kern.softmax_lastaxis(xd, log=True)
        return make_op(out, (x,), lambda g: (kern.softmax_lastaxis_backward(out, g, log=True),), "log_softmax")
    sh = xd - xd.max(axis=axis, keepdims=True)
    out = sh - xp.log(xp.exp(sh).sum(axis=axis, keepdims=True))

    def backward(g):
        return (g - xp.exp(out) * g.sum(axis=axis, keepdims=True),)
    return make_op(out, (x,), backward, "log_softmax")


def logsumexp(x, axis=-1, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis`` (an int, a tuple, or None for all axes), stable for
    large values."""
    x = _floating(x)
    xd = x.data
    xp = backend.xp(xd)
    axis = tuple(range(xd.ndim)) if axis is None else axis
    m = xd.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)  # an all -inf slice gives -inf, not NaN
    lse_k = m + xp.log(xp.exp(xd - m).sum(axis=axis, keepdims=True))
    out = lse_k if keepdims else xp.squeeze(lse_k, axis=axis)

    def backward(g):
        gk = g if keepdims else xp.expand_dims(g, axis)
        return (gk * xp.exp(xd - lse_k),)
    return make_op(out, (x,), backward, "logsumexp")


def dropout(x, rate: float, training: bool = True, noise_shape=None, seed=None) -> Tensor:
    """Inverted dropout in training (``ember.random.dropout``: zero each element with
    probability ``rate``, scale the rest by 1 / (1 - rate)); identity otherwise."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1). Received: rate={rate}")
    if not training:
        return as_tensor(x)
    return erandom.dropout(x, rate, noise_shape=noise_shape, seed=seed)


ACTIVATIONS = {
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "gelu": gelu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "softplus": softplus,
    "silu": silu,
    "swish": silu,
    "linear": None,
}


def get_activation(name):
    """An activation function by Keras name ("relu", "softmax", ...), a callable, or None."""
    if name is None or callable(name):
        return name
    try:
        return ACTIVATIONS[str(name).lower()]
    except KeyError:
        raise ValueError(f"Unknown activation {name!r}. Known: {sorted(ACTIVATIONS)}") from None
