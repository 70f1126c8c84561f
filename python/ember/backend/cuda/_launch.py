"""Shared plumbing of the CUDA kernel families: launch geometry, typed scalars, argument checks.

Every kernel is an ``extern "C"`` pair ``<name>_f32`` / ``<name>_f64`` in
``kernels/<family>.cu``; :func:`launch` picks the one for the dtype. The launch geometry
lives in :data:`LAUNCH` so tests can run a kernel under two configurations and check the
results do not depend on it (the kernels are written so that they cannot).
"""
from __future__ import annotations

import numpy as np

from . import runtime

#: block: threads per block of the elementwise / gather kernels (grid-stride loops);
#: max_blocks: the grid is capped there (the loops stride over the rest);
#: reduce_block: threads per block of the per-channel reductions;
#: index32: the gathers may use 32-bit index arithmetic when every array of the launch is
#: under 2^30 elements (False forces the 64-bit path, for tests).
LAUNCH = {"block": runtime.BLOCK, "max_blocks": runtime.MAX_BLOCKS, "reduce_block": 256, "index32": True}

_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def fail(op: str, msg: str):
    raise ValueError(f"{op}: {msg}")


def float_dtype(op: str, name: str, a) -> np.dtype:
    """The dtype of ``a`` (a device array, float32 or float64), else a clear TypeError."""
    xp = runtime.xp()
    if not isinstance(a, xp.ndarray):
        raise TypeError(f"{op}: '{name}' must be an array on the GPU. Received: {type(a).__name__}")
    d = np.dtype(a.dtype)
    if d not in _SUFFIX:
        raise TypeError(f"{op}: '{name}' must be float32 or float64. Received: dtype={d}, shape={tuple(a.shape)}")
    return d


def same_dtype(op: str, name: str, a, d: np.dtype) -> None:
    if float_dtype(op, name, a) != d:
        raise TypeError(f"{op}: '{name}' has dtype {np.dtype(a.dtype)} but the other operands are {d}")


def check_shape(op: str, name: str, a, want) -> None:
    if tuple(a.shape) != tuple(want):
        fail(op, f"'{name}' must have shape {tuple(want)}. Received: shape={tuple(a.shape)}")


def operand(op: str, name: str, a, d: np.dtype, shape=None):
    """``a`` checked (device array of dtype ``d``, optional shape) and made C-contiguous."""
    same_dtype(op, name, a, d)
    if shape is not None:
        check_shape(op, name, a, shape)
    return runtime.xp().ascontiguousarray(a)


def ints(op, name, v, n, lo, what):
    """A tuple of n ints in [lo, 2^31), else a clear error naming the argument."""
    try:
        t = tuple(int(e) for e in v)
    except TypeError:
        t = ()
    if len(t) != n or not all(lo <= e <= 2 ** 31 - 1 for e in t):
        fail(op, f"{name} must be {what} (and < 2^31). Received: {name}={tuple(v) if hasattr(v, '__iter__') else v}")
    return t


def scalar(d: np.dtype, v):
    """``v`` as the kernel's T (float for *_f32, double for *_f64)."""
    return d.type(v)


def i64(v) -> np.int64:
    return np.int64(v)


def i32(v) -> np.int32:
    return np.int32(v)


def idx32(*sizes) -> np.int32:
    """The ``int idx32`` kernel flag: 1 when 32-bit indices are allowed, all ``sizes``
    (element counts of the launch's arrays) are under 2^30 and so is the largest grid
    stride (an index plus the stride then stays under 2^31)."""
    return np.int32(bool(LAUNCH["index32"]) and max(sizes, default=0) < 2 ** 30
                    and int(LAUNCH["block"]) * int(LAUNCH["max_blocks"]) < 2 ** 30)


def launch(family: str, name: str, d: np.dtype, n: int, args) -> None:
    """A grid-stride kernel over ``n`` items (nothing to do when n is 0)."""
    if n <= 0:
        return
    block = int(LAUNCH["block"])
    grid = runtime.blocks_for(n, block, int(LAUNCH["max_blocks"]))
    runtime.kernel(family, f"{name}_{_SUFFIX[d]}")((grid,), (block,), tuple(args))


def launch_rows(family: str, name: str, d: np.dtype, count: int, args) -> None:
    """A kernel whose blocks each reduce one of ``count`` items (blocks stride over the rest)."""
    if count <= 0:
        return
    block = int(LAUNCH["reduce_block"])
    grid = max(1, min(count, int(LAUNCH["max_blocks"])))
    runtime.kernel(family, f"{name}_{_SUFFIX[d]}")((grid,), (block,), tuple(args))
