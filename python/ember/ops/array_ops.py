"""Array creation, gathering and reordering (the ``keras.ops`` names).

Everything that picks elements (take, flip, repeat, sort, top_k, the non-constant pad
modes, ...) is a gather through ``core.getitem``, so its gradient is that one scatter.
Creation functions default to float32 (int32 for integer ``arange``), as Keras.
"""
from __future__ import annotations

import builtins
from typing import List, Optional, Sequence

import numpy as np

from .. import backend
from ..tensor import Tensor, as_array, make_op
from . import core
from .core import _norm_axis, _operand, constant

_int32 = np.dtype(np.int32)


def _dtype(dtype, default="float32") -> np.dtype:
    try:
        return np.dtype(default if dtype is None else dtype)
    except TypeError:
        raise TypeError(f"unknown dtype. Received: dtype={dtype!r}") from None


def _shape(shape, op: str):
    try:
        out = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    except (TypeError, ValueError):
        raise ValueError(f"{op}: shape must be a tuple of integers. Received: shape={shape!r}") from None
    if builtins.any(s < 0 for s in out):
        raise ValueError(f"{op}: shape must not have negative dimensions. Received: shape={out}")
    return out


def _index(x) -> np.ndarray:
    """Integer indices from a Tensor, array or list (float-valued integers allowed)."""
    arr = as_array(x)  # stays on its device
    if arr.dtype.kind == "f":
        if arr.size and not bool(((arr % 1) == 0).all()):
            raise ValueError(f"indices must be integers. Received: {arr!r}")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iub":
        raise TypeError(f"indices must be integers. Received: dtype={arr.dtype}")
    return arr.astype(np.intp, copy=False)


# ---------------------------------------------------------------------------------------
# creation
# ---------------------------------------------------------------------------------------

# New arrays are created on the current device (ember.set_device), as Keras creates them on
# its default device; the *_like functions on the device of their argument.

def zeros(shape, dtype=None) -> Tensor:
    return constant(backend.current_xp().zeros(_shape(shape, "zeros"), _dtype(dtype)))


def ones(shape, dtype=None) -> Tensor:
    return constant(backend.current_xp().ones(_shape(shape, "ones"), _dtype(dtype)))


def _fill(value, xp):
    v = as_array(value)
    return v if backend.xp(v) is xp else backend.to_device(v, "cpu" if xp is np else "cuda")


def full(shape, fill_value, dtype=None) -> Tensor:
    xp = backend.current_xp()
    return constant(xp.full(_shape(shape, "full"), _fill(fill_value, xp), _dtype(dtype)))


def zeros_like(x, dtype=None) -> Tensor:
    x = _operand(x)
    return constant(backend.xp(x.data).zeros(x.shape, _dtype(dtype, x.data.dtype)))


def ones_like(x, dtype=None) -> Tensor:
    x = _operand(x)
    return constant(backend.xp(x.data).ones(x.shape, _dtype(dtype, x.data.dtype)))


def full_like(x, fill_value, dtype=None) -> Tensor:
    x = _operand(x)
    xp = backend.xp(x.data)
    return constant(xp.full(x.shape, _fill(fill_value, xp), _dtype(dtype, x.data.dtype)))


def arange(start, stop=None, step=None, dtype=None) -> Tensor:
    """Evenly spaced values in [start, stop); int32 when all arguments are integers, else
    float32 (Keras' defaults)."""
    args = [a for a in (start, stop, step) if a is not None]
    if step == 0:
        raise ValueError("arange: step must not be zero. Received: step=0")
    if dtype is None:
        dtype = "int32" if builtins.all(isinstance(a, (int, np.integer)) for a in args) else "float32"
    if stop is None:
        start, stop = 0, start
    return constant(backend.current_xp().arange(start, stop, 1 if step is None else step).astype(_dtype(dtype)))


def eye(N: int, M: Optional[int] = None, k: int = 0, dtype=None) -> Tensor:
    return constant(backend.current_xp().eye(int(N), None if M is None else int(M), int(k), dtype=_dtype(dtype)))


