"""Elementwise math, comparisons and reductions beyond ``core`` (the ``keras.ops`` names).

Inputs may be Tensors, arrays or Python numbers; integer and bool inputs keep their dtype
where Keras keeps it (comparisons give bool, ``argmax`` int32) and become float32 where
Keras makes floats (``sin``, ``log1p`` ...). Functions without a gradient (rounding,
comparisons, arg-reductions) return Tensors outside the graph.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import backend
from ..tensor import Tensor, as_array_like, make_op
from . import core
from .core import _floating, _norm_axis, _operand, _pair, constant

# ---------------------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------------------


def _unary(name: str, fwd, deriv, doc: str):
    """An elementwise op ``fwd`` with derivative ``deriv(x, out)`` (arrays)."""
    def op(x) -> Tensor:
        x = _floating(x)
        xd = x.data
        with np.errstate(divide="ignore", invalid="ignore"):
            out = _arr(fwd(xd)).astype(xd.dtype, copy=False)
        return make_op(out, (x,), lambda g: (g * deriv(xd, out),), name)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


def _arr(x):
    """A ufunc / reduction result as an array on its device (NumPy gives 0-d results as
    scalars; CuPy and the device arrays already are arrays)."""
    return x if backend.is_array(x) else np.asarray(x)


def _erf(x):
    backend.require_host("erf", x)  # math.erf per element: a host loop
    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


log1p = _unary("log1p", np.log1p, lambda x, y: 1 / (1 + x), "log(1 + x), accurate for small x.")
expm1 = _unary("expm1", np.expm1, lambda x, y: y + 1, "exp(x) - 1, accurate for small x.")
sin = _unary("sin", np.sin, lambda x, y: np.cos(x), "Sine.")
cos = _unary("cos", np.cos, lambda x, y: -np.sin(x), "Cosine.")
tan = _unary("tan", np.tan, lambda x, y: 1 + y * y, "Tangent.")
sinh = _unary("sinh", np.sinh, lambda x, y: np.cosh(x), "Hyperbolic sine.")
cosh = _unary("cosh", np.cosh, lambda x, y: np.sinh(x), "Hyperbolic cosine.")
arctan = _unary("arctan", np.arctan, lambda x, y: 1 / (1 + x * x), "Inverse tangent.")
arcsin = _unary("arcsin", np.arcsin, lambda x, y: 1 / np.sqrt(1 - x * x), "Inverse sine.")
arccos = _unary("arccos", np.arccos, lambda x, y: -1 / np.sqrt(1 - x * x), "Inverse cosine.")
log2 = _unary("log2", np.log2, lambda x, y: 1 / (x * math.log(2)), "Base-2 logarithm.")
log10 = _unary("log10", np.log10, lambda x, y: 1 / (x * math.log(10)), "Base-10 logarithm.")
reciprocal = _unary("reciprocal", np.reciprocal, lambda x, y: -y * y, "1 / x.")
rsqrt = _unary("rsqrt", lambda x: 1 / np.sqrt(x), lambda x, y: -0.5 * y / x, "1 / sqrt(x).")
erf = _unary("erf", _erf, lambda x, y: 2 / math.sqrt(math.pi) * np.exp(-x * x), "The error function.")


def _flat(name: str, fn, keep_int: bool, doc: str):
    """A piecewise-constant op: its gradient is zero wherever it exists."""
    def op(x) -> Tensor:
        x = _operand(x) if keep_int else _floating(x)
        out = _arr(fn(x.data)).astype(x.data.dtype, copy=False)
        return make_op(out, (x,), lambda g: (np.zeros_like(g),), name)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


floor = _flat("floor", np.floor, False, "Largest integer <= x (gradient zero).")
ceil = _flat("ceil", np.ceil, False, "Smallest integer >= x (gradient zero).")
sign = _flat("sign", np.sign, True, "-1, 0 or 1 by the sign of x (gradient zero).")


def round(x, decimals: int = 0) -> Tensor:  # noqa: A001
    """x rounded half to even to ``decimals`` places (gradient zero)."""
    x = _operand(x)
    out = np.round(x.data, int(decimals)).astype(x.data.dtype, copy=False)
    return make_op(out, (x,), lambda g: (np.zeros_like(g),), "round")


def mod(x1, x2) -> Tensor:
    """x1 - floor(x1 / x2) * x2 (the sign of x2, as ``numpy.mod``)."""
    a, b = _pair(x1, x2)
    ad, bd = a.data, b.data
    out = np.mod(ad, bd)
    return make_op(out, (a, b), lambda g: (g, -g * np.floor_divide(ad, bd)), "mod")


def floor_divide(x1, x2) -> Tensor:
    """floor(x1 / x2) (gradient zero)."""
    a, b = _pair(x1, x2)
    out = np.floor_divide(a.data, b.data)
    return make_op(out, (a, b), lambda g: (np.zeros_like(g), np.zeros_like(g)), "floor_divide")


def nan_to_num(x, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:
    """NaN and infinities replaced by numbers; the gradient flows where x was finite."""
    x = _operand(x)
    xd = x.data
    fin = np.isfinite(xd)
    out = np.nan_to_num(xd, nan=nan, posinf=posinf, neginf=neginf)
    return make_op(out, (x,), lambda g: (g * fin,), "nan_to_num")


# ---------------------------------------------------------------------------------------
# comparisons and logic (bool results, no gradient)
# ---------------------------------------------------------------------------------------

def _compare(name: str, fn):
    def op(x1, x2) -> Tensor:
        a, b = _pair(x1, x2)
        try:
            return constant(_arr(fn(a.data, b.data)))
        except ValueError:
            raise ValueError(f"{name}: shapes {a.shape} and {b.shape} do not broadcast") from None
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``numpy.{fn.__name__}`` as a bool Tensor."
    return op


equal = _compare("equal", np.equal)
not_equal = _compare("not_equal", np.not_equal)
greater = _compare("greater", np.greater)
greater_equal = _compare("greater_equal", np.greater_equal)
less = _compare("less", np.less)
less_equal = _compare("less_equal", np.less_equal)
logical_and = _compare("logical_and", np.logical_and)
logical_or = _compare("logical_or", np.logical_or)
logical_xor = _compare("logical_xor", np.logical_xor)


def logical_not(x) -> Tensor:
    return constant(np.logical_not(_operand(x).data))


def isnan(x) -> Tensor:
    return constant(np.isnan(_operand(x).data))


def isinf(x) -> Tensor:
    return constant(np.isinf(_operand(x).data))


def isfinite(x) -> Tensor:
    return constant(np.isfinite(_operand(x).data))


# ---------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------

def _reduce_const(name: str, fn, x, axis, keepdims, dtype=None) -> Tensor:
    x = _operand(x)
    axes = _norm_axis(axis, x.ndim, name)
    out = _arr(fn(x.data, axis=axes, keepdims=keepdims))
    return constant(out if dtype is None else out.astype(dtype))


def any(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether any element is nonzero, over ``axis``."""
    return _reduce_const("any", np.any, x, axis, keepdims)


