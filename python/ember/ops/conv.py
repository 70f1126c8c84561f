"""Convolution ops: conv2d / conv1d and their transposes, forward and backward side by side.

channels_last (N, H, W, C) is the native layout: the im2col GEMM output (N*OH*OW, OC) IS
the NHWC output, with kernels stored Keras-style (KH, KW, C/groups, OC). channels_first
inputs are transposed to NHWC and back around the same kernels.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

from .. import backend
from ..tensor import Tensor, as_tensor, make_op
from .core import reshape

IntPair = Union[int, Sequence[int]]
Padding = Union[str, int, Sequence]


def _pair(v: IntPair, what: str, op: str, minimum: int = 1) -> Tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        t = (int(v), int(v))
    else:
        t = tuple(int(a) for a in v)
    if len(t) != 2 or any(a < minimum for a in t):
        raise ValueError(f"{op}: {what} must be an integer or a pair of integers >= {minimum}. Received: {what}={v!r}")
    return t  # type: ignore[return-value]


def padding_amounts(padding: Padding, size: Tuple[int, int], kernel: Tuple[int, int], strides: Tuple[int, int],
                    dilation: Tuple[int, int] = (1, 1), op: str = "conv2d") -> Tuple[int, int, int, int]:
    """(top, bottom, left, right) for Keras padding names or explicit amounts.

    "valid": none. "same": the output is ceil(input / stride) and the padding is split with
    the extra row / column at the bottom / right (as TensorFlow). An integer p pads p on
    every side; (ph, pw) pads ph above and below and pw left and right;
    ((top, bottom), (left, right)) is fully explicit.
    """
    if isinstance(padding, str):
        p = padding.lower()
        if p == "valid":
            return (0, 0, 0, 0)
        if p == "same":
            out = []
            for n, k, s, d in zip(size, kernel, strides, dilation):
                o = -(-n // s)
                total = max((o - 1) * s + (k - 1) * d + 1 - n, 0)
                out += [total // 2, total - total // 2]
            return tuple(out)  # type: ignore[return-value]
        raise ValueError(f"{op}: padding must be 'valid', 'same' or explicit amounts. Received: padding={padding!r}")
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        res = (p, p, p, p)
    else:
        items = list(padding)
        if len(items) == 2 and all(isinstance(a, (int, np.integer)) for a in items):
            res = (int(items[0]), int(items[0]), int(items[1]), int(items[1]))
        elif len(items) == 2 and all(len(a) == 2 for a in items):
            res = (int(items[0][0]), int(items[0][1]), int(items[1][0]), int(items[1][1]))
        else:
            raise ValueError(f"{op}: explicit padding must be p, (ph, pw) or ((top, bottom), (left, right)). "
                             f"Received: padding={padding!r}")
    if min(res) < 0:
        raise ValueError(f"{op}: padding must be >= 0. Received: padding={padding!r}")
    return res


def _data_format(data_format: Optional[str], op: str) -> str:
    df = (data_format or "channels_last").lower()
    if df not in ("channels_last", "channels_first"):
        raise ValueError(f"{op}: data_format must be 'channels_last' or 'channels_first'. Received: {data_format!r}")
    return df


def _operands(x, kernel, data_format, name: str, kernel_axes: str, rank: int = 2):
    """(x, kernel Tensors, data format) of a ``rank``-D (transposed) convolution, checked to
    have rank + 2 axes; ``kernel_axes`` names the kernel's last two axes in the message."""
    x, w = as_tensor(x), as_tensor(kernel)
    df = _data_format(data_format, name)
    sp = "height, width" if rank == 2 else "steps"
    layout = f"(batch, {sp}, channels)" if df == "channels_last" else f"(batch, channels, {sp})"
    if x.ndim != rank + 2:
        raise ValueError(f"{name} expects a {rank + 2}-D input {layout}. Received: shape={x.shape}")
    if w.ndim != rank + 2:
        kx = "kernel_h, kernel_w" if rank == 2 else "kernel_size"
        raise ValueError(f"{name} expects a {rank + 2}-D kernel ({kx}, {kernel_axes}). "
                         f"Received: kernel.shape={w.shape}")
    return x, w, df


