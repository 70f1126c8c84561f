"""3-D convolution and pooling, composed of the 2-D ops (no kernel of their own).

A 3-D convolution is a sum over the kernel's depth taps of 2-D convolutions: tap ``kd``
sees the depth slices ``kd * dilation + od * stride`` of the (padded) input, folded into
the batch. Pooling is separable: a 2-D pooling over height and width, then a max / mean
over the depth window. Every step is an existing differentiable op, so gradients come
from their backward passes; nothing here writes a gradient.

Layout: channels_last (N, D, H, W, C) natively; channels_first (N, C, D, H, W) is
transposed around the same computation.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

from ..tensor import Tensor, as_array_like, as_tensor
from .conv import _data_format, conv2d, padding_amounts
from .core import add, div, maximum, pad, reshape, transpose
from .pool import avg_pool2d, max_pool2d

IntTriple = Union[int, Sequence[int]]


def _triple(v: IntTriple, what: str, op: str) -> Tuple[int, int, int]:
    t = (int(v),) * 3 if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)
    if len(t) != 3 or any(a < 1 for a in t):
        raise ValueError(f"{op}: {what} must be an integer or a tuple of 3 integers >= 1. Received: {what}={v!r}")
    return t  # type: ignore[return-value]


def _to_last(x: Tensor, df: str, op: str) -> Tensor:
    if x.ndim != 5:
        layout = "(batch, depth, height, width, channels)" if df == "channels_last" else \
            "(batch, channels, depth, height, width)"
        raise ValueError(f"{op} expects a 5-D input {layout}. Received: shape={x.shape}")
    return x if df == "channels_last" else transpose(x, (0, 2, 3, 4, 1))


def _from_last(y: Tensor, df: str) -> Tensor:
    return y if df == "channels_last" else transpose(y, (0, 4, 1, 2, 3))


def _depth_taps(x: Tensor, k: int, s: int, d: int, lo: int, hi: int, fill: float, op: str):
    """The input padded along depth and, for each tap, the depth slices it meets: a list
    of (N, OD, H, W, C) Tensors."""
    if lo or hi:
        x = pad(x, ((0, 0), (lo, hi), (0, 0), (0, 0), (0, 0)), value=fill)
    depth = x.shape[1]
    extent = d * (k - 1) + 1
    if extent > depth:
        raise ValueError(f"{op}: the window along depth ({extent} with dilation) is larger than the padded input "
                         f"depth ({depth}). Received: input shape={x.shape}")
    od = (depth - extent) // s + 1
    return [x[:, t * d: t * d + (od - 1) * s + 1: s] for t in range(k)], od


def conv3d(x, kernel, bias=None, strides: IntTriple = 1, padding: str = "valid", dilation_rate: IntTriple = 1,
           groups: int = 1, data_format: Optional[str] = "channels_last", name: str = "conv3d") -> Tensor:
    """3-D convolution (cross-correlation, as Keras).

    x: (N, D, H, W, C) (or (N, C, D, H, W)); kernel: (KD, KH, KW, C // groups, OC); bias:
    (OC,) or None. ``padding`` "valid" or "same" (output ceil(size / stride), the extra
    padding at the end, as TensorFlow). Returns (N, OD, OH, OW, OC).
    """
    x, w = as_tensor(x), as_tensor(kernel)
    df = _data_format(data_format, name)
    st, dil = _triple(strides, "strides", name), _triple(dilation_rate, "dilation_rate", name)
    if w.ndim != 5:
        raise ValueError(f"{name}: kernel must be 5-D (depth, height, width, in_channels // groups, filters). "
                         f"Received: kernel.shape={w.shape}")
    xl = _to_last(x, df, name)
    N, D, H, W, C = xl.shape
    KD, KH, KW, _, OC = w.shape
    if bias is not None and tuple(as_tensor(bias).shape) != (OC,):
        raise ValueError(f"{name}: bias must have shape ({OC},). Received: bias.shape={as_tensor(bias).shape}")
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{name}: padding must be 'valid' or 'same'. Received: padding={padding!r}")
    lo, hi = padding_amounts(padding, (D, 1), (KD, 1), (st[0], 1), (dil[0], 1), name)[:2]
    t, b, l, r = padding_amounts(padding, (H, W), (KH, KW), st[1:], dil[1:], name)
    taps, od = _depth_taps(xl, KD, st[0], dil[0], lo, hi, 0.0, name)
    y = None
    for kd, xs in enumerate(taps):
        ys = conv2d(reshape(xs, (N * od, H, W, C)), w[kd], None, st[1:], ((t, b), (l, r)), dil[1:], groups,
                    "channels_last", name=name)
        y = ys if y is None else add(y, ys)
    y = reshape(y, (N, od) + tuple(y.shape[1:]))
    if bias is not None:
        y = add(y, bias)
    return _from_last(y, df)


def _pool3d(x, pool_size, strides, padding, data_format, name: str, kind: str) -> Tensor:
    x = as_tensor(x)
    df = _data_format(data_format, name)
    ps = _triple(pool_size, "pool_size", name)
    st = ps if strides is None else _triple(strides, "strides", name)
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{name}: padding must be 'valid' or 'same'. Received: padding={padding!r}")
    xl = _to_last(x, df, name)
    if xl.data.dtype.kind != "f":
        xl = Tensor(xl.data.astype(np.float32))
    N, D, H, W, C = xl.shape
    lo, hi = padding_amounts(padding, (D, 1), (ps[0], 1), (st[0], 1), (1, 1), name)[:2]
    hw = padding_amounts(padding, (H, W), ps[1:], st[1:], (1, 1), name)
    fn = max_pool2d if kind == "max" else avg_pool2d
    y = fn(reshape(xl, (N * D, H, W, C)), ps[1:], st[1:], ((hw[0], hw[1]), (hw[2], hw[3])), "channels_last",
           name=name)
    y = reshape(y, (N, D) + tuple(y.shape[1:]))
    if kind == "max":
        taps, od = _depth_taps(y, ps[0], st[0], 1, lo, hi, -np.inf, name)
        out = taps[0]
        for tap in taps[1:]:
            out = maximum(out, tap)
    else:
        taps, od = _depth_taps(y, ps[0], st[0], 1, lo, hi, 0.0, name)
        out = taps[0]
        for tap in taps[1:]:
            out = add(out, tap)
        # each depth window averages only the slices inside the input (Keras' "same")
        starts = np.arange(od) * st[0] - lo
        count = np.minimum(starts + ps[0], D) - np.maximum(starts, 0)
        out = div(out, Tensor(as_array_like(count.astype(out.dtype).reshape(1, od, 1, 1, 1), out.data)))
    return _from_last(out, df)


def max_pool3d(x, pool_size: IntTriple = 2, strides: Optional[IntTriple] = None, padding: str = "valid",
               data_format: Optional[str] = "channels_last", name: str = "max_pool3d") -> Tensor:
    """Max over (depth, height, width) windows; strides default to pool_size; padding
    cells never win."""
    return _pool3d(x, pool_size, strides, padding, data_format, name, "max")


def avg_pool3d(x, pool_size: IntTriple = 2, strides: Optional[IntTriple] = None, padding: str = "valid",
               data_format: Optional[str] = "channels_last", name: str = "avg_pool3d") -> Tensor:
    """Mean over (depth, height, width) windows; with "same" each window averages only
    the cells inside the input (Keras)."""
    return _pool3d(x, pool_size, strides, padding, data_format, name, "avg")