def linspace(start, stop, num: int = 50, endpoint: bool = True, retstep: bool = False, dtype=None, axis: int = 0):
    """``num`` evenly spaced values from start to stop (``numpy.linspace``), float32."""
    if int(num) < 0:
        raise ValueError(f"linspace: num must be non-negative. Received: num={num}")
    out = np.linspace(np.asarray(start), np.asarray(stop), int(num), endpoint=endpoint, retstep=retstep, axis=axis)
    if retstep:
        return constant(backend.to_device(out[0].astype(_dtype(dtype)))), out[1]
    return constant(backend.to_device(out.astype(_dtype(dtype))))  # on the current device, as zeros()


def one_hot(x, num_classes: int, axis: int = -1, dtype=None) -> Tensor:
    """A one at each index of ``x`` along a new ``axis`` of size ``num_classes``; an index
    outside [0, num_classes) gives a row of zeros (as JAX and TensorFlow)."""
    idx = _index(x)
    n = int(num_classes)
    if n < 1:
        raise ValueError(f"one_hot: num_classes must be positive. Received: num_classes={num_classes}")
    xp = backend.xp(idx)
    out = (idx[..., None] == xp.arange(n)).astype(_dtype(dtype))
    if axis not in (-1, idx.ndim):
        out = xp.moveaxis(out, -1, axis)
    return constant(out)


