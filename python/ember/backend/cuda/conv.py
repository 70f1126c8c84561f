"""CUDA conv2d (NHWC): im2col and col2im as gathers (kernels/conv.cu) around cuBLAS GEMMs.

Same arguments and returns as ``backend.cpu.conv2d`` / ``conv2d_backward``; shapes as in
csrc/conv.h. Groups run as one batched GEMM over a (G, M, Kg) patch matrix.
"""
from __future__ import annotations

from collections import namedtuple

from . import runtime
from .elementwise import column_sums
from ._launch import fail, float_dtype, i32, i64, idx32, ints, launch, operand

__all__ = ["conv2d", "conv2d_backward"]

_FAMILY = "conv"
#: output rows per partial sum of the bias gradient: fixed, so db does not depend on the launch
ROW_CHUNK = 256

Shape = namedtuple("Shape", "N H W C KH KW OC OH OW sh sw ph pw dh dw G")


def conv_shape(op: str, x, w, strides, pads, dilation, groups) -> Shape:
    """Checks x (N, H, W, C) and w (KH, KW, C/G, OC) as csrc/bind_conv.cpp does; the output size."""
    if x.ndim != 4:
        fail(op, f"'x' must be 4-D. Received: shape={tuple(x.shape)}")
    if w.ndim != 4:
        fail(op, f"'w' must be 4-D. Received: shape={tuple(w.shape)}")
    sh, sw = ints(op, "strides", strides, 2, 1, "two integers >= 1")
    pt, pb, pl, pr = ints(op, "padding", pads, 4, 0, "four integers >= 0 (top, bottom, left, right)")
    dh, dw = ints(op, "dilation", dilation, 2, 1, "two integers >= 1")
    N, H, W, C = (int(e) for e in x.shape)
    KH, KW, _, OC = (int(e) for e in w.shape)
    G = int(groups)
    if G < 1 or G > max(C, 1) or C % G or OC % G:
        fail(op, f"groups must divide the input channels and the filters. Received: groups={G}, "
                 f"x.shape={tuple(x.shape)}, w.shape={tuple(w.shape)}")
    if int(w.shape[2]) != C // G:
        fail(op, f"the kernel expects {int(w.shape[2]) * G} input channels but x has {C}. Received: "
                 f"x.shape={tuple(x.shape)}, w.shape={tuple(w.shape)}, groups={G}")
    eh, ew = dh * (KH - 1) + 1, dw * (KW - 1) + 1
    hp, wp = H + pt + pb, W + pl + pr
    if KH < 1 or KW < 1 or eh > hp or ew > wp:
        fail(op, f"the (dilated) kernel {eh}x{ew} is larger than the padded input {hp}x{wp}. Received: "
                 f"x.shape={tuple(x.shape)}, w.shape={tuple(w.shape)}")
    return Shape(N, H, W, C, KH, KW, OC, (hp - eh) // sh + 1, (wp - ew) // sw + 1, sh, sw, pt, pl, dh, dw, G)


def _geometry(s: Shape):
    return tuple(i64(v) for v in (s.N, s.H, s.W, s.C, s.KH, s.KW, s.OH, s.OW, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw,
                                  s.G))


def _direct(s: Shape) -> bool:
    """1x1, stride 1, no padding, one group: x itself is the patch matrix."""
    return (s.KH == 1 and s.KW == 1 and s.sh == 1 and s.sw == 1 and s.ph == 0 and s.pw == 0 and s.G == 1
            and s.OH == s.H and s.OW == s.W)


def _patches(x, s: Shape, d):
    """The (G, M, Kg) patch matrix of x (a view of x for a direct convolution)."""
    M, Kg = s.N * s.OH * s.OW, s.KH * s.KW * (s.C // s.G)
    if _direct(s):
        return x.reshape(1, M, s.C)
    col = runtime.xp().empty((s.G, M, Kg), dtype=d)
    launch(_FAMILY, "conv_im2col", d, s.G * M * Kg, (col, x) + _geometry(s) + (idx32(col.size, x.size),))
    return col


def _grouped_w(w, s: Shape):
    """w (KH, KW, Cg, OC) as the (G, Kg, OCg) stack of per-group GEMM matrices (a view)."""
    Kg, OCg = s.KH * s.KW * (s.C // s.G), s.OC // s.G
    return w.reshape(Kg, s.G, OCg).transpose(1, 0, 2)


def _stacked_matmul(a, b):
    """a (G, m, k) @ b (G, k, n) on cuBLAS: one plain GEMM when G is 1 (a transposed 2-D view
    is read in place through cuBLAS' transpose flags; a batched product may copy it first)."""
    xp = runtime.xp()
    if a.shape[0] == 1:
        return xp.matmul(a[0], b[0])[None]
    return xp.matmul(a, b)


def conv2d(x, w, b, strides, pads, dilation, groups: int, act: int = 0):
    """NHWC conv2d: x (N, H, W, C), w (KH, KW, C/G, OC), b (OC,) or None; pads =
    (top, bottom, left, right); act 1 fuses a ReLU. Returns (N, OH, OW, OC)."""
    op = "conv2d"
    d = float_dtype(op, "x", x)
    w = operand(op, "w", w, d)
    x = runtime.xp().ascontiguousarray(x)
    s = conv_shape(op, x, w, strides, pads, dilation, groups)
    if b is not None:
        b = operand(op, "b", b, d, (s.OC,))
    if act not in (0, 1):
        fail(op, f"act must be 0 (none) or 1 (relu). Received: act={act}")
    xp = runtime.xp()
    M = s.N * s.OH * s.OW
    t = _stacked_matmul(_patches(x, s, d), _grouped_w(w, s))  # (G, M, OCg)
    if s.G == 1 and b is None and act == 0:
        y = t
    else:
        y = t if s.G == 1 else xp.empty((M, s.OC), dtype=d)  # G == 1: in place
        launch(_FAMILY, "conv_epilogue", d, M * s.OC,
               (y, t, t if b is None else b, i64(M), i64(s.OC), i64(s.G), i32(b is not None), i32(act)))
    return y.reshape(s.N, s.OH, s.OW, s.OC)


def conv2d_backward(x, w, dy, y, strides, pads, dilation, groups: int, act: int,
                    need_dx: bool, need_dw: bool, need_db: bool):
    """(dx, dw, db) of :func:`conv2d` (None where not needed); ``y`` is the forward output
    when ``act`` is 1 (the ReLU mask)."""
    op = "conv2d_backward"
    xp = runtime.xp()
    d = float_dtype(op, "x", x)
    w = operand(op, "w", w, d)
    x = xp.ascontiguousarray(x)
    s = conv_shape(op, x, w, strides, pads, dilation, groups)
    oshape = (s.N, s.OH, s.OW, s.OC)
    dy = operand(op, "dy", dy, d, oshape)
    if act not in (0, 1):
        fail(op, f"act must be 0 (none) or 1 (relu). Received: act={act}")
    if y is not None:
        y = operand(op, "y", y, d, oshape)
    elif act == 1:
        fail(op, "act=1 (relu) needs the forward output y")
    M, OCg, Kg = s.N * s.OH * s.OW, s.OC // s.G, s.KH * s.KW * (s.C // s.G)
    if s.G == 1 and act == 0:
        gg = dy.reshape(1, M, s.OC)
    else:
        gg = xp.empty((s.G, M, OCg), dtype=d)
        launch(_FAMILY, "conv_grad_prep", d, M * s.OC,
               (gg, dy, dy if y is None else y, i64(M), i64(s.OC), i64(s.G), i32(act)))
    dx = dw = db = None
    if need_db:
        db = xp.empty((s.OC,), dtype=d)
        nch = -(-M // ROW_CHUNK)
        part = xp.empty((nch, s.OC), dtype=d)
        launch(_FAMILY, "conv_bias_grad_part", d, nch * s.OC, (part, gg, i64(M), i64(s.OC), i64(s.G), i64(ROW_CHUNK)))
        column_sums(db, part)
    if need_dw:
        dwg = _stacked_matmul(_patches(x, s, d).transpose(0, 2, 1), gg)  # (G, Kg, OCg)
        dw = xp.ascontiguousarray(dwg.transpose(1, 0, 2)).reshape(s.KH, s.KW, s.C // s.G, s.OC)
    if need_dx:
        dcol = _stacked_matmul(gg, _grouped_w(w, s).transpose(0, 2, 1))  # (G, M, Kg)
        if _direct(s):
            dx = dcol.reshape(s.N, s.H, s.W, s.C)
        else:
            dx = xp.empty((s.N, s.H, s.W, s.C), dtype=d)
            launch(_FAMILY, "conv_col2im", d, dx.size,
                   (dx, xp.ascontiguousarray(dcol)) + _geometry(s) + (idx32(dcol.size, dx.size),))
    return dx, dw, db
