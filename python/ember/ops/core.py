"""Core differentiable ops: arithmetic, reductions, shapes, elementwise math.

Each op computes its forward on arrays and returns ``make_op(out, parents, backward)``
with its backward beside it. Gradients of broadcast operands are summed back to their
shapes by the engine.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import builtins
import math

import numpy as np

from .. import backend
from ..tensor import Tensor, as_tensor, make_op

_bmax = builtins.max

Axis = Optional[Union[int, Tuple[int, ...]]]

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def constant(arr) -> Tensor:
    """Wrap an array of any numeric dtype (int and bool included, which the Tensor
    constructor turns into floats) as a Tensor outside the graph."""
    return make_op(arr, (), None, "constant")


def _operand(x, like=None) -> Tensor:
    """``x`` as a Tensor. A Python number adopts the dtype of ``like`` (a Tensor) unless it
    is a float meeting an integer tensor, which makes float32 (Keras' promotion); integer
    and bool arrays keep their dtype."""
    if isinstance(x, Tensor):
        return x
    if like is not None and np.isscalar(x):
        dt = like.data.dtype
        if dt.kind in "biu" and isinstance(x, (float, np.floating)):
            dt = np.dtype(np.float32)
        elif dt.kind == "b" and not isinstance(x, (bool, np.bool_)):
            dt = np.dtype(np.int32)
        return constant(backend.xp(like.data).asarray(x, dtype=dt))
    if backend.is_array(x):
        arr = x
    else:
        arr = np.asarray(x)
        if arr.dtype.kind in "iu" and not isinstance(x, np.generic):
            arr = arr.astype(np.int32)  # Python ints are int32, as in Keras
    if like is not None and backend.device_of(arr) != backend.device_of(like.data):
        # a host constant (a list, a NumPy array) meeting a device tensor goes to its device
        # explicitly, as Keras converts constants; a device array never goes to the host
        arr = backend.to_device(arr, backend.device_of(like.data))
    if arr.dtype.kind in "biu":
        return constant(arr)
    if like is not None and like.data.dtype.kind == "f":
        return as_tensor(arr, like.data.dtype)  # float data adopts the tensor's precision
    return as_tensor(arr)


def result_dtype(*dtypes) -> np.dtype:
    """The dtype two operands meet in: an integer or bool operand takes the float one's
    dtype (int32 + float32 is float32, as in Keras, not NumPy's float64); otherwise NumPy's
    promotion."""
    dts = [np.dtype(d) for d in dtypes]
    floats = [d for d in dts if d.kind == "f"]
    if floats and len(floats) < len(dts):
        return np.result_type(*floats)
    return np.result_type(*dts)


def _pair(a, b):
    """Both operands as Tensors of one dtype (a Python scalar adopts the other's)."""
    a = _operand(a, b if isinstance(b, Tensor) else None)
    b = _operand(b, a)
    if type(a.data) is not type(b.data):
        _same_device(a, b)
    if a.data.dtype != b.data.dtype:
        dt = result_dtype(a.data.dtype, b.data.dtype)
        a, b = as_tensor(a, dt), as_tensor(b, dt)
    return a, b


def _same_device(*ts) -> None:
    """Tensors meeting in one op must live on one device (no silent copy between them)."""
    devs = {backend.device_of(t.data) for t in ts}
    if len(devs) > 1:
        raise RuntimeError(f"an op got tensors on different devices {sorted(devs)}; move them to one device "
                           "with Tensor.to('cpu') or Tensor.to('cuda') (ember copies between devices only when asked)")


def _floating(a) -> Tensor:
    """``a`` as a float Tensor: integer and bool tensors become float32 (Keras' rule for
    exp, log, sqrt, mean ...)."""
    a = _operand(a)
    return a if a.data.dtype.kind == "f" else cast(a, np.float32)


def _check_broadcast(op: str, a: Tensor, b: Tensor) -> None:
    try:
        np.broadcast_shapes(a.data.shape, b.data.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None


# ---------------------------------------------------------------------------------------
# arithmetic
# ---------------------------------------------------------------------------------------

def add(a, b) -> Tensor:
    a, b = _pair(a, b)
    _check_broadcast("add", a, b)
    return make_op(a.data + b.data, (a, b), lambda g: (g, g), "add")


def sub(a, b) -> Tensor:
    a, b = _pair(a, b)
    _check_broadcast("sub", a, b)
    return make_op(a.data - b.data, (a, b), lambda g: (g, -g), "sub")


def mul(a, b) -> Tensor:
    a, b = _pair(a, b)
    _check_broadcast("mul", a, b)
    ad, bd = a.data, b.data
    return make_op(ad * bd, (a, b), lambda g: (g * bd if a.requires_grad else None,
                                               g * ad if b.requires_grad else None), "mul")


def div(a, b) -> Tensor:
    """a / b; integer operands divide as float32 (Keras' rule)."""
    a, b = _pair(a, b)
    if a.data.dtype.kind != "f":
        a, b = cast(a, np.float32), cast(b, np.float32)
    _check_broadcast("div", a, b)
    ad, bd = a.data, b.data
    out = ad / bd

    def backward(g):
        return (g / bd if a.requires_grad else None,
                -g * out / bd if b.requires_grad else None)
    return make_op(out, (a, b), backward, "div")


def neg(a) -> Tensor:
    a = _operand(a)
    return make_op(-a.data, (a,), lambda g: (-g,), "neg")


def power(a, b) -> Tensor:
    """a ** b elementwise; b may be a Tensor (gradient through both) or a number."""
    if not isinstance(b, Tensor) and np.isscalar(b):
        a = _operand(a)
        p = float(b)
        ad = a.data
        out = ad ** p
        if p == 2.0:
            return make_op(out, (a,), lambda g: (g * 2.0 * ad,), "square")
        return make_op(out, (a,), lambda g: (g * p * ad ** (p - 1),), "pow")
    a, b = _pair(a, b)
    _check_broadcast("pow", a, b)
    ad, bd = a.data, b.data
    out = ad ** bd

    def backward(g):
        ga = g * bd * ad ** (bd - 1) if a.requires_grad else None
        gb = None
        if b.requires_grad:
            xp = backend.xp(ad)
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = xp.where(ad > 0, g * out * xp.log(xp.where(ad > 0, ad, 1)), 0).astype(out.dtype)
        return ga, gb
    return make_op(out, (a, b), backward, "pow")


def square(a) -> Tensor:
    return power(a, 2)


def maximum(a, b) -> Tensor:
    a, b = _pair(a, b)
    _check_broadcast("maximum", a, b)
    mask = a.data >= b.data
    return make_op(backend.xp(a.data).maximum(a.data, b.data), (a, b), lambda g: (g * mask, g * ~mask), "maximum")


def minimum(a, b) -> Tensor:
    a, b = _pair(a, b)
    _check_broadcast("minimum", a, b)
    mask = a.data <= b.data
    return make_op(backend.xp(a.data).minimum(a.data, b.data), (a, b), lambda g: (g * mask, g * ~mask), "minimum")


def where(cond, a, b) -> Tensor:
    """Elementwise ``a if cond else b``; ``cond`` is not differentiated."""
    a, b = _pair(a, b)
    xp = backend.xp(a.data)
    c = cond.data if isinstance(cond, Tensor) else cond
    c = (c if backend.is_array(c) else np.asarray(c)).astype(bool)
    if backend.device_of(c) != backend.device_of(a.data):
        c = backend.to_device(c, backend.device_of(a.data))
    out = xp.where(c, a.data, b.data)
    return make_op(out, (a, b), lambda g: (xp.where(c, g, 0), xp.where(c, 0, g)), "where")


def cast(a, dtype) -> Tensor:
    """``a`` converted to ``dtype``; the gradient flows only between float dtypes (a cast
    to an integer or bool has none, as in Keras)."""
    a = _operand(a)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"cast: unknown dtype. Received: dtype={dtype!r}") from None
    src = a.data.dtype
    if dt.kind != "f" or src.kind != "f":
        return constant(a.data.astype(dt))
    return make_op(a.data.astype(dt), (a,), lambda g: (g.astype(src),), "cast")


# ---------------------------------------------------------------------------------------
# matmul
# ---------------------------------------------------------------------------------------

def matmul(a, b) -> Tensor:
    """Matrix product with ``numpy.matmul`` semantics (1-D, 2-D and batched, broadcast)."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must be at least 1-D. Received: shapes {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if ka != kb:
        raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} ({ka} != {kb})")
    if a.ndim == 1 or b.ndim == 1:  # promote vectors to matrices, squeeze after
        a2 = reshape(a, (1, -1)) if a.ndim == 1 else a
        b2 = reshape(b, (-1, 1)) if b.ndim == 1 else b
        out = matmul(a2, b2)
        if a.ndim == 1:
            out = squeeze(out, -2)
        if b.ndim == 1:
            out = squeeze(out, -1)
        return out
    kern = backend.ops(a.data)
    ad, bd = a.data, b.data
    out = kern.matmul(ad, bd)

    def backward(g):
        ga = gb = None
        if a.requires_grad:
            if bd.ndim == 2:
                ga = kern.matmul(g, bd.T) if g.ndim > 2 else kern.gemm(g, bd, trans_b=True)
            else:
                ga = kern.matmul(g, bd.swapaxes(-1, -2))
        if b.requires_grad:
            if bd.ndim == 2 and ad.ndim > 2:
                # sum over the batch folded into one GEMM: (K, rows) @ (rows, N)
                rows = math.prod(ad.shape[:-1])  # not reshape(-1, K): K or rows may be 0
                xp = backend.xp(ad)
                gb = kern.gemm(xp.ascontiguousarray(ad).reshape(rows, ad.shape[-1]),
                               xp.ascontiguousarray(g).reshape(rows, g.shape[-1]), trans_a=True)
            elif ad.ndim == 2 and bd.ndim == 2:
                gb = kern.gemm(ad, g, trans_a=True)
            else:
                gb = kern.matmul(ad.swapaxes(-1, -2), g)
        return ga, gb
    return make_op(out, (a, b), backward, "matmul")


# ---------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------

def _norm_axis(axis: Axis, ndim: int, op: str) -> Tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < _bmax(ndim, 1):
            raise ValueError(f"{op}: axis {ax} is out of range for a tensor of {ndim} dimensions")
        out.append(int(ax) % _bmax(ndim, 1))
    return tuple(sorted(set(out)))


def _expand_to(g, shape, axes, keepdims):
    """Re-insert reduced axes so ``g`` broadcasts against the input shape."""
    xp = backend.xp(g)
    if not keepdims and axes:
        g = xp.expand_dims(g, axes)
    return xp.broadcast_to(g, shape)


def sum(a, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis``; a bool tensor counts as int32 (Keras), other dtypes are kept."""
    a = _operand(a)
    if a.data.dtype.kind == "b":
        a = cast(a, np.int32)
    axes = _norm_axis(axis, a.ndim, "sum")
    shape = a.shape
    out = backend.xp(a.data).asarray(a.data.sum(axis=axes, keepdims=keepdims, dtype=a.data.dtype))  # int32 stays
    return make_op(out, (a,), lambda g: (_expand_to(g, shape, axes, keepdims),), "sum")


def mean(a, axis: Axis = None, keepdims: bool = False) -> Tensor:
    a = _floating(a)
    axes = _norm_axis(axis, a.ndim, "mean")
    shape = a.shape
    n = int(np.prod([shape[i] for i in axes])) if axes else 1
    out = backend.xp(a.data).asarray(a.data.mean(axis=axes, keepdims=keepdims))
    return make_op(out, (a,), lambda g: (_expand_to(g / n, shape, axes, keepdims),), "mean")


def var(a, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Population variance (ddof=0), like ``numpy.var`` and Keras."""
    a = _floating(a)
    d = a - mean(a, axis, keepdims=True)
    return mean(d * d, axis, keepdims)


def _extremum(a, axis, keepdims, name, fn):
    a = _operand(a)
    if a.size == 0:
        raise ValueError(f"{name}: reduction of an empty tensor of shape {a.shape}")
    axes = _norm_axis(axis, a.ndim, name)
    shape = a.shape
    xp = backend.xp(a.data)
    out_k = getattr(xp, fn)(a.data, axis=axes, keepdims=True)
    out = out_k if keepdims else xp.asarray(out_k.reshape([s for i, s in enumerate(shape) if i not in axes]))

    def backward(g):
        mask = a.data == out_k
        # ties share the gradient equally (what a subgradient average gives)
        count = mask.sum(axis=axes, keepdims=True)
        gk = g if keepdims else xp.expand_dims(g, axes)
        return (mask * (gk / count),)
    return make_op(out, (a,), backward, name)


def max(a, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _extremum(a, axis, keepdims, "max", "max")


def min(a, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _extremum(a, axis, keepdims, "min", "min")


# ---------------------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------------------

def reshape(a, shape: Sequence[int]) -> Tensor:
    a = _operand(a)
    src = a.shape
    try:
        out = a.data.reshape(tuple(shape))
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {src} ({a.size} elements) "
                         f"into shape {tuple(shape)}") from None
    return make_op(out, (a,), lambda g: (g.reshape(src),), "reshape")


def transpose(a, axes: Optional[Sequence[int]] = None) -> Tensor:
    a = _operand(a)
    if axes is None:
        axes = tuple(reversed(range(a.ndim)))
    axes = tuple(int(x) % a.ndim for x in axes) if a.ndim else ()
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {a.ndim} dimensions")
    inv = tuple(np.argsort(axes))
    return make_op(a.data.transpose(axes), (a,), lambda g: (g.transpose(inv),), "transpose")


def swapaxes(a, a1: int, a2: int) -> Tensor:
    a = _operand(a)
    axes = list(range(a.ndim))
    axes[a1], axes[a2] = axes[a2], axes[a1]
    return transpose(a, axes)


def squeeze(a, axis=None) -> Tensor:
    a = _operand(a)
    src = a.shape
    try:
        out = a.data.squeeze(axis)
    except ValueError:
        raise ValueError(f"squeeze: axis {axis} of shape {src} is not of size 1") from None
    return make_op(out, (a,), lambda g: (g.reshape(src),), "squeeze")


def expand_dims(a, axis) -> Tensor:
    a = _operand(a)
    src = a.shape
    return make_op(backend.xp(a.data).expand_dims(a.data, axis), (a,), lambda g: (g.reshape(src),), "expand_dims")


def broadcast_to(a, shape) -> Tensor:
    a = _operand(a)
    try:
        out = backend.xp(a.data).broadcast_to(a.data, tuple(shape))
    except ValueError:
        raise ValueError(f"broadcast_to: shape {a.shape} does not broadcast to {tuple(shape)}") from None
    return make_op(out, (a,), lambda g: (g,), "broadcast_to")


def _index_arrays(idx, like):
    """Unwrap Tensors inside an index (fancy indexing with integer Tensors); index arrays
    go to the device of the indexed array ``like`` (host-computed gather positions, a
    small explicit copy)."""
    if isinstance(idx, Tensor):
        idx = idx.data.astype(np.int64) if idx.data.dtype.kind == "f" else idx.data
    elif isinstance(idx, tuple):
        return tuple(_index_arrays(i, like) for i in idx)
    if backend.is_array(idx) and backend.device_of(idx) != backend.device_of(like):
        idx = backend.to_device(idx, backend.device_of(like))
    return idx


def getitem(a, idx) -> Tensor:
    """Indexing and slicing (basic and advanced); the gradient scatters back (adds repeats)."""
    a = _operand(a)
    idx = _index_arrays(idx, a.data)
    try:
        out = a.data[idx]
    except IndexError as e:
        raise IndexError(f"getitem: {e} (tensor shape {a.shape})") from None
    shape, dtype = a.shape, a.data.dtype
    xp = backend.xp(a.data)

    def backward(g):
        full = xp.zeros(shape, dtype=dtype)
        xp.add.at(full, idx, g)
        return (full,)
    if not isinstance(idx, tuple):
        basic = isinstance(idx, (int, slice, type(None), type(Ellipsis)))
    else:
        basic = all(isinstance(i, (int, slice, type(None), type(Ellipsis))) for i in idx)
    if basic:  # no repeats possible: plain assignment is enough and much faster than add.at
        def backward(g):  # noqa: F811
            full = xp.zeros(shape, dtype=dtype)
            full[idx] = g
            return (full,)
    return make_op(xp.asarray(out), (a,), backward, "getitem")


def concatenate(tensors: Sequence, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    ts = [_operand(t) for t in tensors]
    if not ts:
        raise ValueError("concatenate: needs at least one tensor")
    dt = result_dtype(*[t.data.dtype for t in ts])
    ts = [as_tensor(t, dt) for t in ts]
    xp = backend.xp(*[t.data for t in ts])
    try:
        out = xp.concatenate([t.data for t in ts], axis=axis)
    except ValueError as e:
        raise ValueError(f"concatenate: shapes {[t.shape for t in ts]} do not join on axis {axis}: {e}") from None
    ax = axis % out.ndim
    cuts = np.cumsum([t.shape[ax] for t in ts])[:-1]
    return make_op(out, tuple(ts), lambda g: tuple(xp.split(g, cuts.tolist(), axis=ax)), "concatenate")


def stack(tensors: Sequence, axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    ts = [_operand(t) for t in tensors]
    if not ts:
        raise ValueError("stack: needs at least one tensor")
    if len({t.shape for t in ts}) != 1:
        raise ValueError(f"stack: all tensors must have the same shape. Received: {[t.shape for t in ts]}")
    dt = result_dtype(*[t.data.dtype for t in ts])
    ts = [as_tensor(t, dt) for t in ts]
    xp = backend.xp(*[t.data for t in ts])
    out = xp.stack([t.data for t in ts], axis=axis)
    ax = axis % out.ndim
    return make_op(out, tuple(ts), lambda g: tuple(xp.moveaxis(g, ax, 0)), "stack")


def pad(a, pad_width, value: float = 0.0) -> Tensor:
    """Constant padding; ``pad_width`` as in ``numpy.pad``."""
    a = _operand(a)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (a.ndim, 2))
    out = backend.xp(a.data).pad(a.data, pw.tolist(), constant_values=value)
    sl = tuple(slice(int(lo), out.shape[i] - int(hi)) for i, (lo, hi) in enumerate(pw))
    return make_op(out, (a,), lambda g: (g[sl],), "pad")


# ---------------------------------------------------------------------------------------
# elementwise math
# ---------------------------------------------------------------------------------------

def exp(a) -> Tensor:
    a = _floating(a)
    out = backend.xp(a.data).exp(a.data)
    return make_op(out, (a,), lambda g: (g * out,), "exp")


def log(a) -> Tensor:
    a = _floating(a)
    ad = a.data
    return make_op(backend.xp(ad).log(ad), (a,), lambda g: (g / ad,), "log")


def sqrt(a) -> Tensor:
    a = _floating(a)
    out = backend.xp(a.data).sqrt(a.data)
    return make_op(out, (a,), lambda g: (g / (2 * out),), "sqrt")


def abs(a) -> Tensor:  # noqa: A001
    a = _operand(a)
    ad = a.data
    xp = backend.xp(ad)
    return make_op(xp.abs(ad), (a,), lambda g: (g * xp.sign(ad),), "abs")


def tanh(a) -> Tensor:
    a = _floating(a)
    out = backend.xp(a.data).tanh(a.data)
    return make_op(out, (a,), lambda g: (g * (1 - out * out),), "tanh")


def _kernel_act(xd, act: str, alpha: float = 0.0):
    """act(xd) through the fused bias+activation kernel (vectorised, NaN-preserving) when
    it applies (a float32/float64 ndarray with at least one element and one axis), as
    (out, backward(g, out) -> dx); else None."""
    if not (xd.dtype in _KERNEL_DTYPES and xd.ndim and xd.size):
        return None
    kern, xp = backend.ops(xd), backend.xp(xd)
    x2 = xp.ascontiguousarray(xd).reshape(-1, xd.shape[-1])
    out = kern.bias_act_forward(x2, None, act, alpha).reshape(xd.shape)

    def backward(g):
        g2 = xp.ascontiguousarray(g, dtype=xd.dtype).reshape(x2.shape)
        y2 = None if act == "gelu" else out.reshape(x2.shape)
        return kern.bias_act_backward(g2, y2, x2, None, act, alpha, False)[0].reshape(xd.shape)
    return out, backward


def _sigmoid_array(x):
    k = _kernel_act(x, "sigmoid")
    if k is not None:
        return k[0]
    # stable for large |x|: exp of a non-positive number only
    xp = backend.xp(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid(a) -> Tensor:
    a = _floating(a)
    k = _kernel_act(a.data, "sigmoid")
    if k is not None:
        return make_op(k[0], (a,), lambda g: (k[1](g),), "sigmoid")
    out = _sigmoid_array(a.data)
    return make_op(out, (a,), lambda g: (g * out * (1 - out),), "sigmoid")


def relu(a) -> Tensor:
    a = _operand(a)
    ad = a.data
    return make_op(backend.xp(ad).maximum(ad, 0), (a,), lambda g: (g * (ad > 0),), "relu")


def clip(a, lo=None, hi=None) -> Tensor:
    a = _operand(a)
    ad = a.data
    xp = backend.xp(ad)
    out = xp.clip(ad, lo, hi)
    inside = xp.ones(ad.shape, dtype=bool)
    if lo is not None:
        inside &= ad >= lo
    if hi is not None:
        inside &= ad <= hi
    return make_op(out, (a,), lambda g: (g * inside,), "clip")


def _install():
    import sys
    from .. import tensor
    tensor._ops.core = sys.modules[__name__]


_install()  # Tensor's operators (x + y, x[i], x.sum() ...) call this module
