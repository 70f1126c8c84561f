"""CUDA 2-D max / average pooling, NHWC (kernels/pool.cu): same arguments and returns as
``backend.cpu``; semantics of csrc/pool.h (argmax int32 ih * W + iw, -1 for an empty window).
The backwards are gathers over the windows covering each input element (no atomics).
"""
from __future__ import annotations

import numpy as np

from . import runtime
from ._launch import fail, float_dtype, i32, i64, idx32, ints, launch, operand

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]

_FAMILY = "pool"


def _shape(op, N, H, W, C, pool, strides, pads, xs):
    """(N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw), checked as csrc/bind_conv.cpp does."""
    PH, PW = ints(op, "pool_size", pool, 2, 1, "two integers >= 1")
    sh, sw = ints(op, "strides", strides, 2, 1, "two integers >= 1")
    pt, pb, pl, pr = ints(op, "padding", pads, 4, 0, "four integers >= 0 (top, bottom, left, right)")
    if pt >= PH or pb >= PH or pl >= PW or pr >= PW:
        fail(op, f"padding must be smaller than the pool window. Received: padding={(pt, pb, pl, pr)}, "
                 f"pool_size={(PH, PW)}")
    hp, wp = H + pt + pb, W + pl + pr
    if PH > hp or PW > wp:
        fail(op, f"the pool window {(PH, PW)} is larger than the padded input {hp}x{wp}. Received: x.shape={xs}")
    if H * W >= 2 ** 31:
        fail(op, "the image is too large for int32 indices")
    return (N, H, W, C, PH, PW, (hp - PH) // sh + 1, (wp - PW) // sw + 1, sh, sw, pt, pl)


def _x_shape(op, x_shape):
    t = tuple(int(e) for e in x_shape) if hasattr(x_shape, "__iter__") else ()
    if len(t) != 4 or any(e < 0 for e in t):
        fail(op, f"x_shape must be four sizes >= 0 (N, H, W, C). Received: {x_shape}")
    return t


def _input(op, x, pool, strides, pads):
    d = float_dtype(op, "x", x)
    if x.ndim != 4:
        fail(op, f"'x' must be 4-D. Received: shape={tuple(x.shape)}")
    x = runtime.xp().ascontiguousarray(x)
    return d, x, _shape(op, *(int(e) for e in x.shape), pool, strides, pads, tuple(x.shape))


def max_pool2d(x, pool, strides, pads):
    """NHWC max pooling: (y, argmax) with argmax the int32 index ih * W + iw of each maximum."""
    d, x, s = _input("max_pool2d", x, pool, strides, pads)
    xp = runtime.xp()
    N, _, _, C, _, _, OH, OW = s[:8]
    y = xp.empty((N, OH, OW, C), dtype=d)
    idx = xp.empty((N, OH, OW, C), dtype=np.int32)
    launch(_FAMILY, "max_pool2d", d, y.size, (y, idx, x) + tuple(i64(v) for v in s) + (idx32(x.size, y.size),))
    return y, idx


def _grad(op, dy, x_shape, pool, strides, pads):
    d = float_dtype(op, "dy", dy)
    N, H, W, C = _x_shape(op, x_shape)
    s = _shape(op, N, H, W, C, pool, strides, pads, (N, H, W, C))
    dy = operand(op, "dy", dy, d, (N, s[6], s[7], C))
    return d, dy, s


def max_pool2d_backward(dy, idx, x_shape, pool, strides, pads):
    """dx (x_shape) of :func:`max_pool2d`: each input cell gathers dy of the windows whose
    argmax it is. Unlike the CPU binding, ``idx`` entries are not checked against their
    windows (that would cost a device-to-host sync per call); the gather only reads entries
    of windows covering a cell, so a stray index is ignored, never written through."""
    op = "max_pool2d_backward"
    d, dy, s = _grad(op, dy, x_shape, pool, strides, pads)
    xp = runtime.xp()
    if not isinstance(idx, xp.ndarray) or np.dtype(idx.dtype) != np.int32:
        raise TypeError(f"{op}: 'idx' must be an int32 array on the GPU. Received: {type(idx).__name__}"
                        f"{'' if not hasattr(idx, 'dtype') else ' of dtype ' + str(idx.dtype)}")
    if tuple(idx.shape) != tuple(dy.shape):
        fail(op, f"'idx' must have shape {tuple(dy.shape)}. Received: shape={tuple(idx.shape)}")
    idx = xp.ascontiguousarray(idx)
    dx = xp.empty(s[:4], dtype=d)
    launch(_FAMILY, "max_pool2d_backward", d, dx.size,
           (dx, dy, idx) + tuple(i64(v) for v in s) + (idx32(dx.size, dy.size),))
    return dx


def avg_pool2d(x, pool, strides, pads, count_pad: bool = False):
    """NHWC average pooling; the divisor is the window's cells inside x (PH * PW with count_pad)."""
    d, x, s = _input("avg_pool2d", x, pool, strides, pads)
    N, _, _, C, _, _, OH, OW = s[:8]
    y = runtime.xp().empty((N, OH, OW, C), dtype=d)
    launch(_FAMILY, "avg_pool2d", d, y.size,
           (y, x) + tuple(i64(v) for v in s) + (i32(bool(count_pad)), idx32(x.size, y.size)))
    return y


def avg_pool2d_backward(dy, x_shape, pool, strides, pads, count_pad: bool = False):
    """dx (x_shape) of :func:`avg_pool2d`: each input cell gathers dy / divisor of its windows."""
    d, dy, s = _grad("avg_pool2d_backward", dy, x_shape, pool, strides, pads)
    dx = runtime.xp().empty(s[:4], dtype=d)
    launch(_FAMILY, "avg_pool2d_backward", d, dx.size,
           (dx, dy) + tuple(i64(v) for v in s) + (i32(bool(count_pad)), idx32(dx.size, dy.size)))
    return dx