def _nhwc(a):
    return backend.xp(a).ascontiguousarray(a.transpose(0, 2, 3, 1))


def _nchw(a):
    return backend.xp(a).ascontiguousarray(a.transpose(0, 3, 1, 2))


def conv2d(x, kernel, bias=None, strides: IntPair = 1, padding: Padding = "valid", dilation_rate: IntPair = 1,
           groups: int = 1, data_format: Optional[str] = "channels_last", activation: Optional[str] = None,
           name: str = "conv2d") -> Tensor:
    """2-D convolution (cross-correlation, as Keras and PyTorch).

    x: (N, H, W, C) (or (N, C, H, W) with ``data_format="channels_first"``); kernel:
    (KH, KW, C // groups, OC); bias: (OC,) or None. ``activation="relu"`` fuses the ReLU
    into the kernel (forward and backward). Returns (N, OH, OW, OC) (or (N, OC, OH, OW)).

    >>> y = ember.functional.conv2d(x, w, b, strides=2, padding="same")
    """
    x, w, df = _operands(x, kernel, data_format, name, "in_channels // groups, filters")
    b = None if bias is None else as_tensor(bias)
    dt = w.data.dtype
    st = _pair(strides, "strides", name)
    dil = _pair(dilation_rate, "dilation_rate", name)
    groups = int(groups)
    xd = x.data if x.data.dtype == dt else x.data.astype(dt)
    if df == "channels_first":
        xd = _nhwc(xd)
    N, H, W, C = xd.shape
    KH, KW, Cg, OC = w.shape
    if groups < 1 or C % groups or OC % groups:
        raise ValueError(f"{name}: groups={groups} must divide the input channels ({C}) and the filters ({OC}). "
                         f"Received: input shape={x.shape}, kernel.shape={w.shape}")
    if Cg * groups != C:
        raise ValueError(f"{name}: the kernel expects {Cg * groups} input channels but the input has {C}. "
                         f"Received: input shape={x.shape}, kernel.shape={w.shape}")
    pads = padding_amounts(padding, (H, W), (KH, KW), st, dil, name)
    eh, ew = dil[0] * (KH - 1) + 1, dil[1] * (KW - 1) + 1
    if eh > H + pads[0] + pads[1] or ew > W + pads[2] + pads[3]:
        raise ValueError(f"{name}: the kernel ({eh}x{ew} with dilation) is larger than the padded input "
                         f"({H + pads[0] + pads[1]}x{W + pads[2] + pads[3]}). "
                         f"Received: input shape={x.shape}, kernel.shape={w.shape}, padding={padding!r}")
    if b is not None and b.shape != (OC,):
        raise ValueError(f"{name}: bias must have shape ({OC},). Received: bias.shape={b.shape}")
    act = 1 if activation == "relu" else 0
    if activation not in (None, "relu", "linear"):
        raise ValueError(f"{name}: only activation=None or 'relu' is fused; apply others after. "
                         f"Received: {activation!r}")
    ops = backend.ops(xd)
    wd = w.data
    bd = None if b is None else (b.data if b.data.dtype == dt else b.data.astype(dt))
    y = ops.conv2d(xd, wd, bd, st, pads, dil, groups, act)
    parents = (x, w) if b is None else (x, w, b)

    def backward(g):
        g = _nhwc(g) if df == "channels_first" else g
        dx, dw, db = ops.conv2d_backward(xd, wd, g, y if act else None, st, pads, dil, groups, act,
                                         x.requires_grad, w.requires_grad, b is not None and b.requires_grad)
        if dx is not None and df == "channels_first":
            dx = _nchw(dx)
        return (dx, dw) if b is None else (dx, dw, db)

    out = y if df == "channels_last" else _nchw(y)
    return make_op(out, parents, backward, name)


