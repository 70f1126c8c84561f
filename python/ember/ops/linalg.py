"""Contractions and norms: einsum, dot, tensordot, outer, norm (the ``keras.ops`` names).

``einsum`` is one op with its own backward (each operand's gradient is another einsum);
``dot``/``tensordot`` reshape onto ``core.matmul``; ``norm`` composes differentiable ops,
with the singular values (for ord 2, -2 and 'nuc') as one op of their own.
"""
from __future__ import annotations

import string
from typing import List, Sequence

import numpy as np

from .. import backend
from ..tensor import Tensor, make_op
from . import core
from .core import _floating, _norm_axis, _operand, _pair, result_dtype


# ---------------------------------------------------------------------------------------
# einsum
# ---------------------------------------------------------------------------------------

def _parse_einsum(subscripts: str, shapes: List[tuple]):
    """Explicit subscripts (ellipses spelled out with unused letters) and the output."""
    s = subscripts.replace(" ", "")
    lhs, arrow, out = s.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: subscripts {subscripts!r} name {len(ins)} operands. Received: {len(shapes)}")
    free = [c for c in string.ascii_letters if c not in s]
    ell_n = max([len(sh) - (len(t) - 3) for t, sh in zip(ins, shapes) if "..." in t] or [0])
    ell = "".join(free[:ell_n])
    spelled = []
    for t, sh in zip(ins, shapes):
        if "..." in t:
            k = len(sh) - (len(t) - 3)
            t = t.replace("...", ell[ell_n - k:] if k else "")
        if len(t) != len(sh):
            raise ValueError(f"einsum: subscript {t!r} does not match an operand of shape {sh}")
        spelled.append(t)
    if not arrow:  # implicit output: the letters used once, sorted, after the ellipsis
        counts = {c: "".join(spelled).count(c) for c in "".join(spelled)}
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return spelled, out


def _einsum_grad(i: int, subs: List[str], out: str, g, arrays, shape):
    """d(sum(g * einsum(...)))/d(operand i): g contracted with the other operands."""
    mine = subs[i]
    others = [(s, a) for j, (s, a) in enumerate(zip(subs, arrays)) if j != i]
    avail = set(out).union(*[set(s) for s, _ in others])
    target = "".join(dict.fromkeys(c for c in mine if c in avail))  # unique letters, in order
    expr = ",".join([out] + [s for s, _ in others]) + "->" + target
    gu = np.einsum(expr, g, *[a for _, a in others])
    sizes = dict(zip(mine, shape))
    # letters only in this operand were summed: the gradient is constant along them
    letters = "".join(dict.fromkeys(mine))
    missing = [c for c in letters if c not in target]
    gu = gu.reshape(gu.shape + (1,) * len(missing))
    have = target + "".join(missing)
    gu = np.broadcast_to(np.einsum(f"{have}->{letters}", gu), [sizes[c] for c in letters])
    if len(letters) == len(mine):
        return gu
    # repeated letters (a diagonal): scatter onto the positions where they agree
    full = backend.xp(gu).zeros(shape, dtype=gu.dtype)
    grids = np.indices(gu.shape, sparse=True)
    full[tuple(grids[letters.index(c)] for c in mine)] = gu
    return full


def einsum(subscripts: str, *operands) -> Tensor:
    """``numpy.einsum`` with a gradient for every operand (ellipses, implicit output and
    repeated indices included)."""
    ts = [_operand(t) for t in operands]
    dt = result_dtype(*[t.data.dtype for t in ts]) if ts else np.dtype(np.float32)
    ts = [t if t.data.dtype == dt else core.cast(t, dt) for t in ts]
    subs, out_s = _parse_einsum(subscripts, [t.shape for t in ts])
    arrays = [t.data for t in ts]
    expr = ",".join(subs) + "->" + out_s
    try:
        out = np.einsum(expr, *arrays)  # CuPy's einsum for device arrays (__array_function__)
        out = out if backend.is_array(out) else np.asarray(out)
    except ValueError as e:
        raise ValueError(f"einsum: {subscripts!r} does not fit operands of shapes "
                         f"{[t.shape for t in ts]}: {e}") from None

    def backward(g):
        return tuple(_einsum_grad(i, subs, out_s, g, arrays, t.shape) if t.requires_grad else None
                     for i, t in enumerate(ts))
    return make_op(out, tuple(ts), backward, "einsum")


# ---------------------------------------------------------------------------------------
# dot products
# ---------------------------------------------------------------------------------------

