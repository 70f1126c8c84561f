"""Pooling ops: max / average pooling (2-D and 1-D) and global pooling, forward and backward
side by side. channels_last is native; channels_first is transposed around the kernels."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from .. import backend
from ..tensor import Tensor, as_tensor, make_op
from .conv import _data_format, _nchw, _nhwc, _pair, padding_amounts
from .core import reshape

IntPair = Union[int, Sequence[int]]


def _prep(x: Tensor, pool_size, strides, padding, data_format, name):
    df = _data_format(data_format, name)
    if x.ndim != 4:
        layout = "(batch, height, width, channels)" if df == "channels_last" else "(batch, channels, height, width)"
        raise ValueError(f"{name} expects a 4-D input {layout}. Received: shape={x.shape}")
    ps = _pair(pool_size, "pool_size", name)
    st = ps if strides is None else _pair(strides, "strides", name)
    xd = x.data if x.data.dtype.kind == "f" else x.data.astype(np.float32)
    if df == "channels_first":
        xd = _nhwc(xd)
    H, W = xd.shape[1:3]
    pads = padding_amounts(padding, (H, W), ps, st, (1, 1), name)
    if ps[0] > H + pads[0] + pads[1] or ps[1] > W + pads[2] + pads[3]:
        raise ValueError(f"{name}: pool_size={ps} is larger than the padded input "
                         f"({H + pads[0] + pads[1]}x{W + pads[2] + pads[3]}). Received: input shape={x.shape}")
    return df, ps, st, pads, xd


def max_pool2d(x, pool_size: IntPair = (2, 2), strides: Optional[IntPair] = None, padding="valid",
               data_format: Optional[str] = "channels_last", name: str = "max_pool2d") -> Tensor:
    """Max over pool_size windows moved by strides (default: pool_size). Padding cells never
    win. The backward sends each output gradient to the first maximum of its window."""
    x = as_tensor(x)
    df, ps, st, pads, xd = _prep(x, pool_size, strides, padding, data_format, name)
    ops = backend.ops(xd)
    y, idx = ops.max_pool2d(xd, ps, st, pads)
    xshape = xd.shape

    def backward(g):
        g = _nhwc(g) if df == "channels_first" else g
        dx = ops.max_pool2d_backward(g, idx, xshape, ps, st, pads)
        return (_nchw(dx) if df == "channels_first" else dx,)
    return make_op(y if df == "channels_last" else _nchw(y), (x,), backward, name)


def avg_pool2d(x, pool_size: IntPair = (2, 2), strides: Optional[IntPair] = None, padding="valid",
               data_format: Optional[str] = "channels_last", count_include_pad: bool = False,
               name: str = "avg_pool2d") -> Tensor:
    """Mean over pool_size windows. With "same" padding each window averages only the cells
    inside the input (Keras), unless ``count_include_pad``."""
    x = as_tensor(x)
    df, ps, st, pads, xd = _prep(x, pool_size, strides, padding, data_format, name)
    ops = backend.ops(xd)
    y = ops.avg_pool2d(xd, ps, st, pads, count_include_pad)
    xshape = xd.shape

    def backward(g):
        g = _nhwc(g) if df == "channels_first" else g
        dx = ops.avg_pool2d_backward(g, xshape, ps, st, pads, count_include_pad)
        return (_nchw(dx) if df == "channels_first" else dx,)
    return make_op(y if df == "channels_last" else _nchw(y), (x,), backward, name)


def _pool1d(fn, x, pool_size, strides, padding, data_format, name):
    x = as_tensor(x)
    df = _data_format(data_format, name)
    if x.ndim != 3:
        raise ValueError(f"{name} expects a 3-D input (batch, steps, channels). Received: shape={x.shape}")
    p = int(pool_size if isinstance(pool_size, (int, np.integer)) else pool_size[0])
    s = p if strides is None else int(strides if isinstance(strides, (int, np.integer)) else strides[0])
    if df == "channels_last":
        x4 = reshape(x, (x.shape[0], 1, x.shape[1], x.shape[2]))
    else:
        x4 = reshape(x, (x.shape[0], x.shape[1], 1, x.shape[2]))
    y = fn(x4, (1, p), (1, s), padding, df, name=name)
    return reshape(y, (y.shape[0], y.shape[2], y.shape[3]) if df == "channels_last" else (y.shape[0], y.shape[1], y.shape[3]))


def max_pool1d(x, pool_size: int = 2, strides: Optional[int] = None, padding="valid",
               data_format: Optional[str] = "channels_last", name: str = "max_pool1d") -> Tensor:
    """Max pooling over the steps of (N, L, C)."""
    return _pool1d(max_pool2d, x, pool_size, strides, padding, data_format, name)


def avg_pool1d(x, pool_size: int = 2, strides: Optional[int] = None, padding="valid",
               data_format: Optional[str] = "channels_last", name: str = "avg_pool1d") -> Tensor:
    """Average pooling over the steps of (N, L, C)."""
    return _pool1d(avg_pool2d, x, pool_size, strides, padding, data_format, name)


def _global(fn, x, data_format, keepdims, name):
    x = as_tensor(x)
    df = _data_format(data_format, name)
    if x.ndim != 4:
        raise ValueError(f"{name} expects a 4-D input. Received: shape={x.shape}")
    H, W = (x.shape[1], x.shape[2]) if df == "channels_last" else (x.shape[2], x.shape[3])
    y = fn(x, (H, W), (1, 1), "valid", df, name=name)
    if keepdims:
        return y
    return reshape(y, (y.shape[0], y.shape[3] if df == "channels_last" else y.shape[1]))


def global_avg_pool2d(x, data_format: Optional[str] = "channels_last", keepdims: bool = False,
                      name: str = "global_average_pooling2d") -> Tensor:
    """Mean over height and width: (N, H, W, C) -> (N, C) (or (N, 1, 1, C) with keepdims)."""
    return _global(avg_pool2d, x, data_format, keepdims, name)


def global_max_pool2d(x, data_format: Optional[str] = "channels_last", keepdims: bool = False,
                      name: str = "global_max_pooling2d") -> Tensor:
    """Max over height and width: (N, H, W, C) -> (N, C) (or (N, 1, 1, C) with keepdims)."""
    return _global(max_pool2d, x, data_format, keepdims, name)
