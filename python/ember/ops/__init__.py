"""``ember.ops``: Keras 3's ``keras.ops`` over ember's differentiable ops.

The ops themselves live one family per module (``core``, ``nn``, ``math_ops``,
``array_ops``, ``linalg``, ``losses`` ...), forward and backward side by side; this module
only names them as Keras does (``ember.ops.exp is ember.ops.core.exp``), adds the
conversions (``convert_to_tensor``, ``shape``, ``cast``) and ``stop_gradient`` / ``cond``.

Functions take Tensors, NumPy arrays and Python numbers and return Tensors (integer and
bool results, e.g. ``argmax`` or ``equal``, are Tensors of int32 / bool that carry no
gradient); ``shape`` and ``convert_to_numpy`` return Python / NumPy values.

>>> from ember import ops
>>> ops.mean(ops.square(ops.convert_to_tensor([1.0, 2.0, 3.0])))
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from .. import backend
from ..symbolic import SymbolicTensor
from ..tensor import Tensor, as_tensor
from .core import (  # noqa: F401
    abs, add, broadcast_to, cast, clip as _clip, concatenate, constant, div as divide, exp, expand_dims, log,
    matmul, maximum, mean, minimum, mul as multiply, neg as negative, power, relu, reshape, sigmoid, sqrt,
    square, squeeze, stack, sub as subtract, sum, tanh, transpose, var,
)
from .nn import elu, leaky_relu, log_softmax, selu, silu, softmax, softplus, swish  # noqa: F401
from .nn_ops import (  # noqa: F401
    binary_crossentropy, categorical_crossentropy, gelu, hard_sigmoid, log_sigmoid, logsumexp, moments,
    normalize, relu6, sparse_categorical_crossentropy, average_pool, batch_normalization, dot_product_attention,
    max_pool, segment_sum,
)
from .math_ops import (  # noqa: F401
    all, any, arccos, arcsin, arctan, argmax, argmin, ceil, cos, cosh, count_nonzero, cumprod, cumsum, equal,
    erf, expm1, floor, floor_divide, greater, greater_equal, isfinite, isinf, isnan, less, less_equal, log1p,
    log2, log10, logical_and, logical_not, logical_or, logical_xor, max, min, mod, nan_to_num, not_equal, prod,
    reciprocal, round, rsqrt, sign, sin, sinh, std, tan, average, isclose, in_top_k,
)
from .array_ops import (  # noqa: F401
    arange, argsort, diag, eye, flip, full, full_like, linspace, meshgrid, moveaxis, nonzero, one_hot, ones,
    ones_like, pad, ravel, repeat, roll, slice, sort, split, swapaxes, take, take_along_axis, tile, top_k, tril,
    triu, where, zeros, zeros_like, unstack, identity, tri, empty, append, hstack, vstack,
)
from .control_flow import cond, fori_loop, map, scan, vectorized_map, while_loop  # noqa: F401
from .linalg import dot, einsum, norm, outer, tensordot  # noqa: F401
from . import image  # noqa: F401  (ember.ops.image, as keras.ops.image)

absolute = abs
true_divide = divide


def clip(x, x_min, x_max) -> Tensor:
    """``x`` limited to [x_min, x_max] (Keras' argument names for ``core.clip``)."""
    return _clip(x, x_min, x_max)


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _scalar_dtype(arr: np.ndarray) -> np.dtype:
    """Python data's dtype as Keras infers it: int32 for ints, float32 for floats."""
    return {"i": np.dtype(np.int32), "u": np.dtype(np.int32), "f": np.dtype(np.float32)}.get(arr.dtype.kind, arr.dtype)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None) -> Tensor:
    """``x`` as a Tensor: Tensors pass through (cast when ``dtype`` differs), arrays keep
    their dtype, Python numbers and lists become int32 / float32 / bool as in Keras; host
    data lands on the current device (``ember.set_device``), device arrays stay where they are."""
    if isinstance(x, Tensor):
        return x if dtype is None or x.data.dtype == np.dtype(dtype) else cast(x, dtype)
    if backend.is_device_array(x):  # a CuPy array: stays on its device
        arr = x if dtype is None else x.astype(np.dtype(dtype))
        return as_tensor(arr) if arr.dtype.kind == "f" else constant(arr)
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise ValueError(f"convert_to_tensor: cannot convert {type(x).__name__} to a tensor: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"convert_to_tensor: expected numeric data. Received: dtype={arr.dtype}")
    if not isinstance(x, np.ndarray) and not np.isscalar(x) or isinstance(x, (int, float)):
        arr = arr.astype(_scalar_dtype(arr))
    if dtype is not None:
        arr = arr.astype(np.dtype(dtype))
    arr = backend.to_device(arr)  # on the current device (ember.set_device), as Keras' default device
    return as_tensor(arr) if arr.dtype.kind == "f" else constant(arr)


def convert_to_numpy(x) -> np.ndarray:
    """The values of ``x`` as a NumPy array."""
    if isinstance(x, SymbolicTensor):
        raise ValueError(f"ops.convert_to_numpy: a symbolic tensor has no values until the model runs. Received: {x!r}")
    if isinstance(x, Tensor):
        return x.numpy()
    return backend.to_numpy(x)  # a device array: an explicit device-to-host copy


def shape(x) -> Tuple[int, ...]:
    """The shape of ``x`` as a tuple of ints (None for a symbolic tensor's unknown dims)."""
    return tuple(x.shape) if isinstance(x, (Tensor, SymbolicTensor)) else tuple(np.shape(x))


def ndim(x) -> int:
    return len(shape(x))


def size(x) -> int:
    dims = shape(x)
    if None in dims:
        raise ValueError(f"ops.size: the size of a symbolic tensor with unknown dimensions is not known until the "
                         f"model runs. Received: shape={dims}")
    return int(np.prod(dims))


def stop_gradient(variable) -> Tensor:
    """The same values, cut from the graph: no gradient flows through."""
    x = variable if isinstance(variable, Tensor) else convert_to_tensor(variable)
    return constant(x.data)


# Last: every public function above, given a symbolic tensor, records a graph node instead
from ._symbolic import install as _install  # noqa: E402

_install(globals())
