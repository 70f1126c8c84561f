"""More convolution layers (Keras 3 names, arguments, weights and configs):
DepthwiseConv1D/2D, SeparableConv1D/2D and Conv3D.

Depthwise convolution is the grouped 2-D convolution with one group per input channel:
Keras' depthwise kernel (kh, kw, C, depth_multiplier) reshaped to (kh, kw, 1, C * dm)
keeps Keras' output channel order (channel c, multiplier m at c * dm + m). Separable
convolution is that followed by a 1x1 convolution. Conv3D composes 2-D convolutions
(``ops/conv3d.py``).
"""
from __future__ import annotations

from typing import Optional

from .. import functional as F
from .. import initializers, regularizers
from ..ops.conv import padding_amounts
from ..ops.conv3d import conv3d
from ..ops.core import reshape
from .base import Layer, serialized_entries
from .conv import IntOrPair, _Conv, _check_padding, _tuple, conv_output_length


def _spatial_out(layer, spatial, kernel_size, strides, dilation):
    """Output sizes per spatial axis for "valid" / "same" (None stays None)."""
    out = []
    for n, k, s, d in zip(spatial, kernel_size, strides, dilation):
        if n is None:
            out.append(None)
            continue
        lo, hi = padding_amounts(layer.padding, (n, 1), (k, 1), (s, 1), (d, 1))[:2]
        out.append(conv_output_length(n, k, s, d, lo, hi))
    return tuple(out)


class _DepthwiseBase(Layer):
    """Arguments shared by the depthwise and separable convolutions (``_rank`` 1 or 2)."""
    _rank = 2

    def __init__(self, kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                 use_bias, **kwargs):
        super().__init__(**kwargs)
        cls = f"{type(self).__name__} layer '{self.name}'"
        self.kernel_size = _tuple(kernel_size, self._rank, "kernel_size", cls)
        self.strides = _tuple(strides, self._rank, "strides", cls)
        self.dilation_rate = _tuple(dilation_rate, self._rank, "dilation_rate", cls)
        self.padding = _check_padding(padding, cls)
        if not isinstance(self.padding, str):
            raise ValueError(f"{cls}: padding must be 'valid' or 'same'. Received: padding={padding!r}")
        if int(depth_multiplier) < 1:
            raise ValueError(f"{cls}: depth_multiplier must be a positive integer. "
                             f"Received: depth_multiplier={depth_multiplier!r}")
        self.depth_multiplier = int(depth_multiplier)
        self.data_format = (data_format or "channels_last").lower()
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{cls}: data_format must be 'channels_last' or 'channels_first'. "
                             f"Received: {data_format!r}")
        self.activation_name = activation if isinstance(activation, str) or activation is None else None
        self.activation = F.get_activation(activation)
        self.use_bias = bool(use_bias)

    def _channels(self, shape) -> Optional[int]:
        if len(shape) != self._rank + 2:
            names = "height, width" if self._rank == 2 else "steps"
            layout = f"(batch, {names}, channels)" if self.data_format == "channels_last" else \
                f"(batch, channels, {names})"
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects a {self._rank + 2}-D input {layout}. "
                             f"Received: shape={tuple(shape)}")
        return shape[-1] if self.data_format == "channels_last" else shape[1]

    def _conv(self, x, kernel, bias, strides, padding, dilation, groups):
        """conv1d or conv2d by rank, in the layer's data format."""
        name = f"{type(self).__name__} layer '{self.name}'"
        if self._rank == 1:
            return F.conv1d(x, kernel, bias, strides[0], padding, dilation[0], groups, self.data_format, name=name)
        return F.conv2d(x, kernel, bias, strides, padding, dilation, groups, self.data_format, name=name)

    def _depthwise(self, inputs, kernel, bias):
        """The depthwise convolution of ``inputs`` with a (*kernel_size, C, dm) kernel."""
        c = self._channels(inputs.shape)
        want = kernel.shape[-2]
        if c != want:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' was built for {want} input channels but "
                             f"received an input with {c}. Received: shape={inputs.shape}")
        k = reshape(kernel, self.kernel_size + (1, c * self.depth_multiplier))
        return self._conv(inputs, k, bias, self.strides, self.padding, self.dilation_rate, c)

    def _out_shape(self, input_shape, channels_out):
        self._channels(input_shape)
        cl = self.data_format == "channels_last"
        spatial = input_shape[1:1 + self._rank] if cl else input_shape[2:2 + self._rank]
        out = _spatial_out(self, spatial, self.kernel_size, self.strides, self.dilation_rate)
        return (input_shape[0], *out, channels_out) if cl else (input_shape[0], channels_out, *out)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
                   depth_multiplier=self.depth_multiplier, data_format=self.data_format,
                   dilation_rate=self.dilation_rate, activation=self.activation_name, use_bias=self.use_bias)
        return cfg


