"""Reshaping layers: Reshape, ZeroPadding2D, RepeatVector, Permute, Cropping1D/2D,
UpSampling1D/2D (Flatten lives in core.py)."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from .. import functional as F
from .base import Layer


class Reshape(Layer):
    """Reshape everything but the batch dimension: ``Reshape((28, 28, 1))``; one entry may
    be -1 (inferred)."""

    def __init__(self, target_shape: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(s) for s in target_shape)
        if sum(1 for s in self.target_shape if s == -1) > 1 or any(s < -1 or s == 0 for s in self.target_shape):
            raise ValueError(f"Reshape layer '{self.name}': target_shape must be positive integers with at most one "
                             f"-1. Received: {target_shape!r}")

    def _resolve(self, input_shape):
        rest = input_shape[1:]
        if any(s is None for s in rest):
            return self.target_shape
        total = int(np.prod(rest)) if rest else 1
        known = int(np.prod([s for s in self.target_shape if s != -1])) if self.target_shape else 1
        if -1 in self.target_shape:
            if known == 0 or total % known:
                raise ValueError(f"Reshape layer '{self.name}': cannot reshape {tuple(rest)} into {self.target_shape}")
            return tuple(total // known if s == -1 else s for s in self.target_shape)
        if known != total:
            raise ValueError(f"Reshape layer '{self.name}': cannot reshape an input of shape {tuple(input_shape)} "
                             f"({total} values per sample) into {self.target_shape} ({known} values)")
        return self.target_shape

    def call(self, inputs):
        return F.reshape(inputs, (inputs.shape[0],) + self._resolve(inputs.shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(input_shape)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["target_shape"] = self.target_shape
        return cfg


class ZeroPadding2D(Layer):
    """Pad height and width with zeros: ``padding`` is p, (ph, pw) or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, (int, np.integer)):
            pads = ((int(padding),) * 2, (int(padding),) * 2)
        else:
            items = list(padding)
            if len(items) == 2 and all(isinstance(a, (int, np.integer)) for a in items):
                pads = ((int(items[0]),) * 2, (int(items[1]),) * 2)
            elif len(items) == 2 and all(len(a) == 2 for a in items):
                pads = tuple(tuple(int(v) for v in a) for a in items)
            else:
                raise ValueError(f"ZeroPadding2D layer '{self.name}': padding must be p, (ph, pw) or "
                                 f"((top, bottom), (left, right)). Received: {padding!r}")
        if min(min(p) for p in pads) < 0:
            raise ValueError(f"ZeroPadding2D layer '{self.name}': padding must be >= 0. Received: {padding!r}")
        self.padding = pads
        self.data_format = (data_format or "channels_last").lower()

    def get_config(self) -> dict:
        return dict(super().get_config(), padding=self.padding, data_format=self.data_format)

    def call(self, inputs):
        if inputs.ndim != 4:
            raise ValueError(f"ZeroPadding2D layer '{self.name}' expects a 4-D input. Received: shape={inputs.shape}")
        (t, b), (l, r) = self.padding
        if self.data_format == "channels_last":
            width = ((0, 0), (t, b), (l, r), (0, 0))
        else:
            width = ((0, 0), (0, 0), (t, b), (l, r))
        return F.pad(inputs, width)

    def compute_output_shape(self, input_shape):
        (t, b), (l, r) = self.padding
        s = list(input_shape)
        hi, wi = (1, 2) if self.data_format == "channels_last" else (2, 3)
        s[hi] = None if s[hi] is None else s[hi] + t + b
        s[wi] = None if s[wi] is None else s[wi] + l + r
        return tuple(s)


def _data_format(data_format, cls: str) -> str:
    df = (data_format or "channels_last").lower()
    if df not in ("channels_last", "channels_first"):
        raise ValueError(f"{cls}: data_format must be 'channels_last' or 'channels_first'. Received: {data_format!r}")
    return df


def _spatial_axes(df: str, rank: int) -> Tuple[int, ...]:
    return tuple(range(1, 1 + rank)) if df == "channels_last" else tuple(range(2, 2 + rank))


def _check_ndim(layer: Layer, shape, ndim: int, layout: str) -> None:
    if len(shape) != ndim:
        raise ValueError(f"{type(layer).__name__} layer '{layer.name}' expects a {ndim}-D input {layout}. "
                         f"Received: shape={tuple(shape)}")


def _layout(df: str, names: str) -> str:
    return f"(batch, {names}, channels)" if df == "channels_last" else f"(batch, channels, {names})"


