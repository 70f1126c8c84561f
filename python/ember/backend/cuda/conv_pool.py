"""CUDA conv2d (+ bias, + ReLU) followed by 2-D max pooling, with the CPU's fused-op contract.

The CPU runs the pair as one kernel (the conv output never leaves cache). Here the pair is
composed from this backend's own conv and pool kernels, so the results and the argmax
format are the CPU fused kernel's: ``idx`` holds the conv-output cell oh * OW + ow of each
maximum, and with the ReLU it is -1 where the pooled value is a ReLU zero, so the backward
needs neither the conv output nor the pooled output. No host round trip.
"""
from __future__ import annotations

from . import conv as _conv
from . import pool as _pool
from . import runtime

__all__ = ["conv2d_max_pool2d", "conv2d_max_pool2d_backward"]


def conv2d_max_pool2d(x, w, b, strides, pads, dilation, groups: int, act: int, pool, pool_strides, pool_pads):
    """(y, idx) of ``max_pool2d(conv2d(x, w, b, ..., act), pool, pool_strides, pool_pads)``."""
    c = _conv.conv2d(x, w, b, strides, pads, dilation, groups, act)
    y, idx = _pool.max_pool2d(c, pool, pool_strides, pool_pads)
    if act == 1:  # a ReLU zero passes no gradient (NaN is not zero: it passes, as on the CPU)
        xp = runtime.xp()
        idx = xp.where(y == 0, xp.asarray(-1, dtype=idx.dtype), idx)
    return y, idx


def conv2d_max_pool2d_backward(x, w, dy, idx, strides, pads, dilation, groups: int, pool, pool_strides, pool_pads,
                               need_dx: bool, need_dw: bool, need_db: bool):
    """(dx, dw, db) of :func:`conv2d_max_pool2d` from its idx (the ReLU mask is in idx)."""
    s = _conv.conv_shape("conv2d_max_pool2d_backward", x, w, strides, pads, dilation, groups)
    dc = _pool.max_pool2d_backward(dy, idx, (s.N, s.OH, s.OW, s.OC), pool, pool_strides, pool_pads)
    return _conv.conv2d_backward(x, w, dc, None, strides, pads, dilation, groups, 0, need_dx, need_dw, need_db)