def conv1d(x, kernel, bias=None, strides: int = 1, padding: Padding = "valid", dilation_rate: int = 1,
           groups: int = 1, data_format: Optional[str] = "channels_last", activation: Optional[str] = None,
           name: str = "conv1d") -> Tensor:
    """1-D convolution: x (N, L, C) (or (N, C, L)), kernel (K, C // groups, OC).

    Runs as a conv2d of height 1. ``padding`` may also be "causal" (left padding only).
    """
    x, w, df = _operands(x, kernel, data_format, name, "in_channels // groups, filters", rank=1)
    s = int(strides if isinstance(strides, (int, np.integer)) else strides[0])
    d = int(dilation_rate if isinstance(dilation_rate, (int, np.integer)) else dilation_rate[0])
    k = w.shape[0]
    if isinstance(padding, str) and padding.lower() == "causal":
        pads2 = ((0, 0), ((k - 1) * d, 0))
    elif isinstance(padding, str):
        pads2 = padding
    elif isinstance(padding, (int, np.integer)):
        pads2 = ((0, 0), (int(padding), int(padding)))
    else:
        pads2 = ((0, 0), tuple(padding))
    if isinstance(pads2, str) and pads2.lower() == "same":
        L = x.shape[1] if df == "channels_last" else x.shape[2]
        lo_hi = padding_amounts("same", (1, L), (1, k), (1, max(s, 1)), (1, max(d, 1)), name)
        pads2 = ((0, 0), (lo_hi[2], lo_hi[3]))
    if df == "channels_last":
        x4 = reshape(x, (x.shape[0], 1, x.shape[1], x.shape[2]))
    else:
        x4 = reshape(x, (x.shape[0], x.shape[1], 1, x.shape[2]))
    w4 = reshape(w, (1,) + w.shape)
    y = conv2d(x4, w4, bias, (1, s), pads2, (1, d), groups, df, activation, name)
    if df == "channels_last":
        return reshape(y, (y.shape[0], y.shape[2], y.shape[3]))
    return reshape(y, (y.shape[0], y.shape[1], y.shape[3]))


def transpose_output_length(n: int, k: int, s: int, d: int, padding: str, output_padding: Optional[int]) -> int:
    """Output length of a transposed convolution along one axis (Keras' formula):
    "valid": (n - 1) * s + k_eff + (output_padding or max(k_eff, s) - k_eff);
    "same": n * s, or (n - 1) * s + k_eff % 2 + output_padding when output_padding is given;
    k_eff = (k - 1) * d + 1."""
    ke = (k - 1) * d + 1
    if padding == "valid":
        op = max(ke, s) - ke if output_padding is None else output_padding
        return (n - 1) * s + ke + op
    if output_padding is None:
        return n * s
    return (n - 1) * s + ke % 2 + output_padding