class DepthwiseConv2D(_DepthwiseBase):
    """Depthwise 2-D convolution (Keras): each input channel convolved with its own
    ``depth_multiplier`` filters. Kernel (kh, kw, C, depth_multiplier), bias (C * dm,);
    output channels C * depth_multiplier.

    >>> DepthwiseConv2D(3, depth_multiplier=2, padding="same")
    """

    def __init__(self, kernel_size: IntOrPair, strides: IntOrPair = (1, 1), padding="valid", depth_multiplier: int = 1,
                 data_format: Optional[str] = None, dilation_rate: IntOrPair = (1, 1), activation=None,
                 use_bias: bool = True, depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, **kwargs)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape) -> None:
        c = self._channels(input_shape)
        if c is None:
            raise ValueError(f"{type(self).__name__} layer '{self.name}': the channel dimension must be known. "
                             f"Received: input shape={tuple(input_shape)}")
        self.kernel = self.add_weight("kernel", self.kernel_size + (c, self.depth_multiplier),
                                      self.depthwise_initializer, regularizer=self.depthwise_regularizer)
        self.bias = self.add_weight("bias", (c * self.depth_multiplier,), self.bias_initializer,
                                    regularizer=self.bias_regularizer) if self.use_bias else None
        self.built = True

    def call(self, inputs):
        y = self._depthwise(inputs, self.kernel, self.bias)
        return y if self.activation is None else self.activation(y)

    def compute_output_shape(self, input_shape):
        c = self._channels(input_shape)
        return self._out_shape(input_shape, None if c is None else c * self.depth_multiplier)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(serialized_entries(self.name, depthwise_initializer=(initializers, self.depthwise_initializer),
                                      bias_initializer=(initializers, self.bias_initializer),
                                      depthwise_regularizer=(regularizers, self.depthwise_regularizer),
                                      bias_regularizer=(regularizers, self.bias_regularizer)))
        return cfg


class SeparableConv2D(_DepthwiseBase):
    """Depthwise separable 2-D convolution (Keras): a depthwise convolution (kernel
    (kh, kw, C, depth_multiplier), with the strides, padding and dilation) then a 1x1
    pointwise one (kernel (1, 1, C * dm, filters)) and the bias (filters,).

    >>> SeparableConv2D(64, 3, padding="same", activation="relu")
    """

    def __init__(self, filters: int, kernel_size: IntOrPair, strides: IntOrPair = (1, 1), padding="valid",
                 data_format: Optional[str] = None, dilation_rate: IntOrPair = (1, 1), depth_multiplier: int = 1,
                 activation=None, use_bias: bool = True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, **kwargs)
        if int(filters) < 1:
            raise ValueError(f"{type(self).__name__} layer '{self.name}': filters must be a positive integer. "
                             f"Received: filters={filters!r}")
        self.filters = int(filters)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape) -> None:
        c = self._channels(input_shape)
        if c is None:
            raise ValueError(f"{type(self).__name__} layer '{self.name}': the channel dimension must be known. "
                             f"Received: input shape={tuple(input_shape)}")
        dm = self.depth_multiplier
        self.depthwise_kernel = self.add_weight("depthwise_kernel", self.kernel_size + (c, dm),
                                                self.depthwise_initializer, regularizer=self.depthwise_regularizer)
        self.pointwise_kernel = self.add_weight("pointwise_kernel", (1,) * self._rank + (c * dm, self.filters),
                                                self.pointwise_initializer, regularizer=self.pointwise_regularizer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                    regularizer=self.bias_regularizer) if self.use_bias else None
        self.built = True

    def call(self, inputs):
        y = self._depthwise(inputs, self.depthwise_kernel, None)
        one = (1,) * self._rank
        y = self._conv(y, self.pointwise_kernel, self.bias, one, "valid", one, 1)
        return y if self.activation is None else self.activation(y)

    def compute_output_shape(self, input_shape):
        return self._out_shape(input_shape, self.filters)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["filters"] = self.filters
        cfg.update(serialized_entries(self.name, depthwise_initializer=(initializers, self.depthwise_initializer),
                                      pointwise_initializer=(initializers, self.pointwise_initializer),
                                      bias_initializer=(initializers, self.bias_initializer),
                                      depthwise_regularizer=(regularizers, self.depthwise_regularizer),
                                      pointwise_regularizer=(regularizers, self.pointwise_regularizer),
                                      bias_regularizer=(regularizers, self.bias_regularizer)))
        return cfg