class RepeatVector(Layer):
    """Repeat a (batch, features) input ``n`` times: (batch, n, features) (seq2seq
    decoders: ``RepeatVector(steps)`` before an LSTM)."""

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"RepeatVector layer '{self.name}': n must be a positive integer. Received: n={n!r}")
        self.n = int(n)

    def call(self, inputs):
        _check_ndim(self, inputs.shape, 2, "(batch, features)")
        b, f = inputs.shape
        return F.broadcast_to(F.expand_dims(inputs, 1), (b, self.n, f))

    def compute_output_shape(self, input_shape):
        _check_ndim(self, input_shape, 2, "(batch, features)")
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict:
        return dict(super().get_config(), n=self.n)


class Permute(Layer):
    """Permute the non-batch axes: ``dims`` is a permutation of 1..rank (1-indexed, as
    Keras): ``Permute((2, 1))`` swaps the two axes of (batch, a, b)."""

    def __init__(self, dims: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute layer '{self.name}': dims must be a permutation of 1..{len(self.dims)} "
                             f"(the batch axis 0 stays first). Received: dims={tuple(dims)!r}")

    def _check(self, shape) -> None:
        if len(shape) != len(self.dims) + 1:
            raise ValueError(f"Permute layer '{self.name}' with dims={self.dims} expects a {len(self.dims) + 1}-D "
                             f"input. Received: shape={tuple(shape)}")

    def call(self, inputs):
        self._check(inputs.shape)
        return F.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self) -> dict:
        return dict(super().get_config(), dims=self.dims)


def _crop_pairs(cropping, rank: int, cls: str) -> Tuple[Tuple[int, int], ...]:
    """Keras cropping argument forms: c (every side), (a, b) (rank 1: start, end; rank 2:
    symmetric per axis), or one (start, end) pair per axis."""
    def fail():
        raise ValueError(f"{cls}: cropping must be an integer, a tuple of {rank if rank > 1 else 2} integers"
                         + (" or a tuple of 2 (start, end) tuples" if rank > 1 else "")
                         + f" (all >= 0). Received: cropping={cropping!r}")
    if isinstance(cropping, (int, np.integer)):
        pairs = ((int(cropping),) * 2,) * rank
    else:
        try:
            items = list(cropping)
        except TypeError:
            fail()
        if rank == 1 and len(items) == 2 and all(isinstance(a, (int, np.integer)) for a in items):
            pairs = ((int(items[0]), int(items[1])),)
        elif rank > 1 and len(items) == rank and all(isinstance(a, (int, np.integer)) for a in items):
            pairs = tuple((int(a), int(a)) for a in items)
        elif rank > 1 and len(items) == rank and all(isinstance(a, (tuple, list)) and len(a) == 2 for a in items):
            pairs = tuple((int(a[0]), int(a[1])) for a in items)
        else:
            fail()
    if min(min(p) for p in pairs) < 0:
        fail()
    return pairs