def conv2d_transpose(x, kernel, bias=None, strides: IntPair = 1, padding: str = "valid", output_padding=None,
                     dilation_rate: IntPair = 1, data_format: Optional[str] = "channels_last",
                     name: str = "conv2d_transpose") -> Tensor:
    """2-D transposed convolution (Keras ``Conv2DTranspose`` / ``ops.conv_transpose``).

    x: (N, H, W, C) (or (N, C, H, W)); kernel: (KH, KW, filters, C) (Keras' layout); bias
    (filters,) or None. Returns (N, OH, OW, filters) with the sizes of
    :func:`transpose_output_length`. It is the gradient of a convolution with respect to
    its input, so forward and backward are the conv2d kernels: forward = conv2d's input
    gradient, backward = conv2d (for x) and conv2d's weight gradient (for the kernel). The
    padding is TensorFlow's for the convolution this one transposes ("same": the padding
    that convolution needs, the extra row / column at the bottom / right).
    """
    x, w, df = _operands(x, kernel, data_format, name, "filters, in_channels")
    b = None if bias is None else as_tensor(bias)
    pad = padding.lower() if isinstance(padding, str) else padding
    if pad not in ("valid", "same"):
        raise ValueError(f"{name}: padding must be 'valid' or 'same'. Received: padding={padding!r}")
    st = _pair(strides, "strides", name)
    dil = _pair(dilation_rate, "dilation_rate", name)
    opad = None if output_padding is None else _pair(output_padding, "output_padding", name, minimum=0)
    if opad is not None and any(o >= s for o, s in zip(opad, st)):
        raise ValueError(f"{name}: output_padding must be smaller than strides. "
                         f"Received: output_padding={output_padding!r}, strides={strides!r}")
    dt = w.data.dtype
    xd = x.data if x.data.dtype == dt else x.data.astype(dt)
    if df == "channels_first":
        xd = _nhwc(xd)
    xp = backend.xp(xd)
    xd = xp.ascontiguousarray(xd)
    N, H, W, C = xd.shape
    KH, KW, F, Cw = w.shape
    if Cw != C:
        raise ValueError(f"{name}: the kernel expects {Cw} input channels but the input has {C}. "
                         f"Received: input shape={x.shape}, kernel.shape={w.shape}")
    if b is not None and b.shape != (F,):
        raise ValueError(f"{name}: bias must have shape ({F},). Received: bias.shape={b.shape}")
    out_hw, pads = [], []
    for n, k, s, d, op in zip((H, W), (KH, KW), st, dil, opad or (None, None)):
        o = transpose_output_length(n, k, s, d, pad, op)
        if o < 1:
            raise ValueError(f"{name}: the output would be empty. Received: input shape={x.shape}, "
                             f"kernel.shape={w.shape}, strides={st}, padding={padding!r}")
        total = max((n - 1) * s + (k - 1) * d + 1 - o, 0)
        lo = total // 2 if pad == "same" else 0
        out_hw.append(o)
        pads += [lo, total - lo]
    OH, OW = out_hw
    # the convolution this one transposes maps (OH, OW) back to exactly (H, W)
    for n, o, k, s, d, lo, hi in ((H, OH, KH, st[0], dil[0], pads[0], pads[1]),
                                  (W, OW, KW, st[1], dil[1], pads[2], pads[3])):
        assert (o + lo + hi - (k - 1) * d - 1) // s + 1 == n, "conv2d_transpose: inconsistent geometry"
    ops = backend.ops(xd)
    wd = w.data
    shape_z = xp.zeros((N, OH, OW, F), dtype=dt)  # only its shape is read when just dx is asked for
    y, _, _ = ops.conv2d_backward(shape_z, wd, xd, None, st, pads, dil, 1, 0, True, False, False)
    if b is not None:
        y += b.data if b.data.dtype == dt else b.data.astype(dt)
    parents = (x, w) if b is None else (x, w, b)

    def backward(g):
        g = xp.ascontiguousarray(_nhwc(g) if df == "channels_first" else g)
        dx = ops.conv2d(g, wd, None, st, pads, dil, 1, 0) if x.requires_grad else None
        dw = None
        if w.requires_grad:
            _, dw, _ = ops.conv2d_backward(g, wd, xd, None, st, pads, dil, 1, 0, False, True, False)
        if dx is not None and df == "channels_first":
            dx = _nchw(dx)
        if b is None:
            return dx, dw
        db = g.sum(axis=(0, 1, 2)) if b.requires_grad else None
        return dx, dw, db

    out = y if df == "channels_last" else _nchw(y)
    return make_op(out, parents, backward, name)


def conv1d_transpose(x, kernel, bias=None, strides: int = 1, padding: str = "valid", output_padding=None,
                     dilation_rate: int = 1, data_format: Optional[str] = "channels_last",
                     name: str = "conv1d_transpose") -> Tensor:
    """1-D transposed convolution: x (N, L, C) (or (N, C, L)), kernel (K, filters, C).
    Runs as a conv2d_transpose of height 1."""
    x, w, df = _operands(x, kernel, data_format, name, "filters, in_channels", rank=1)

    def one(v, what):
        if isinstance(v, (int, np.integer)):
            return int(v)
        t = tuple(v)
        if len(t) != 1:
            raise ValueError(f"{name}: {what} must be an integer or a 1-tuple. Received: {what}={v!r}")
        return int(t[0])
    s, d = one(strides, "strides"), one(dilation_rate, "dilation_rate")
    op = None if output_padding is None else (0, one(output_padding, "output_padding"))
    if df == "channels_last":
        x4 = reshape(x, (x.shape[0], 1, x.shape[1], x.shape[2]))
    else:
        x4 = reshape(x, (x.shape[0], x.shape[1], 1, x.shape[2]))
    y = conv2d_transpose(x4, reshape(w, (1,) + w.shape), bias, (1, s), padding, op, (1, d), df, name)
    if df == "channels_last":
        return reshape(y, (y.shape[0], y.shape[2], y.shape[3]))
    return reshape(y, (y.shape[0], y.shape[1], y.shape[3]))
