"""Launch helpers shared by the sequence kernel families (softmax, layer norm, attention,
recurrent cells: the CUDA side of csrc/bind_sequence.cpp)."""
from __future__ import annotations

import numpy as np

from . import runtime

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

#: threads per block of the row kernels (one block per row; results do not depend on it)
ROW_BLOCK = 128
#: threads per block of the elementwise (grid-stride) kernels
EW_BLOCK = 256
#: grid cap of the grid-stride kernels (they loop over what one launch does not cover)
MAX_GRID = 65535


def float_dtype(op: str, name: str, a) -> np.dtype:
    """a's dtype when it is float32 / float64, else the CPU bindings' TypeError."""
    d = np.dtype(a.dtype)
    if d not in _FLOATS:
        raise TypeError(f"{op}: '{name}' must be float32 or float64. Received: dtype={d}")
    return d


def same_dtype(op: str, name: str, a, d: np.dtype) -> None:
    if np.dtype(a.dtype) != d:
        raise TypeError(f"{op}: '{name}' must have dtype {d}. Received: dtype={np.dtype(a.dtype)}")


def check_shape(op: str, name: str, a, shape) -> None:
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{op}: '{name}' must have shape {tuple(shape)}. Received: shape={tuple(a.shape)}")


def contig(a, dtype=None):
    """``a`` C-contiguous on the device (no copy when it already is, and of ``dtype``)."""
    return runtime.xp().ascontiguousarray(a, dtype=dtype)


def rows2(a):
    """``a`` as a C-contiguous (rows, last) array (a view when it already is contiguous)."""
    a = contig(a)
    return a.reshape(int(np.prod(a.shape[:-1], dtype=np.int64)), a.shape[-1]) if a.ndim != 2 else a


def scalar(d: np.dtype, v):
    """A kernel's float / double parameter of the kernel's dtype."""
    return d.type(v)


def launch(family: str, name: str, d: np.dtype, grid: int, block: int, args, shared_mem: int = 0) -> None:
    """Runs ``name``_f32 / _f64 of ``family`` on ``grid`` blocks (capped; the kernels
    grid-stride) of ``block`` threads; a launch with no work is skipped."""
    if grid <= 0:
        return
    fn = runtime.kernel(family, name + ("_f32" if d == np.dtype(np.float32) else "_f64"))
    fn((min(int(grid), MAX_GRID),), (int(block),), tuple(args), shared_mem=int(shared_mem))


def i64(v) -> np.int64:
    return np.int64(v)


def i32(v) -> np.int32:
    return np.int32(v)
