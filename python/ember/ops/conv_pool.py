"""A 2-D convolution (+ bias, + ReLU) and the max pooling of its output as one op.

The pair is the most common block of a CNN (``Conv2D(..., activation="relu")`` then
``MaxPooling2D``). Run separately, the convolution writes its whole output, the pooling reads
it back, and the backward writes and reads a gradient of that size again; fused, the kernel
pools each band of convolution rows while it is in cache and the backward scatters one band's
gradient at a time (the ReLU mask travels in the argmax, so the backward reads neither the
conv output nor the pooled one). The result is the one of :func:`ember.ops.conv.conv2d` followed by
:func:`ember.ops.pool.max_pool2d` (same values, same argmax, same gradients within float
rounding). channels_last only. Every backend has the kernel (``KernelBackend``); the CUDA
one composes its conv and pool kernels under the same contract.
"""
from __future__ import annotations

from typing import Optional

from .. import backend
from ..tensor import Tensor, as_tensor, make_op
from .conv import IntPair, Padding, _operands, _pair, padding_amounts

OP = "conv2d_max_pool2d"


def conv2d_max_pool2d(x, kernel, bias=None, strides: IntPair = 1, padding: Padding = "valid",
                      dilation_rate: IntPair = 1, groups: int = 1, activation: Optional[str] = None,
                      pool_size: IntPair = (2, 2), pool_strides: Optional[IntPair] = None, pool_padding="valid",
                      name: str = OP) -> Tensor:
    """``max_pool2d(conv2d(x, kernel, bias, ..., activation), pool_size, pool_strides, pool_padding)``.

    x: (N, H, W, C); kernel: (KH, KW, C // groups, OC); bias: (OC,) or None; ``activation``
    None, "linear" or "relu". Returns (N, PH, PW, OC), the pooled output; the op is recorded
    under ``name`` (``Tensor._op``), which starts with "conv2d_max_pool2d".

    >>> y = conv2d_max_pool2d(x, w, b, activation="relu", pool_size=2)
    """
    x, w, _ = _operands(x, kernel, "channels_last", name, "in_channels // groups, filters")
    if activation not in (None, "linear", "relu"):
        raise ValueError(f"{name}: activation must be None, 'linear' or 'relu'. Received: {activation!r}")
    act = "relu" if activation == "relu" else None
    b = None if bias is None else as_tensor(bias)
    dt = w.data.dtype
    xd = x.data if x.data.dtype == dt else x.data.astype(dt)
    ops = backend.ops(xd)
    st = _pair(strides, "strides", name)
    dil = _pair(dilation_rate, "dilation_rate", name)
    groups = int(groups)
    N, H, W, C = xd.shape
    KH, KW = w.shape[:2]
    pads = padding_amounts(padding, (H, W), (KH, KW), st, dil, name)
    # the conv output's size (the binding checks the kernel fits the padded input)
    OH = max((H + pads[0] + pads[1] - dil[0] * (KH - 1) - 1) // st[0] + 1, 0)
    OW = max((W + pads[2] + pads[3] - dil[1] * (KW - 1) - 1) // st[1] + 1, 0)
    ps = _pair(pool_size, "pool_size", name)
    pst = ps if pool_strides is None else _pair(pool_strides, "strides", name)
    ppads = padding_amounts(pool_padding, (OH, OW), ps, pst, (1, 1), name)
    if b is not None and b.shape != (w.shape[3],):
        raise ValueError(f"{name}: bias must have shape ({w.shape[3]},). Received: bias.shape={b.shape}")
    bd = None if b is None else (b.data if b.data.dtype == dt else b.data.astype(dt))
    wd = w.data
    a = 1 if act == "relu" else 0
    y, idx = ops.conv2d_max_pool2d(xd, wd, bd, st, pads, dil, groups, a, ps, pst, ppads)
    parents = (x, w) if b is None else (x, w, b)

    def backward(g):
        dx, dw, db = ops.conv2d_max_pool2d_backward(xd, wd, g, idx, st, pads, dil, groups, ps, pst, ppads,
                                                    x.requires_grad, w.requires_grad,
                                                    b is not None and b.requires_grad)
        return (dx, dw) if b is None else (dx, dw, db)

    return make_op(y, parents, backward, name)
