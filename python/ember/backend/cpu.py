"""CPU backend: NumPy arrays, hot kernels from ember._C.

Each function takes and returns NumPy arrays; differentiable ops in ``ember.ops`` call
these. Kernel families have their own section below (kept apart so work on different
families merges cleanly).
"""
from __future__ import annotations

import numpy as np

from .. import _C

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _kernel_ok(*arrays) -> bool:
    d = arrays[0].dtype
    return d in _FLOATS and all(a.dtype == d for a in arrays)


# ---------------------------------------------------------------------------------------
# gemm
# ---------------------------------------------------------------------------------------

def gemm(a: np.ndarray, b: np.ndarray, trans_a: bool = False, trans_b: bool = False,
         out: np.ndarray = None) -> np.ndarray:
    """op(a) @ op(b) for 2-D arrays through ember's GEMM (transposed views cost no copy)."""
    if not _kernel_ok(a, b):
        return np.matmul(a.T if trans_a else a, b.T if trans_b else b)
    return _C.gemm(a, b, trans_a, trans_b, 1.0, 0.0, out)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``numpy.matmul`` semantics for arrays of >= 2 dimensions, through ember's GEMM.

    A stack (..., M, K) times a matrix (K, N) is folded into one GEMM when the stack is
    contiguous; other batched products use the strided batched GEMM.
    """
    if not _kernel_ok(a, b) or a.ndim < 2 or b.ndim < 2:
        return np.matmul(a, b)
    if a.ndim == 2 and b.ndim == 2:
        return _C.gemm(a, b)
    if b.ndim == 2 and a.flags.c_contiguous:
        m = _C.gemm(a.reshape(-1, a.shape[-1]), b)
        return m.reshape(a.shape[:-1] + (b.shape[-1],))
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    nb = int(np.prod(batch)) if batch else 1

    def as3(x):
        if x.shape[:-2] == batch:
            return x.reshape((nb,) + x.shape[-2:])
        if int(np.prod(x.shape[:-2])) == 1:
            return x.reshape((1,) + x.shape[-2:])
        return np.broadcast_to(x, batch + x.shape[-2:]).reshape((nb,) + x.shape[-2:])

    c = _C.gemm_batched(as3(a), as3(b))
    return c.reshape(batch + c.shape[-2:])


# (end gemm)

# ---------------------------------------------------------------------------------------
# elementwise (fused bias + activation, optimizer updates)
# ---------------------------------------------------------------------------------------

# (end elementwise)

# ---------------------------------------------------------------------------------------
# conv / pool / batchnorm
# ---------------------------------------------------------------------------------------

# (end conv / pool / batchnorm)

# ---------------------------------------------------------------------------------------
# softmax / attention / rnn / layernorm
# ---------------------------------------------------------------------------------------

# (end softmax / attention / rnn / layernorm)