class DepthwiseConv1D(DepthwiseConv2D):
    """Depthwise 1-D convolution over (batch, steps, channels) (Keras): kernel
    (kernel_size, C, depth_multiplier), bias (C * dm,)."""
    _rank = 1

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier: int = 1,
                 data_format: Optional[str] = None, dilation_rate=1, activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         **kwargs)


class SeparableConv1D(SeparableConv2D):
    """Depthwise separable 1-D convolution (Keras): depthwise kernel (kernel_size, C, dm),
    pointwise kernel (1, C * dm, filters), bias (filters,)."""
    _rank = 1

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", data_format: Optional[str] = None,
                 dilation_rate=1, depth_multiplier: int = 1, activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
                         depthwise_regularizer, pointwise_regularizer, bias_regularizer, **kwargs)


class Conv3D(_Conv):
    """3-D convolution over (batch, depth, height, width, channels) (Keras): kernel
    (kd, kh, kw, channels // groups, filters), bias (filters,); padding "valid" or "same".

    >>> Conv3D(8, 3, activation="relu", input_shape=(16, 32, 32, 1))
    """

    def __init__(self, filters: int, kernel_size, strides=(1, 1, 1), padding="valid", data_format: Optional[str] = None,
                 dilation_rate=(1, 1, 1), groups: int = 1, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, **kwargs)
        if not isinstance(self.padding, str):
            raise ValueError(f"Conv3D layer '{self.name}': padding must be 'valid' or 'same'. "
                             f"Received: padding={padding!r}")
        self._fused = False

    def _channels(self, shape):
        if len(shape) != 5:
            layout = "(batch, depth, height, width, channels)" if self.data_format == "channels_last" else \
                "(batch, channels, depth, height, width)"
            raise ValueError(f"Conv3D layer '{self.name}' expects a 5-D input {layout}. Received: shape={tuple(shape)}")
        return shape[-1] if self.data_format == "channels_last" else shape[1]

    def build(self, input_shape) -> None:
        c = self._channels(input_shape)
        if c is None or c % self.groups:
            raise ValueError(f"Conv3D layer '{self.name}': the input channels ({c}) must be known and divisible by "
                             f"groups={self.groups}. Received: input shape={tuple(input_shape)}")
        self._add_weights(self.kernel_size + (c // self.groups, self.filters))
        self.built = True

    def call(self, inputs):
        c = self._channels(inputs.shape)
        want = self.kernel.shape[3] * self.groups
        if c != want:
            raise ValueError(f"Conv3D layer '{self.name}' was built for {want} input channels but received an input "
                             f"with {c}. Received: shape={inputs.shape}, kernel.shape={self.kernel.shape}")
        y = conv3d(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate, self.groups,
                   self.data_format, name=f"Conv3D layer '{self.name}'")
        return y if self.activation is None else self.activation(y)

    def compute_output_shape(self, input_shape):
        self._channels(input_shape)
        cl = self.data_format == "channels_last"
        spatial = input_shape[1:4] if cl else input_shape[2:5]
        out = _spatial_out(self, spatial, self.kernel_size, self.strides, self.dilation_rate)
        return (input_shape[0],) + out + (self.filters,) if cl else (input_shape[0], self.filters) + out