def all(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether every element is nonzero, over ``axis``."""
    return _reduce_const("all", np.all, x, axis, keepdims)


def count_nonzero(x, axis=None) -> Tensor:
    return _reduce_const("count_nonzero", np.count_nonzero, x, axis, False, np.int32)


def _arg(name: str, fn, x, axis, keepdims) -> Tensor:
    x = _operand(x)
    if x.size == 0:
        raise ValueError(f"{name}: attempt to get {name} of an empty tensor of shape {x.shape}")
    if axis is not None:
        _norm_axis(axis, x.ndim, name)
    return constant(_arr(fn(x.data, axis=axis, keepdims=keepdims)).astype(np.int32))


def argmax(x, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the largest value (first one on ties) over ``axis`` (flattened when None),
    int32."""
    return _arg("argmax", np.argmax, x, axis, keepdims)


def argmin(x, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the smallest value (first one on ties) over ``axis``, int32."""
    return _arg("argmin", np.argmin, x, axis, keepdims)


def max(x, axis=None, keepdims: bool = False, initial=None) -> Tensor:  # noqa: A001
    """Largest value over ``axis``; ``initial`` also takes part (and makes an empty
    reduction defined)."""
    return _extremum_initial(core.max, core.maximum, x, axis, keepdims, initial)


def min(x, axis=None, keepdims: bool = False, initial=None) -> Tensor:  # noqa: A001
    """Smallest value over ``axis``; ``initial`` also takes part."""
    return _extremum_initial(core.min, core.minimum, x, axis, keepdims, initial)


def _extremum_initial(reduce, pairwise, x, axis, keepdims, initial):
    x = _operand(x)
    if initial is None:
        return reduce(x, axis, keepdims)
    axes = _norm_axis(axis, x.ndim, reduce.__name__)
    if builtins.any(x.shape[a] == 0 for a in axes) or x.size == 0:
        shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape)) if keepdims else \
            tuple(s for i, s in enumerate(x.shape) if i not in axes)
        return constant(backend.xp(x.data).full(shape, initial, dtype=x.data.dtype))
    return pairwise(reduce(x, axis, keepdims), initial)


def std(x, axis=None, keepdims: bool = False) -> Tensor:
    """Population standard deviation (ddof=0), as Keras and ``numpy.std``."""
    return core.sqrt(core.var(x, axis, keepdims))


def _to_last(x: Tensor, axes):
    """``x`` with ``axes`` moved to the end and merged into one: (rest..., n)."""
    rest = [i for i in range(x.ndim) if i not in axes]
    perm = rest + list(axes)
    xd = np.transpose(x.data, perm)
    n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    return xd.reshape(xd.shape[:len(rest)] + (n,)), perm


def prod(x, axis=None, keepdims: bool = False, dtype=None) -> Tensor:
    """Product over ``axis``; the gradient (product of the other elements) is exact with
    zeros present."""
    x = _operand(x)
    if dtype is not None:
        x = core.cast(x, dtype)
    axes = _norm_axis(axis, x.ndim, "prod")
    flat, perm = _to_last(x, axes)
    out = _arr(np.prod(x.data, axis=axes, keepdims=keepdims))

    def backward(g):
        ones = backend.xp(flat).ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
        left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        gk = g if not keepdims else np.squeeze(g, axes) if axes else g
        gf = gk[..., None] * left * right
        moved = gf.reshape([x.shape[p] for p in perm])
        return (moved.transpose(tuple(int(i) for i in np.argsort(perm))),)
    return make_op(out, (x,), backward, "prod")


def _scan(name: str, x, axis, dtype):
    x = _operand(x)
    if dtype is not None:
        x = core.cast(x, dtype)
    if axis is None:
        x = core.reshape(x, (-1,))
        axis = 0
    ax = _norm_axis(axis, x.ndim, name)[0] if x.ndim else 0
    return x, ax


def cumsum(x, axis=None, dtype=None) -> Tensor:
    """Running sum along ``axis`` (over the flattened input when None)."""
    x, ax = _scan("cumsum", x, axis, dtype)
    out = np.cumsum(x.data, axis=ax)
    return make_op(out, (x,), lambda g: (np.flip(np.cumsum(np.flip(g, ax), axis=ax), ax),), "cumsum")


def cumprod(x, axis=None, dtype=None) -> Tensor:
    """Running product along ``axis`` (over the flattened input when None)."""
    x, ax = _scan("cumprod", x, axis, dtype)
    xd = x.data
    out = np.cumprod(xd, axis=ax)

    def backward(g):
        # d out_j / d x_i = prod_{k <= j, k != i} x_k: the exclusive products, zero-safe
        n = xd.shape[ax]
        xm = np.moveaxis(xd, ax, -1)
        gm = np.moveaxis(g, ax, -1)
        res = np.zeros_like(xm)
        for i in range(n):
            others = np.concatenate([xm[..., :i], np.ones_like(xm[..., i:i + 1]), xm[..., i + 1:]], axis=-1)
            res[..., i] = (gm[..., i:] * np.cumprod(others, axis=-1)[..., i:]).sum(axis=-1)
        return (np.moveaxis(res, -1, ax),)
    return make_op(out, (x,), backward, "cumprod")


def average(x, axis=None, weights=None) -> Tensor:
    """Mean over ``axis`` weighted by ``weights`` (a 1-D weight vector along ``axis``, or
    ``x``'s shape); differentiable in both."""
    x = _floating(x)
    if weights is None:
        return core.mean(x, axis)
    w = _floating(weights)
    if w.shape != x.shape:
        if axis is None or w.ndim != 1 or w.shape[0] != x.shape[_norm_axis(axis, x.ndim, "average")[0]]:
            raise ValueError(f"average: weights must have x's shape {x.shape} or be 1-D along axis {axis}. "
                             f"Received: weights.shape={w.shape}")
        ax = _norm_axis(axis, x.ndim, "average")[0]
        w = core.reshape(w, [-1 if i == ax else 1 for i in range(x.ndim)])
    return core.div(core.sum(core.mul(x, w), axis), core.sum(core.mul(core.constant(backend.xp(x.data).ones(x.shape, x.data.dtype)), w), axis))


def isclose(x1, x2, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    a, b = _pair(x1, x2)
    return constant(np.isclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def in_top_k(targets, predictions, k: int) -> Tensor:
    """Whether each row's target class scores among its ``k`` largest predictions (ties
    with the k-th value count, as ``tf.math.in_top_k``)."""
    p = _operand(predictions).data
    t = as_array_like(targets, p).astype(np.int64)
    if p.ndim != 2 or t.shape != p.shape[:1]:
        raise ValueError(f"in_top_k: predictions must be (batch, classes) and targets (batch,). "
                         f"Received: predictions.shape={p.shape}, targets.shape={t.shape}")
    if int(k) <= 0:
        return constant(backend.xp(p).zeros(t.shape, bool))
    kth = -np.sort(-p, axis=1)[:, builtins.min(int(k), p.shape[1]) - 1]
    return constant(p[backend.xp(p).arange(len(t)), t] >= kth)


def _install():
    import sys
    from .. import tensor
    tensor._ops.math_ops = sys.modules[__name__]


_install()  # Tensor's // and % call this module