class _Cropping(Layer):
    _rank = 1
    _names = "steps"

    def __init__(self, cropping, data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        cls = f"{type(self).__name__} layer '{self.name}'"
        self.cropping = _crop_pairs(cropping, self._rank, cls)
        self.data_format = _data_format(data_format, cls)

    def _out(self, shape) -> tuple:
        _check_ndim(self, shape, self._rank + 2, _layout(self.data_format, self._names))
        out = list(shape)
        for ax, (lo, hi) in zip(_spatial_axes(self.data_format, self._rank), self.cropping):
            n = shape[ax]
            if n is not None:
                if lo + hi >= n:
                    raise ValueError(f"{type(self).__name__} layer '{self.name}': cropping {(lo, hi)} removes all "
                                     f"{n} entries of axis {ax}. Received: input shape={tuple(shape)}, "
                                     f"cropping={self.cropping}")
                out[ax] = n - lo - hi
        return tuple(out)

    def call(self, inputs):
        self._out(inputs.shape)
        idx = [slice(None)] * inputs.ndim
        for ax, (lo, hi) in zip(_spatial_axes(self.data_format, self._rank), self.cropping):
            idx[ax] = slice(lo, inputs.shape[ax] - hi)
        return F.getitem(inputs, tuple(idx))

    def compute_output_shape(self, input_shape):
        return self._out(input_shape)


class Cropping1D(_Cropping):
    """Crop steps of (batch, steps, channels): ``cropping`` is c or (start, end)."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, None, **kwargs)

    def get_config(self) -> dict:
        return dict(super().get_config(), cropping=self.cropping[0])


class Cropping2D(_Cropping):
    """Crop height and width: ``cropping`` is c, (ch, cw) (symmetric) or
    ((top, bottom), (left, right))."""
    _rank = 2
    _names = "height, width"

    def __init__(self, cropping=((0, 0), (0, 0)), data_format: Optional[str] = None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)

    def get_config(self) -> dict:
        return dict(super().get_config(), cropping=self.cropping, data_format=self.data_format)


def _repeat(x, axes: Sequence[int], factors: Sequence[int]):
    """Nearest-neighbour upsampling: every entry repeated ``factor`` times along each axis,
    as reshape -> broadcast -> reshape (the gradient sums each block back)."""
    expanded, target, final = list(x.shape), list(x.shape), list(x.shape)
    for k, (ax, f) in enumerate(sorted(zip(axes, factors))):
        expanded.insert(ax + 1 + k, 1)
        target.insert(ax + 1 + k, f)
        final[ax] *= f
    y = F.broadcast_to(F.reshape(x, tuple(expanded)), tuple(target))
    return F.reshape(y, tuple(final))


def _bilinear_matrix(n: int, factor: int) -> np.ndarray:
    """(n * factor, n) interpolation weights with half-pixel centres, edges clamped (what
    Keras' ``ops.image.resize(..., "bilinear")`` does when upsampling)."""
    src = np.clip((np.arange(n * factor) + 0.5) / factor - 0.5, 0, n - 1)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    frac = src - lo
    m = np.zeros((n * factor, n))
    np.add.at(m, (np.arange(n * factor), lo), 1 - frac)
    np.add.at(m, (np.arange(n * factor), hi), frac)
    return m


class UpSampling1D(Layer):
    """Repeat each step ``size`` times: (batch, steps, features) -> (batch, steps * size,
    features)."""

    def __init__(self, size: int = 2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"UpSampling1D layer '{self.name}': size must be a positive integer. "
                             f"Received: size={size!r}")
        self.size = int(size)

    def call(self, inputs):
        _check_ndim(self, inputs.shape, 3, "(batch, steps, features)")
        return _repeat(inputs, (1,), (self.size,))

    def compute_output_shape(self, input_shape):
        _check_ndim(self, input_shape, 3, "(batch, steps, features)")
        n = input_shape[1]
        return (input_shape[0], None if n is None else n * self.size, input_shape[2])

    def get_config(self) -> dict:
        return dict(super().get_config(), size=self.size)


class UpSampling2D(Layer):
    """Upsample height and width by ``size`` (an integer or (sh, sw)): ``interpolation``
    "nearest" repeats rows and columns; "bilinear" interpolates with half-pixel centres
    (Keras / TensorFlow's resize). Input (batch, height, width, channels) or channels_first."""

    def __init__(self, size=(2, 2), data_format: Optional[str] = None, interpolation: str = "nearest", **kwargs):
        super().__init__(**kwargs)
        cls = f"UpSampling2D layer '{self.name}'"
        from .conv import _tuple
        self.size = _tuple(size, 2, "size", cls)
        self.data_format = _data_format(data_format, cls)
        interp = str(interpolation).lower()
        if interp in ("bicubic", "lanczos3", "lanczos5", "area"):
            raise NotImplementedError(f"{cls}: interpolation={interpolation!r} is not implemented; "
                                      "use 'nearest' or 'bilinear'")
        if interp not in ("nearest", "bilinear"):
            raise ValueError(f"{cls}: interpolation must be 'nearest' or 'bilinear'. "
                             f"Received: interpolation={interpolation!r}")
        self.interpolation = interp

    def call(self, inputs):
        _check_ndim(self, inputs.shape, 4, _layout(self.data_format, "height, width"))
        axes = _spatial_axes(self.data_format, 2)
        if self.interpolation == "nearest":
            return _repeat(inputs, axes, self.size)
        x = inputs if inputs.dtype.kind == "f" else F.cast(inputs, self.dtype)
        if self.data_format == "channels_last":  # (B, H, W, C) -> (B, C, H, W)
            x = F.transpose(x, (0, 3, 1, 2))
        h, w = x.shape[2], x.shape[3]
        mh = _bilinear_matrix(h, self.size[0]).astype(x.dtype)
        mw = _bilinear_matrix(w, self.size[1]).astype(x.dtype)
        y = F.matmul(F.matmul(mh, x), mw.T)
        return F.transpose(y, (0, 2, 3, 1)) if self.data_format == "channels_last" else y

    def compute_output_shape(self, input_shape):
        _check_ndim(self, input_shape, 4, _layout(self.data_format, "height, width"))
        out = list(input_shape)
        for ax, f in zip(_spatial_axes(self.data_format, 2), self.size):
            out[ax] = None if out[ax] is None else out[ax] * f
        return tuple(out)

    def get_config(self) -> dict:
        return dict(super().get_config(), size=self.size, data_format=self.data_format,
                    interpolation=self.interpolation)
