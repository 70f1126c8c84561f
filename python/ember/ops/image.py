"""``keras.ops.image``: ``extract_patches`` and ``resize``, both gathers (``core.getitem``)
and weighted sums, so their gradients come from the ops they are made of."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

from ..tensor import Tensor
from . import core
from .core import _floating

IntPair = Union[int, Sequence[int]]


def _two(v: IntPair, what: str, op: str) -> Tuple[int, int]:
    t = (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(s) for s in v)
    if len(t) != 2 or min(t) < 1:
        raise ValueError(f"{op}: {what} must be a positive int or a pair of them. Received: {what}={v!r}")
    return t


def _nhwc(images, data_format: Optional[str], op: str):
    """(batch, height, width, channels) view of ``images`` and how to undo it."""
    x = _floating(images)
    df = data_format or "channels_last"
    if df not in ("channels_last", "channels_first"):
        raise ValueError(f"{op}: data_format must be 'channels_last' or 'channels_first'. Received: {data_format!r}")
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: images must be 3-D (one image) or 4-D (a batch). Received: shape={x.shape}")
    single = x.ndim == 3
    if single:
        x = core.expand_dims(x, 0)
    if df == "channels_first":
        x = core.transpose(x, (0, 2, 3, 1))

    def back(y):
        if df == "channels_first":
            y = core.transpose(y, (0, 3, 1, 2))
        return core.squeeze(y, 0) if single else y
    return x, back


def extract_patches(images, size: IntPair, strides: Optional[IntPair] = None, dilation_rate: IntPair = 1,
                    padding: str = "valid", data_format: Optional[str] = None) -> Tensor:
    """Patches of ``size`` taken every ``strides`` (default: ``size``), each flattened in
    (row, column, channel) order: (batch, rows, cols, ph * pw * channels)."""
    x, back = _nhwc(images, data_format, "extract_patches")
    ph, pw = _two(size, "size", "extract_patches")
    sh, sw = _two(size if strides is None else strides, "strides", "extract_patches")
    dh, dw = _two(dilation_rate, "dilation_rate", "extract_patches")
    if padding not in ("valid", "same"):
        raise ValueError(f"extract_patches: padding must be 'valid' or 'same'. Received: padding={padding!r}")
    _, H, W, C = x.shape
    eh, ew = (ph - 1) * dh + 1, (pw - 1) * dw + 1  # the dilated patch extent
    if padding == "same":
        oh, ow = -(-H // sh), -(-W // sw)
        th, tw = max((oh - 1) * sh + eh - H, 0), max((ow - 1) * sw + ew - W, 0)
        x = core.pad(x, ((0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2), (0, 0)))
        H, W = H + th, W + tw
    oh, ow = (H - eh) // sh + 1, (W - ew) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"extract_patches: patches of size {(ph, pw)} (dilation {(dh, dw)}) do not fit images of "
                         f"shape {tuple(images.shape) if hasattr(images, 'shape') else np.shape(images)}")
    rows = (np.arange(oh) * sh)[:, None, None, None] + (np.arange(ph) * dh)[None, None, :, None]
    cols = (np.arange(ow) * sw)[None, :, None, None] + (np.arange(pw) * dw)[None, None, None, :]
    patches = core.getitem(x, (slice(None), rows, cols))  # (B, oh, ow, ph, pw, C)
    return back(core.reshape(patches, (x.shape[0], oh, ow, ph * pw * C)))


def _linear_taps(n_in: int, n_out: int):
    """Source indices and weights of half-pixel-centre linear interpolation (TF2, JAX)."""
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0, n_in - 1)
    i0 = np.floor(src).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def _resize_axis(x: Tensor, axis: int, n_out: int, interpolation: str) -> Tensor:
    n_in = x.shape[axis]
    if n_in == n_out:
        return x
    lead = (slice(None),) * axis
    if interpolation == "nearest":
        idx = np.minimum(np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.intp), n_in - 1)
        return core.getitem(x, lead + (idx,))
    i0, i1, w = _linear_taps(n_in, n_out)
    shape = [1] * x.ndim
    shape[axis] = n_out
    w = w.astype(x.data.dtype).reshape(shape)
    return core.add(core.mul(core.getitem(x, lead + (i0,)), 1 - w), core.mul(core.getitem(x, lead + (i1,)), w))


def resize(images, size: Sequence[int], interpolation: str = "bilinear", antialias: bool = False,
           crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False, fill_mode: str = "constant",
           fill_value: float = 0.0, data_format: Optional[str] = None) -> Tensor:
    """Images resized to ``size`` = (height, width) with "nearest" or "bilinear"
    interpolation (half-pixel centres, as TensorFlow 2 and JAX)."""
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"resize: interpolation must be 'nearest' or 'bilinear' in ember. "
                         f"Received: interpolation={interpolation!r}")
    if crop_to_aspect_ratio or pad_to_aspect_ratio:
        raise ValueError("resize: crop_to_aspect_ratio and pad_to_aspect_ratio are not supported by ember; "
                         "crop or pad first (ops.slice, ops.pad)")
    x, back = _nhwc(images, data_format, "resize")
    oh, ow = _two(size, "size", "resize")
    if antialias and interpolation == "bilinear" and (oh < x.shape[1] or ow < x.shape[2]):
        raise ValueError("resize: antialias=True when shrinking is not supported by ember. "
                         f"Received: images of shape {x.shape[1:3]} -> size {(oh, ow)}")
    y = _resize_axis(_resize_axis(x, 1, oh, interpolation), 2, ow, interpolation)
    return back(y)