def meshgrid(*x, indexing: str = "xy") -> List[Tensor]:
    """Coordinate grids from 1-D inputs (``numpy.meshgrid``); differentiable."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij'. Received: indexing={indexing!r}")
    ts = [core.reshape(_operand(t), (-1,)) for t in x]
    sizes = [t.shape[0] for t in ts]
    if indexing == "xy" and len(ts) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, t in enumerate(ts):
        pos = (1 - i if i < 2 else i) if indexing == "xy" and len(ts) >= 2 else i
        shape = [1] * len(ts)
        shape[pos] = t.shape[0]
        out.append(core.broadcast_to(core.reshape(t, shape), sizes))
    return out


def tril(x, k: int = 0) -> Tensor:
    """The lower triangle of the last two axes (the rest zeroed)."""
    return _triangle(x, k, True)


def triu(x, k: int = 0) -> Tensor:
    """The upper triangle of the last two axes (the rest zeroed)."""
    return _triangle(x, k, False)


def _triangle(x, k, lower):
    x = _operand(x)
    if x.ndim < 2:
        raise ValueError(f"{'tril' if lower else 'triu'}: input must be at least 2-D. Received: shape={x.shape}")
    n, m = x.shape[-2:]
    xp = backend.xp(x.data)
    keep = xp.tri(n, m, k, dtype=bool) if lower else ~xp.tri(n, m, k - 1, dtype=bool)
    return make_op(xp.where(keep, x.data, 0).astype(x.data.dtype), (x,), lambda g: (g * keep,),
                   "tril" if lower else "triu")


def diag(x, k: int = 0) -> Tensor:
    """A 1-D input as the ``k``-th diagonal of a square matrix; a 2-D input's ``k``-th
    diagonal."""
    x = _operand(x)
    if x.ndim == 2:
        n = builtins.max(0, builtins.min(x.shape[0] - builtins.max(0, -k), x.shape[1] - builtins.max(0, k)))
        r = np.arange(n) + builtins.max(0, -k)
        return core.getitem(x, (r, r + k))
    if x.ndim != 1:
        raise ValueError(f"diag: input must be 1-D or 2-D. Received: shape={x.shape}")
    n = x.shape[0] + builtins.abs(k)
    xp = backend.xp(x.data)
    r = xp.arange(x.shape[0])
    rows, cols = (r, r + k) if k >= 0 else (r - k, r)
    out = xp.zeros((n, n), dtype=x.data.dtype)
    out[rows, cols] = x.data
    return make_op(out, (x,), lambda g: (g[rows, cols],), "diag")


# ---------------------------------------------------------------------------------------
# gathers
# ---------------------------------------------------------------------------------------

def _axis(axis, ndim: int, op: str) -> int:
    return _norm_axis(int(axis), ndim, op)[0]


def _along(axis: int, idx) -> tuple:
    return (builtins.slice(None),) * axis + (idx,)


def take(x, indices, axis: Optional[int] = None) -> Tensor:
    """Elements of ``x`` at ``indices`` along ``axis`` (of the flattened ``x`` when None);
    negative indices count from the end."""
    x = _operand(x)
    idx = _index(indices)
    if axis is None:
        x, axis = core.reshape(x, (-1,)), 0
    ax = _axis(axis, x.ndim, "take")
    n = x.shape[ax]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise ValueError(f"take: indices must be in [-{n}, {n}) for axis {axis} of shape {x.shape}. "
                         f"Received: min={idx.min()}, max={idx.max()}")
    return core.getitem(x, _along(ax, idx))


def take_along_axis(x, indices, axis: Optional[int] = None) -> Tensor:
    """``numpy.take_along_axis``: ``indices`` has ``x``'s rank and picks along ``axis``
    (other axes broadcast)."""
    x = _operand(x)
    idx = _index(indices)
    if axis is None:
        x, axis = core.reshape(x, (-1,)), 0
    ax = _axis(axis, x.ndim, "take_along_axis")
    if idx.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices must have the rank of x ({x.ndim}). "
                         f"Received: x.shape={x.shape}, indices.shape={idx.shape}")
    n = x.shape[ax]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise ValueError(f"take_along_axis: indices must be in [-{n}, {n}) for axis {axis} of shape {x.shape}. "
                         f"Received: min={idx.min()}, max={idx.max()}")
    shape = [builtins.max(a, b) if i != ax else b for i, (a, b) in enumerate(zip(x.shape, idx.shape))]
    try:
        idx = backend.xp(idx).broadcast_to(idx, shape)
        x = core.broadcast_to(x, [s if i != ax else x.shape[ax] for i, s in enumerate(shape)])
    except ValueError:
        raise ValueError(f"take_along_axis: shapes do not broadcast outside axis {axis}. "
                         f"Received: x.shape={x.shape}, indices.shape={idx.shape}") from None
    grids = list(np.ix_(*[np.arange(s) for s in shape])) if shape else []
    grids[ax] = idx
    return core.getitem(x, tuple(grids))


def flip(x, axis=None) -> Tensor:
    """``x`` reversed along ``axis`` (all axes when None)."""
    x = _operand(x)
    axes = _norm_axis(axis, x.ndim, "flip")
    return core.getitem(x, tuple(builtins.slice(None, None, -1) if i in axes else builtins.slice(None) for i in range(x.ndim)))


def roll(x, shift, axis=None) -> Tensor:
    """Elements shifted along ``axis`` with wrap-around (of the flattened ``x`` when None)."""
    x = _operand(x)
    if axis is None:
        return core.reshape(roll(core.reshape(x, (-1,)), shift, 0), x.shape)
    ax = _axis(axis, x.ndim, "roll")
    n = x.shape[ax]
    return core.getitem(x, _along(ax, (np.arange(n) - int(shift)) % builtins.max(n, 1)))


def repeat(x, repeats, axis: Optional[int] = None) -> Tensor:
    """Each element repeated ``repeats`` times along ``axis`` (flattened when None)."""
    x = _operand(x)
    if axis is None:
        x, axis = core.reshape(x, (-1,)), 0
    ax = _axis(axis, x.ndim, "repeat")
    try:
        src = np.repeat(np.arange(x.shape[ax]), _index(repeats))
    except ValueError as e:
        raise ValueError(f"repeat: repeats must be a non-negative integer or one per element of axis {axis} "
                         f"(shape {x.shape}): {e}") from None
    return core.getitem(x, _along(ax, src))


def tile(x, repeats) -> Tensor:
    """``x`` repeated ``repeats[i]`` times along each axis (``numpy.tile``)."""
    x = _operand(x)
    reps = tuple(int(r) for r in np.atleast_1d(_index(repeats)))
    if builtins.any(r < 0 for r in reps):
        raise ValueError(f"tile: repeats must be non-negative. Received: repeats={reps}")
    nd = builtins.max(x.ndim, len(reps))
    reps = (1,) * (nd - len(reps)) + reps
    x = core.reshape(x, (1,) * (nd - x.ndim) + x.shape)
    shape = x.shape
    out = np.tile(x.data, reps)

    def backward(g):  # (r0, s0, r1, s1, ...) summed over the r axes
        split = g.reshape([v for pair in zip(reps, shape) for v in pair])
        return (split.sum(axis=tuple(range(0, 2 * nd, 2))),)
    return make_op(out, (x,), backward, "tile")


def split(x, indices_or_sections, axis: int = 0) -> List[Tensor]:
    """``x`` cut along ``axis`` into equal sections (an int) or at the given indices."""
    x = _operand(x)
    ax = _axis(axis, x.ndim, "split")
    n = x.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: {k} sections do not divide axis {axis} of shape {x.shape} equally")
        cuts = [n // k * i for i in range(1, k)]
    else:
        cuts = [int(c) for c in np.atleast_1d(_index(indices_or_sections))]
    bounds = [0] + cuts + [n]
    return [core.getitem(x, _along(ax, builtins.slice(lo, builtins.max(lo, hi)))) for lo, hi in zip(bounds[:-1], bounds[1:])]


def argsort(x, axis: int = -1) -> Tensor:
    """Indices that sort ``x`` ascending along ``axis`` (stable), int32."""
    x = _operand(x)
    if axis is None:
        x, axis = core.reshape(x, (-1,)), 0
    ax = _axis(axis, x.ndim, "argsort") if x.ndim else 0
    return constant(np.argsort(x.data, axis=ax, kind="stable").astype(_int32))


def sort(x, axis: int = -1) -> Tensor:
    """``x`` sorted ascending along ``axis``; the gradient follows each element."""
    x = _operand(x)
    if axis is None:
        x, axis = core.reshape(x, (-1,)), 0
    if x.ndim == 0:
        return x
    return take_along_axis(x, argsort(x, axis), axis)


def top_k(x, k: int, sorted: bool = True):  # noqa: A002
    """The ``k`` largest values along the last axis and their indices (int32), largest
    first (the lower index first among equal values)."""
    x = _operand(x)
    if x.ndim == 0 or not 0 <= int(k) <= x.shape[-1]:
        raise ValueError(f"top_k: k must be in [0, {x.shape[-1] if x.ndim else 0}] for an input of shape "
                         f"{x.shape}. Received: k={k}")
    order = np.argsort(-x.data if x.data.dtype.kind != "b" else ~x.data, axis=-1, kind="stable")[..., :int(k)]
    idx = constant(order.astype(_int32))
    return take_along_axis(x, idx, -1), idx


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def pad(x, pad_width, mode: str = "constant", constant_values=None) -> Tensor:
    """``numpy.pad`` for the modes constant, edge, reflect, symmetric and wrap."""
    x = _operand(x)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}. Received: mode={mode!r}")
    try:
        pw = np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width must be one (before, after) pair per axis of shape {x.shape}. "
                         f"Received: pad_width={pad_width!r}") from None
    if (pw < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative. Received: pad_width={pw.tolist()}")
    if mode == "constant":
        return core.pad(x, pw, 0 if constant_values is None else constant_values)
    if constant_values is not None:
        raise ValueError(f"pad: constant_values applies only to mode='constant'. Received: mode={mode!r}")
    for i, (lo, hi) in enumerate(pw):
        if lo or hi:  # the source index of every padded position along axis i
            try:
                src = np.pad(np.arange(x.shape[i]), (lo, hi), mode=mode)
            except ValueError as e:
                raise ValueError(f"pad: cannot pad axis {i} of shape {x.shape} in mode {mode!r}: {e}") from None
            x = core.getitem(x, _along(i, src))
    return x


def nonzero(x):
    """Indices of the nonzero elements, one int32 Tensor per axis."""
    return tuple(constant(i.astype(_int32)) for i in np.nonzero(_operand(x).data))


def where(condition, x1=None, x2=None):
    """``x1`` where ``condition`` else ``x2`` (differentiable in both); with neither given,
    ``nonzero(condition)``."""
    if x1 is None and x2 is None:
        return nonzero(condition)
    if x1 is None or x2 is None:
        raise ValueError("where: give both x1 and x2, or neither")
    return core.where(condition, x1, x2)


def slice(inputs, start_indices: Sequence[int], shape: Sequence[int]) -> Tensor:  # noqa: A001
    """The block of ``shape`` starting at ``start_indices`` (``lax.dynamic_slice`` style)."""
    x = _operand(inputs)
    starts = [int(s) for s in np.atleast_1d(_index(start_indices))]
    sizes = [int(s) for s in shape]
    if len(starts) != x.ndim or len(sizes) != x.ndim:
        raise ValueError(f"slice: start_indices and shape need one entry per axis of shape {x.shape}. "
                         f"Received: start_indices={starts}, shape={sizes}")
    return core.getitem(x, tuple(builtins.slice(s, s + n) for s, n in zip(starts, sizes)))


def moveaxis(x, source, destination) -> Tensor:
    x = _operand(x)
    src = [_axis(a, x.ndim, "moveaxis") for a in np.atleast_1d(source)]
    dst = [_axis(a, x.ndim, "moveaxis") for a in np.atleast_1d(destination)]
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source and destination need the same number of axes. "
                         f"Received: source={source}, destination={destination}")
    perm = [a for a in range(x.ndim) if a not in src]  # the input axis of each output axis
    for d, s in sorted(zip(dst, src)):
        perm.insert(d, s)
    return core.transpose(x, perm)


def swapaxes(x, axis1: int, axis2: int) -> Tensor:
    return core.swapaxes(_operand(x), axis1, axis2)


def ravel(x) -> Tensor:
    return core.reshape(_operand(x), (-1,))


def unstack(x, num: Optional[int] = None, axis: int = 0) -> List[Tensor]:
    """The slices of ``x`` along ``axis``, as a list (each differentiable)."""
    x = _operand(x)
    ax = _axis(axis, x.ndim, "unstack")
    if num is not None and int(num) != x.shape[ax]:
        raise ValueError(f"unstack: num={num} does not match axis {axis} of shape {x.shape}")
    return [core.getitem(x, _along(ax, i)) for i in range(x.shape[ax])]


def identity(n: int, dtype=None) -> Tensor:
    return eye(n, dtype=dtype)


def tri(N: int, M: Optional[int] = None, k: int = 0, dtype=None) -> Tensor:
    """Ones at and below the ``k``-th diagonal of an N x M matrix."""
    return constant(backend.current_xp().tri(int(N), None if M is None else int(M), int(k), dtype=_dtype(dtype)))


def empty(shape, dtype=None) -> Tensor:
    """A tensor of ``shape`` (zeros: ember never hands out uninitialised memory)."""
    return zeros(shape, dtype)


def append(x1, x2, axis: Optional[int] = None) -> Tensor:
    """``x2`` joined after ``x1`` along ``axis`` (both flattened when None)."""
    a, b = _operand(x1), _operand(x2)
    if axis is None:
        a, b, axis = core.reshape(a, (-1,)), core.reshape(b, (-1,)), 0
    return core.concatenate([a, b], axis=axis)


def hstack(xs) -> Tensor:
    ts = [_operand(t) for t in xs]
    return core.concatenate(ts, axis=0 if builtins.all(t.ndim == 1 for t in ts) else 1)


def vstack(xs) -> Tensor:
    ts = [_operand(t) for t in xs]
    return core.concatenate([core.reshape(t, (1, -1)) if t.ndim < 2 else t for t in ts], axis=0)
