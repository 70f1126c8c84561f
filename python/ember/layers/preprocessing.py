"""Preprocessing layers (Keras names and defaults): Rescaling, Normalization."""
from __future__ import annotations

import math
import sys
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from .. import backend
from .. import functional as F
from ..tensor import Tensor, as_array, as_array_like
from ..utils.progbar import Progbar
from .base import Layer

_EPSILON = 1e-7  # keras.backend.epsilon()


def _float_input(layer: Layer, inputs: Tensor) -> Tensor:
    """Integer inputs (uint8 images, ...) become the layer's float dtype; float inputs keep theirs."""
    return inputs if inputs.dtype.kind == "f" else F.cast(inputs, layer.dtype)


def _config_value(v):
    """A number or an array as it goes into a JSON config (a float or nested lists)."""
    a = np.asarray(v, dtype=np.float64)
    return float(a) if a.ndim == 0 else a.tolist()


class Rescaling(Layer):
    """``inputs * scale + offset`` (``Rescaling(1. / 255)`` for images, ``Rescaling(1. / 127.5,
    offset=-1)`` for [-1, 1]). ``scale`` and ``offset`` are numbers or arrays that broadcast
    against the input; integer inputs are cast to the layer's dtype first."""

    supports_masking = True  # passes the mask on unchanged (Keras)

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for what, v in (("scale", scale), ("offset", offset)):
            try:
                a = np.asarray(v, dtype=np.float64)
            except (TypeError, ValueError):
                a = None
            if a is None or not np.all(np.isfinite(a)):
                raise ValueError(f"Rescaling layer '{self.name}': {what} must be a finite number or an array of "
                                 f"them. Received: {what}={v!r}")
        self.scale, self.offset = scale, offset
        self._scale = np.asarray(scale, dtype=np.float64)
        self._offset = np.asarray(offset, dtype=np.float64)

    def call(self, inputs):
        x = _float_input(self, inputs)
        try:
            np.broadcast_shapes(x.shape, self._scale.shape, self._offset.shape)
        except ValueError:
            raise ValueError(f"Rescaling layer '{self.name}': scale {self._scale.shape} and offset "
                             f"{self._offset.shape} do not broadcast against the input. "
                             f"Received: shape={x.shape}") from None
        dt = x.dtype
        y = x * Tensor(as_array_like(self._scale, x.data, dt)) if self._scale.ndim else x * dt.type(self._scale)
        if np.any(self._offset != 0):
            y = y + (Tensor(as_array_like(self._offset, x.data, dt)) if self._offset.ndim else dt.type(self._offset))
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(super().get_config(), scale=_config_value(self._scale), offset=_config_value(self._offset))


