"""CUDA GEMM family: ``numpy.matmul`` semantics on cuBLAS through the array module's matmul
(CuPy picks gemm / strided batched gemm and handles transposed views and broadcasting)."""
from __future__ import annotations

import math

from . import runtime

__all__ = ["gemm", "matmul"]


def gemm(a, b, trans_a: bool = False, trans_b: bool = False, out=None):
    """op(a) @ op(b) for 2-D arrays (transposed views cost no copy: cuBLAS reads them as such)."""
    xp = runtime.xp()
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm: 'a' and 'b' must be 2-D. Received: a.shape={tuple(a.shape)}, "
                         f"b.shape={tuple(b.shape)}")
    r = xp.matmul(a.T if trans_a else a, b.T if trans_b else b)
    if out is None:
        return r
    if tuple(out.shape) != tuple(r.shape) or out.dtype != r.dtype:
        raise ValueError(f"gemm: 'out' must have shape {tuple(r.shape)} and dtype {r.dtype}. "
                         f"Received: shape={tuple(out.shape)}, dtype={out.dtype}")
    out[...] = r
    return out


def _as_rows(x):
    """(..., K) -> (rows, K); unlike reshape(-1, K), also for empty arrays (K or rows 0)."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def matmul(a, b):
    """``numpy.matmul`` semantics (batched, broadcast stacks) for arrays of >= 2 dimensions."""
    return runtime.xp().matmul(a, b)