def tensordot(x1, x2, axes=2) -> Tensor:
    """Sum of products over ``axes`` of x1 and x2 (``numpy.tensordot``): an int N takes
    the last N axes of x1 and the first N of x2; a pair of lists names them."""
    a, b = _pair(x1, x2)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: axes={n} is out of range for shapes {a.shape} and {b.shape}")
        ax_a, ax_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        ax_a, ax_b = [list(np.atleast_1d(v)) for v in axes]
        ax_a = [_norm_axis(int(v), a.ndim, "tensordot")[0] for v in ax_a]
        ax_b = [_norm_axis(int(v), b.ndim, "tensordot")[0] for v in ax_b]
    if [a.shape[i] for i in ax_a] != [b.shape[i] for i in ax_b]:
        raise ValueError(f"tensordot: contracted sizes differ: axes {ax_a} of {a.shape} and {ax_b} of {b.shape}")
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [i for i in range(b.ndim) if i not in ax_b]
    k = int(np.prod([a.shape[i] for i in ax_a]))
    a2 = core.reshape(core.transpose(a, free_a + ax_a), (-1, k))
    b2 = core.reshape(core.transpose(b, ax_b + free_b), (k, -1))
    return core.reshape(core.matmul(a2, b2), [a.shape[i] for i in free_a] + [b.shape[i] for i in free_b])


def dot(x1, x2) -> Tensor:
    """``numpy.dot``: a product with scalars, ``matmul`` for 1-D and 2-D, otherwise the sum
    over the last axis of x1 and the second-to-last of x2."""
    a, b = _pair(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        return core.mul(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return core.matmul(a, b)
    kb = b.ndim - 2 if b.ndim >= 2 else 0
    if a.shape[-1] != b.shape[kb]:
        raise ValueError(f"dot: shapes {a.shape} and {b.shape} are not aligned ({a.shape[-1]} != {b.shape[kb]})")
    return tensordot(a, b, ([a.ndim - 1], [kb]))


def outer(x1, x2) -> Tensor:
    """Outer product of the flattened inputs."""
    a, b = _pair(x1, x2)
    return core.mul(core.reshape(a, (-1, 1)), core.reshape(b, (1, -1)))


# ---------------------------------------------------------------------------------------
# norms
# ---------------------------------------------------------------------------------------

def _singular_values(x: Tensor) -> Tensor:
    """Singular values of the last two axes, largest first; d s_i = u_i^T dX v_i."""
    u, s, vh = np.linalg.svd(x.data, full_matrices=False)
    return make_op(s, (x,), lambda g: ((u * g[..., None, :]) @ vh,), "singular_values")


def _vector_norm(x: Tensor, ord, axis: int, keepdims: bool) -> Tensor:
    ax = x.ndim - 1 if axis == -1 else axis
    if ord is None or ord == 2:
        return core.sqrt(core.sum(core.square(x), ax, keepdims))
    if ord == np.inf:
        return core.max(core.abs(x), ax, keepdims)
    if ord == -np.inf:
        return core.min(core.abs(x), ax, keepdims)
    if ord == 0:
        return core.sum(core.cast(core.constant(x.data != 0), x.data.dtype), ax, keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: ord={ord!r} applies to matrices (a 2-tuple axis); a vector norm takes a number")
    if ord == 1:
        return core.sum(core.abs(x), ax, keepdims)
    p = float(ord)
    return core.power(core.sum(core.power(core.abs(x), p), ax, keepdims), 1.0 / p)


def _matrix_norm(x: Tensor, ord, axes: Sequence[int], keepdims: bool) -> Tensor:
    r, c = axes
    if ord is None or ord == "fro":
        return core.sqrt(core.sum(core.square(x), (r, c), keepdims))
    if ord in (1, -1, np.inf, -np.inf):
        inner, outer_ax = (r, c) if ord in (1, -1) else (c, r)
        sums = core.sum(core.abs(x), inner, keepdims=True)
        red = core.max if ord in (1, np.inf) else core.min
        out = red(sums, outer_ax, keepdims=True)
        return out if keepdims else core.squeeze(out, (r, c))
    if ord in (2, -2, "nuc"):
        moved = core.transpose(x, [i for i in range(x.ndim) if i not in (r, c)] + [r, c])
        s = _singular_values(moved)
        out = core.sum(s, -1) if ord == "nuc" else (core.max(s, -1) if ord == 2 else core.min(s, -1))
        return core.expand_dims(core.expand_dims(out, min(r, c)), max(r, c)) if keepdims else out
    raise ValueError(f"norm: invalid ord for a matrix norm. Received: ord={ord!r}")


def norm(x, ord=None, axis=None, keepdims: bool = False) -> Tensor:
    """Vector or matrix norm (``numpy.linalg.norm``): with ``axis`` None the 2-norm of the
    flattened input (ord None) or the norm of a 1-D/2-D input; an int axis gives vector
    norms, a 2-tuple matrix norms ('fro', 'nuc', 1, -1, 2, -2, inf, -inf)."""
    x = _floating(x)
    if axis is None:
        if ord is None:
            out = core.sqrt(core.sum(core.square(x)))
            return core.reshape(out, (1,) * x.ndim) if keepdims else out
        if x.ndim not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} needs a 1-D or 2-D input or an axis. Received: shape={x.shape}")
        axis = 0 if x.ndim == 1 else (0, 1)
    axes = _norm_axis(axis, x.ndim, "norm") if not isinstance(axis, (list, tuple)) else \
        tuple(_norm_axis(int(a), x.ndim, "norm")[0] for a in axis)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2 and axes[0] != axes[1]:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"norm: axis must be an int or a pair of distinct axes. Received: axis={axis!r}")