class Normalization(Layer):
    """Feature-wise standardisation: ``(inputs - mean) / sqrt(variance)`` (the square
    root floored at 1e-7), Keras semantics.

    ``axis`` (int, tuple or None) are the axes that keep their own statistics (the last by
    default: one mean and variance per feature); None means one scalar mean and variance.
    Either give ``mean`` and ``variance`` (numbers or arrays broadcastable to the kept axes)
    or call ``adapt(data)`` before training: it computes them over every other axis and
    stores them as the non-trainable weights "mean" and "variance", so ``model.save`` keeps
    them. ``invert=True`` maps standardised values back (``mean + inputs * std``).

    >>> norm = Normalization()
    >>> norm.adapt(x_train)
    >>> model = ember.Sequential([ember.Input(shape=(8,)), norm, Dense(1)])
    """

    supports_masking = True  # passes the mask on unchanged (Keras)

    def __init__(self, axis: Union[int, Sequence[int], None] = -1, mean=None, variance=None, invert: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        cls = f"Normalization layer '{self.name}'"
        if axis is None:
            self.axis: Tuple[int, ...] = ()
        elif isinstance(axis, (int, np.integer)):
            self.axis = (int(axis),)
        else:
            self.axis = tuple(int(a) for a in axis)
            if len(set(self.axis)) != len(self.axis):
                raise ValueError(f"{cls}: axis must not repeat an axis. Received: axis={axis!r}")
        if 0 in self.axis:
            raise ValueError(f"{cls}: axis 0 is the batch axis and cannot keep statistics. Received: axis={axis!r}")
        if (mean is None) != (variance is None):
            raise ValueError(f"{cls}: give both mean and variance, or neither (and call adapt). "
                             f"Received: mean={mean!r}, variance={variance!r}")
        self.input_mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.input_variance = None if variance is None else np.asarray(variance, dtype=np.float64)
        if self.input_variance is not None and np.any(self.input_variance < 0):
            raise ValueError(f"{cls}: variance must be >= 0. Received: variance={variance!r}")
        self.invert = bool(invert)
        self.mean = self.variance = None

    # -- shapes ---------------------------------------------------------------------------
    def _keep(self, ndim: int) -> Tuple[int, ...]:
        keep = []
        for a in self.axis:
            if not -ndim <= a < ndim or a % ndim == 0:
                raise ValueError(f"Normalization layer '{self.name}': axis={self.axis} is invalid for a "
                                 f"{ndim}-D input (axis 0 is the batch)")
            keep.append(a % ndim)
        return tuple(sorted(keep))

    def build(self, input_shape) -> None:
        ndim = len(input_shape)
        self._keep_axis = self._keep(ndim)
        for d in self._keep_axis:
            if input_shape[d] is None:
                raise ValueError(f"Normalization layer '{self.name}': the kept axis {d} must have a known size. "
                                 f"Received: input shape={tuple(input_shape)}")
        self._ndim = ndim
        self._stat_shape = tuple(int(input_shape[d]) for d in self._keep_axis)
        self._broadcast_shape = tuple(int(input_shape[d]) if d in self._keep_axis else 1 for d in range(ndim))
        self._built_shape = tuple(input_shape[d] if d in self._keep_axis else None for d in range(ndim))
        if self.input_mean is None:
            self.mean = self.add_weight("mean", self._stat_shape, "zeros", trainable=False)
            self.variance = self.add_weight("variance", self._stat_shape, "ones", trainable=False)
        else:
            try:
                self._const = (np.broadcast_to(self.input_mean, self._stat_shape),
                               np.broadcast_to(self.input_variance, self._stat_shape))
            except ValueError:
                raise ValueError(f"Normalization layer '{self.name}': mean {self.input_mean.shape} and variance "
                                 f"{self.input_variance.shape} do not broadcast to the kept axes' shape "
                                 f"{self._stat_shape} (input shape {tuple(input_shape)}, axis={self.axis})") from None
        self.built = True

    def _check(self, shape, what: str) -> None:
        if self._keep_axis and (len(shape) != self._ndim or
                                any(shape[d] != self._broadcast_shape[d] for d in self._keep_axis)):
            raise ValueError(f"Normalization layer '{self.name}' was built for inputs of shape {self._built_shape} "
                             f"(statistics per entry of axis {self.axis}). {what}: shape={tuple(shape)}")

    # -- statistics -------------------------------------------------------------------------
    def adapt(self, data, batch_size: Optional[int] = None, steps: Optional[int] = None, verbose: int = 1) -> None:
        """Compute the mean and variance of ``data`` over every axis but ``axis``.

        ``data``: an array (or a Tensor / nested list), or an iterable of batches (arrays, or
        tuples whose first item is the batch, as a dataset of (x, y) yields); ``steps``
        caps the number of batches taken. Statistics are accumulated in float64. With
        ``verbose`` and several batches of known number, a progress bar is drawn on a terminal
        (nothing is written elsewhere)."""
        if self.input_mean is not None:
            raise ValueError(f"Normalization layer '{self.name}' was given mean and variance; adapt() would "
                             "overwrite them. Build it without mean / variance to adapt it to data.")
        if isinstance(data, Tensor):
            data = data.numpy()
        if isinstance(data, (np.ndarray, list)) or np.isscalar(data):
            arr = np.asarray(data)
            if batch_size is None or arr.ndim == 0:
                batches = [arr]
            else:
                batches = (arr[i:i + int(batch_size)] for i in range(0, len(arr), int(batch_size)))
        else:
            try:
                batches = iter(data)
            except TypeError:
                raise TypeError(f"Normalization layer '{self.name}'.adapt: data must be an array or an iterable of "
                                f"batches. Received: {type(data).__name__}") from None
        count, mean, m2 = 0, None, None
        bar = self._adapt_bar(data, batches, batch_size, steps) if verbose else None
        for i, batch in enumerate(batches):
            if steps is not None and i >= steps:
                break
            if bar is not None:
                bar.update(i)
            if isinstance(batch, tuple):  # (x, y) or (x, y, sample_weight) from a dataset
                batch = batch[0]
            b = np.asarray(batch.numpy() if isinstance(batch, Tensor) else batch)
            if b.dtype.kind not in "biuf":
                raise TypeError(f"Normalization layer '{self.name}'.adapt: data must be numeric. "
                                f"Received: dtype={b.dtype}")
            b = b.astype(np.float64)
            if b.ndim < 1:
                raise ValueError(f"Normalization layer '{self.name}'.adapt: data needs a batch axis. "
                                 f"Received: shape={b.shape}")
            if not self.built:
                self.build((None,) + b.shape[1:])
            self._check(b.shape, "adapt() received data of")
            red = tuple(d for d in range(b.ndim) if d not in self._keep_axis)
            n = int(np.prod([b.shape[d] for d in red])) if red else 1
            if n == 0:
                continue
            bm = b.mean(axis=red).reshape(self._stat_shape)
            bm2 = ((b - bm.reshape(self._broadcast_shape)) ** 2).sum(axis=red).reshape(self._stat_shape)
            if mean is None:
                count, mean, m2 = n, bm, bm2
            else:  # Chan et al.: merge two (count, mean, sum of squared deviations)
                tot = count + n
                delta = bm - mean
                mean = mean + delta * (n / tot)
                m2 = m2 + bm2 + delta ** 2 * (count * n / tot)
                count = tot
        if bar is not None:
            bar.finish()
        if mean is None:
            raise ValueError(f"Normalization layer '{self.name}'.adapt: data holds no samples")
        self.mean.assign(mean.astype(self.mean.dtype))
        self.variance.assign((m2 / count).astype(self.variance.dtype))

    @staticmethod
    def _adapt_bar(data, batches, batch_size, steps) -> Optional[Progbar]:
        """A progress bar over the batches when there are several, their number is known and
        stdout is a terminal."""
        if not sys.stdout.isatty():
            return None
        if isinstance(batches, list):
            total = 1
        elif isinstance(data, (np.ndarray, list)):
            total = math.ceil(len(data) / int(batch_size))
        else:
            total = len(data) if hasattr(data, "__len__") else steps
        if total is not None and steps is not None:
            total = min(total, steps)
        return Progbar(total, 1, unit_name="batch") if total and total > 1 else None

    def _stats(self, dt) -> Tuple[np.ndarray, np.ndarray]:
        if self.input_mean is not None:
            m, v = self._const
        else:
            m, v = self.mean.data, self.variance.data
        shape = self._broadcast_shape if self._keep_axis else ()  # axis=None: scalars fit any input
        m = as_array(m).astype(dt, copy=False).reshape(shape)
        v = as_array(v).astype(dt, copy=False)
        std = backend.xp(v).maximum(backend.xp(v).sqrt(v), dt.type(_EPSILON)).reshape(shape)
        return m, std

    def call(self, inputs):
        x = _float_input(self, inputs)
        self._check(x.shape, "Received an input of")
        m, std = (as_array_like(a, x.data) for a in self._stats(x.dtype))  # host constants to x's device
        if self.invert:
            return x * Tensor(std) + Tensor(m)
        return (x - Tensor(m)) / Tensor(std)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        axis = None if not self.axis else self.axis[0] if len(self.axis) == 1 else self.axis
        return dict(super().get_config(), axis=axis, invert=self.invert,
                    mean=None if self.input_mean is None else _config_value(self.input_mean),
                    variance=None if self.input_variance is None else _config_value(self.input_variance))
