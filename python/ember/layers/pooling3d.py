"""3-D pooling layers (Keras names and defaults): MaxPooling3D, AveragePooling3D,
GlobalAveragePooling3D, GlobalMaxPooling3D over (batch, depth, height, width, channels)."""
from __future__ import annotations

from typing import Optional

from ..ops.conv import padding_amounts
from ..ops.conv3d import avg_pool3d, max_pool3d
from .conv import conv_output_length
from .pooling import _GlobalPooling, _Pooling2D


class _Pooling3D(_Pooling2D):
    _rank = 3
    _layout = "(batch, depth, height, width, channels)"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format: Optional[str] = None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)
        if not isinstance(self.padding, str):
            raise ValueError(f"{type(self).__name__} layer '{self.name}': padding must be 'valid' or 'same'. "
                             f"Received: padding={padding!r}")

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        cl = self.data_format == "channels_last"
        spatial = input_shape[1:4] if cl else input_shape[2:5]
        out = []
        for n, k, s in zip(spatial, self.pool_size, self.strides):
            if n is None:
                out.append(None)
                continue
            lo, hi = padding_amounts(self.padding, (n, 1), (k, 1), (s, 1))[:2]
            out.append(conv_output_length(n, k, s, 1, lo, hi))
        c = input_shape[4] if cl else input_shape[1]
        return (input_shape[0], *out, c) if cl else (input_shape[0], c, *out)


class MaxPooling3D(_Pooling3D):
    """Max over ``pool_size`` (depth, height, width) windows: ``MaxPooling3D(2)`` halves each."""
    _op = staticmethod(max_pool3d)


class AveragePooling3D(_Pooling3D):
    """Mean over ``pool_size`` windows (with "same" padding, of the cells inside the input)."""
    _op = staticmethod(avg_pool3d)


class _GlobalPooling3D(_GlobalPooling):
    _reduce = "mean"
    _layout = "(batch, depth, height, width, channels)"

    def call(self, inputs):
        self._check(inputs)
        axes = (1, 2, 3) if self.data_format == "channels_last" else (2, 3, 4)
        return inputs.mean(axes, self.keepdims) if self._reduce == "mean" else inputs.max(axes, self.keepdims)

    def compute_output_shape(self, input_shape):
        cl = self.data_format == "channels_last"
        c = input_shape[4] if cl else input_shape[1]
        if not self.keepdims:
            return (input_shape[0], c)
        return (input_shape[0], 1, 1, 1, c) if cl else (input_shape[0], c, 1, 1, 1)


class GlobalAveragePooling3D(_GlobalPooling3D):
    """Mean over depth, height and width: (batch, d, h, w, c) -> (batch, c)."""
    _reduce = "mean"


class GlobalMaxPooling3D(_GlobalPooling3D):
    """Max over depth, height and width: (batch, d, h, w, c) -> (batch, c)."""
    _reduce = "max"
