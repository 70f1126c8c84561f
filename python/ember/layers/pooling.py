"""Pooling layers (Keras names and defaults): MaxPooling1D/2D, AveragePooling1D/2D,
GlobalAveragePooling1D/2D, GlobalMaxPooling1D/2D."""
from __future__ import annotations

from typing import Optional

from .. import functional as F
from ..ops.conv import padding_amounts
from .. import backend
from ..tensor import Tensor, as_bool_array
from .base import Layer
from .conv import _check_padding, _tuple, conv_output_length


class _Pooling2D(Layer):
    """Windowed pooling over the spatial axes; the 3-D layers reuse it with _rank = 3."""
    _op = None
    _rank = 2
    _layout = "(batch, height, width, channels)"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        cls = f"{type(self).__name__} layer '{self.name}'"
        self.pool_size = _tuple(pool_size, self._rank, "pool_size", cls)
        self.strides = self.pool_size if strides is None else _tuple(strides, self._rank, "strides", cls)
        self.padding = _check_padding(padding, cls)
        self.data_format = (data_format or "channels_last").lower()
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{cls}: data_format must be 'channels_last' or 'channels_first'. Received: {data_format!r}")

    def _check(self, shape):
        if len(shape) != self._rank + 2:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects a {self._rank + 2}-D input "
                             f"{self._layout}. Received: shape={tuple(shape)}")

    def call(self, inputs):
        self._check(inputs.shape)
        return type(self)._op(inputs, self.pool_size, self.strides, self.padding, self.data_format,
                              name=f"{type(self).__name__} layer '{self.name}'")

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        cl = self.data_format == "channels_last"
        h, w = (input_shape[1], input_shape[2]) if cl else (input_shape[2], input_shape[3])
        if h is None or w is None:
            oh = ow = None
        else:
            t, b, l, r = padding_amounts(self.padding, (h, w), self.pool_size, self.strides)
            oh = conv_output_length(h, self.pool_size[0], self.strides[0], 1, t, b)
            ow = conv_output_length(w, self.pool_size[1], self.strides[1], 1, l, r)
        c = input_shape[3] if cl else input_shape[1]
        return (input_shape[0], oh, ow, c) if cl else (input_shape[0], c, oh, ow)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding, data_format=self.data_format)
        return cfg


class MaxPooling2D(_Pooling2D):
    """Max over ``pool_size`` windows: ``MaxPooling2D((2, 2))`` halves height and width."""
    _op = staticmethod(F.max_pool2d)


class AveragePooling2D(_Pooling2D):
    """Mean over ``pool_size`` windows (with "same" padding, of the cells inside the input)."""
    _op = staticmethod(F.avg_pool2d)


class _Pooling1D(Layer):
    _op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        cls = f"{type(self).__name__} layer '{self.name}'"
        self.pool_size = _tuple(pool_size, 1, "pool_size", cls)[0]
        self.strides = self.pool_size if strides is None else _tuple(strides, 1, "strides", cls)[0]
        self.padding = _check_padding(padding, cls)
        self.data_format = (data_format or "channels_last").lower()

    def call(self, inputs):
        return type(self)._op(inputs, self.pool_size, self.strides, self.padding, self.data_format,
                              name=f"{type(self).__name__} layer '{self.name}'")

    def get_config(self) -> dict:
        return dict(super().get_config(), pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                    data_format=self.data_format)


class MaxPooling1D(_Pooling1D):
    """Max pooling over the steps of (batch, steps, channels)."""
    _op = staticmethod(F.max_pool1d)


class AveragePooling1D(_Pooling1D):
    """Average pooling over the steps of (batch, steps, channels)."""
    _op = staticmethod(F.avg_pool1d)


class _GlobalPooling(Layer):
    """What the global poolings share: data_format, keepdims, the input rank check."""
    _layout = ""

    def __init__(self, data_format: Optional[str] = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = (data_format or "channels_last").lower()
        self.keepdims = bool(keepdims)

    def get_config(self) -> dict:
        return dict(super().get_config(), data_format=self.data_format, keepdims=self.keepdims)

    def _check(self, inputs) -> None:
        rank = self._layout.count(",") + 1
        if inputs.ndim != rank:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects a {rank}-D input "
                             f"{self._layout}. Received: shape={inputs.shape}")


class _GlobalPooling2D(_GlobalPooling):
    _op = None
    _layout = "(batch, height, width, channels)"

    def call(self, inputs):
        self._check(inputs)
        return type(self)._op(inputs, self.data_format, self.keepdims, name=f"{type(self).__name__} layer '{self.name}'")

    def compute_output_shape(self, input_shape):
        cl = self.data_format == "channels_last"
        c = input_shape[3] if cl else input_shape[1]
        if not self.keepdims:
            return (input_shape[0], c)
        return (input_shape[0], 1, 1, c) if cl else (input_shape[0], c, 1, 1)


class GlobalAveragePooling2D(_GlobalPooling2D):
    """Mean over height and width: (batch, h, w, c) -> (batch, c)."""
    _op = staticmethod(F.global_avg_pool2d)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """Max over height and width: (batch, h, w, c) -> (batch, c)."""
    _op = staticmethod(F.global_max_pool2d)


class _GlobalPooling1D(_GlobalPooling):
    _reduce = "mean"
    _layout = "(batch, steps, channels)"

    def call(self, inputs):
        self._check(inputs)
        axis = 1 if self.data_format == "channels_last" else 2
        return inputs.mean(axis, self.keepdims) if self._reduce == "mean" else inputs.max(axis, self.keepdims)


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over the steps: (batch, steps, channels) -> (batch, channels). With a mask
    (from ``Masking`` or ``Embedding(mask_zero=True)``), the mean of the unmasked steps
    only, as Keras (a row with every step masked gives 0 / 0 = NaN, as there)."""
    _reduce = "mean"
    supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        self._check(inputs)
        axis = 1 if self.data_format == "channels_last" else 2
        m = as_bool_array(mask, inputs.data)
        if m.shape != (inputs.shape[0], inputs.shape[axis]):
            raise ValueError(f"GlobalAveragePooling1D layer '{self.name}': the mask must have shape (batch, steps) "
                             f"= {(inputs.shape[0], inputs.shape[axis])}. Received: mask shape={m.shape}")
        w = backend.xp(m).expand_dims(m, 2 if axis == 1 else 1).astype(inputs.dtype)
        return (inputs * w).sum(axis, self.keepdims) / Tensor(w.sum(axis, keepdims=self.keepdims))

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Max over the steps: (batch, steps, channels) -> (batch, channels)."""
    _reduce = "max"
