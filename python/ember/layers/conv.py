"""Convolution layers (Keras names, arguments and defaults): Conv1D, Conv2D, Conv1DTranspose,
Conv2DTranspose."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

from .. import functional as F
from .. import initializers, regularizers
from ..ops.conv import padding_amounts
from .base import Layer, serialized_entries

IntOrPair = Union[int, Sequence[int]]


def _tuple(v, n: int, what: str, layer: str, minimum: int = 1) -> Tuple[int, ...]:
    t = (int(v),) * n if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)
    if len(t) != n or any(a < minimum for a in t):
        raise ValueError(f"{layer}: {what} must be an integer or a tuple of {n} integers >= {minimum}. "
                         f"Received: {what}={v!r}")
    return t


def _check_padding(padding, layer: str, extra: Sequence[str] = ()):
    if isinstance(padding, str) and padding.lower() not in ("valid", "same", *extra):
        allowed = ", ".join(repr(p) for p in ("valid", "same", *extra))
        raise ValueError(f"{layer}: padding must be one of {allowed}. Received: padding={padding!r}")
    return padding.lower() if isinstance(padding, str) else padding


def conv_output_length(n: Optional[int], k: int, s: int, d: int, lo: int, hi: int) -> Optional[int]:
    if n is None:
        return None
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


class _Conv(Layer):
    """What Conv1D and Conv2D share: argument checks and the Keras attributes."""

    def __init__(self, rank: int, filters: int, kernel_size: IntOrPair, strides: IntOrPair, padding,
                 data_format: Optional[str], dilation_rate: IntOrPair, groups: int, activation, use_bias: bool,
                 kernel_initializer, bias_initializer, extra_padding=(), kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        cls = f"{type(self).__name__} layer '{self.name}'"
        if int(filters) < 1:
            raise ValueError(f"{cls}: filters must be a positive integer. Received: filters={filters!r}")
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, rank, "kernel_size", cls)
        self.strides = _tuple(strides, rank, "strides", cls)
        self.dilation_rate = _tuple(dilation_rate, rank, "dilation_rate", cls)
        self.padding = _check_padding(padding, cls, extra_padding)
        self.data_format = (data_format or "channels_last").lower()
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{cls}: data_format must be 'channels_last' or 'channels_first'. "
                             f"Received: {data_format!r}")
        self.groups = int(groups)
        if self.groups < 1 or self.filters % self.groups:
            raise ValueError(f"{cls}: groups must be a positive divisor of filters ({self.filters}). "
                             f"Received: groups={groups!r}")
        self.activation_name = activation if isinstance(activation, str) or activation is None else None
        self.activation = F.get_activation(activation)
        self._fused = isinstance(activation, str) and activation.lower() == "relu"
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def _add_weights(self, kernel_shape) -> None:
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
                   data_format=self.data_format, dilation_rate=self.dilation_rate, groups=self.groups,
                   activation=self.activation_name, use_bias=self.use_bias,
                   **serialized_entries(self.name, kernel_initializer=(initializers, self.kernel_initializer),
                                        bias_initializer=(initializers, self.bias_initializer),
                                        kernel_regularizer=(regularizers, self.kernel_regularizer),
                                        bias_regularizer=(regularizers, self.bias_regularizer)))
        return cfg


class Conv2D(_Conv):
    """2-D convolution layer: ``Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1))``.

    Input (batch, height, width, channels) (``data_format="channels_last"``, the default) or
    (batch, channels, height, width). Kernel shape (kh, kw, channels // groups, filters),
    as Keras. ``activation="relu"`` is fused into the convolution kernel.
    """

    def __init__(self, filters: int, kernel_size: IntOrPair, strides: IntOrPair = (1, 1), padding="valid",
                 data_format: Optional[str] = None, dilation_rate: IntOrPair = (1, 1), groups: int = 1,
                 activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer, **kwargs)

    def _channels(self, input_shape) -> int:
        return input_shape[-1] if self.data_format == "channels_last" else input_shape[1]

    def _check_input(self, shape) -> None:
        cls = type(self).__name__
        layout = "(batch, height, width, channels)" if self.data_format == "channels_last" else \
            "(batch, channels, height, width)"
        if len(shape) != 4:
            raise ValueError(f"{cls} layer '{self.name}' expects a 4-D input {layout}. Received: shape={tuple(shape)}")

    def build(self, input_shape) -> None:
        self._check_input(input_shape)
        c = self._channels(input_shape)
        if c is None or c % self.groups:
            raise ValueError(f"{type(self).__name__} layer '{self.name}': the input channels ({c}) must be "
                             f"divisible by groups={self.groups}. Received: input shape={tuple(input_shape)}")
        kh, kw = self.kernel_size
        self._add_weights((kh, kw, c // self.groups, self.filters))
        self.built = True

    def call(self, inputs):
        cls = type(self).__name__
        self._check_input(inputs.shape)
        c = self._channels(inputs.shape)
        want = self.kernel.shape[2] * self.groups
        if c != want:
            raise ValueError(f"{cls} layer '{self.name}' was built for {want} input channels but received an "
                             f"input with {c}. Received: shape={inputs.shape}, kernel.shape={self.kernel.shape}")
        y = F.conv2d(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate, self.groups,
                     self.data_format, "relu" if self._fused else None, name=f"{cls} layer '{self.name}'")
        if self.activation is not None and not self._fused:
            y = self.activation(y)
        return y

    def compute_output_shape(self, input_shape):
        self._check_input(input_shape)
        if self.data_format == "channels_last":
            h, w = input_shape[1], input_shape[2]
        else:
            h, w = input_shape[2], input_shape[3]
        kh, kw = self.kernel_size
        if h is None or w is None:
            oh = ow = None
        else:
            t, b, l, r = padding_amounts(self.padding, (h, w), (kh, kw), self.strides, self.dilation_rate)
            oh = conv_output_length(h, kh, self.strides[0], self.dilation_rate[0], t, b)
            ow = conv_output_length(w, kw, self.strides[1], self.dilation_rate[1], l, r)
        if self.data_format == "channels_last":
            return (input_shape[0], oh, ow, self.filters)
        return (input_shape[0], self.filters, oh, ow)


class Conv1D(_Conv):
    """1-D convolution layer over (batch, steps, channels): ``Conv1D(64, 3, activation="relu")``.

    Kernel shape (kernel_size, channels // groups, filters). ``padding`` may be "valid",
    "same" or "causal".
    """

    def __init__(self, filters: int, kernel_size: IntOrPair, strides: IntOrPair = 1, padding="valid",
                 data_format: Optional[str] = None, dilation_rate: IntOrPair = 1, groups: int = 1,
                 activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias, kernel_initializer, bias_initializer, ("causal",),
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer, **kwargs)

    def _check_input(self, shape) -> None:
        if len(shape) != 3:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects a 3-D input "
                             f"(batch, steps, channels). Received: shape={tuple(shape)}")

    def build(self, input_shape) -> None:
        self._check_input(input_shape)
        c = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if c is None or c % self.groups:
            raise ValueError(f"{type(self).__name__} layer '{self.name}': the input channels ({c}) must be "
                             f"divisible by groups={self.groups}. Received: input shape={tuple(input_shape)}")
        self._add_weights((self.kernel_size[0], c // self.groups, self.filters))
        self.built = True

    def call(self, inputs):
        self._check_input(inputs.shape)
        c = inputs.shape[-1] if self.data_format == "channels_last" else inputs.shape[1]
        want = self.kernel.shape[1] * self.groups
        if c != want:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' was built for {want} input channels but "
                             f"received an input with {c}. Received: shape={inputs.shape}")
        y = F.conv1d(inputs, self.kernel, self.bias, self.strides[0], self.padding, self.dilation_rate[0],
                     self.groups, self.data_format, "relu" if self._fused else None,
                     name=f"{type(self).__name__} layer '{self.name}'")
        if self.activation is not None and not self._fused:
            y = self.activation(y)
        return y

    def compute_output_shape(self, input_shape):
        self._check_input(input_shape)
        n = input_shape[1] if self.data_format == "channels_last" else input_shape[2]
        k, s, d = self.kernel_size[0], self.strides[0], self.dilation_rate[0]
        if n is None:
            out = None
        elif self.padding == "causal":
            out = conv_output_length(n, k, s, d, (k - 1) * d, 0)
        else:
            _, _, lo, hi = padding_amounts(self.padding, (1, n), (1, k), (1, s), (1, d))
            out = conv_output_length(n, k, s, d, lo, hi)
        if self.data_format == "channels_last":
            return (input_shape[0], out, self.filters)
        return (input_shape[0], self.filters, out)


class _ConvTranspose(_Conv):
    """What Conv1DTranspose and Conv2DTranspose share: output_padding, the kernel layout
    (..., filters, in_channels) and a config without ``groups``."""

    def __init__(self, rank: int, filters, kernel_size, strides, padding, output_padding, data_format,
                 dilation_rate, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                 bias_regularizer, **kwargs):
        super().__init__(rank, filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, **kwargs)
        cls = f"{type(self).__name__} layer '{self.name}'"
        if not isinstance(self.padding, str):
            raise ValueError(f"{cls}: padding must be 'valid' or 'same'. Received: padding={padding!r}")
        self.output_padding = None if output_padding is None else _tuple(output_padding, rank, "output_padding",
                                                                          cls, minimum=0)
        if self.output_padding is not None and any(o >= s for o, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{cls}: output_padding must be smaller than strides. "
                             f"Received: output_padding={output_padding!r}, strides={self.strides}")
        self._fused = False  # the activation runs after the transposed convolution

    def _channels(self, input_shape):
        return input_shape[-1] if self.data_format == "channels_last" else input_shape[1]

    def _check_input(self, shape) -> None:
        rank = len(self.kernel_size)
        if len(shape) != rank + 2:
            names = "steps" if rank == 1 else "height, width"
            layout = f"(batch, {names}, channels)" if self.data_format == "channels_last" else \
                f"(batch, channels, {names})"
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects a {rank + 2}-D input {layout}. "
                             f"Received: shape={tuple(shape)}")

    def build(self, input_shape) -> None:
        self._check_input(input_shape)
        c = self._channels(input_shape)
        if c is None:
            raise ValueError(f"{type(self).__name__} layer '{self.name}': the channel dimension of the input must "
                             f"be known. Received: input shape={tuple(input_shape)}")
        self._add_weights(self.kernel_size + (self.filters, int(c)))
        self.built = True

    def call(self, inputs):
        cls = type(self).__name__
        self._check_input(inputs.shape)
        c, want = self._channels(inputs.shape), self.kernel.shape[-1]
        if c != want:
            raise ValueError(f"{cls} layer '{self.name}' was built for {want} input channels but received an "
                             f"input with {c}. Received: shape={inputs.shape}, kernel.shape={self.kernel.shape}")
        fn = F.conv2d_transpose if len(self.kernel_size) == 2 else F.conv1d_transpose
        args = (self.strides, self.padding, self.output_padding, self.dilation_rate) if len(self.kernel_size) == 2 \
            else (self.strides[0], self.padding, self.output_padding, self.dilation_rate[0])
        y = fn(inputs, self.kernel, self.bias, *args, self.data_format, name=f"{cls} layer '{self.name}'")
        return y if self.activation is None else self.activation(y)

    def compute_output_shape(self, input_shape):
        from ..ops.conv import transpose_output_length
        self._check_input(input_shape)
        rank = len(self.kernel_size)
        spatial = input_shape[1:1 + rank] if self.data_format == "channels_last" else input_shape[2:]
        out = tuple(None if n is None else
                    transpose_output_length(n, k, s, d, self.padding, None if self.output_padding is None else o)
                    for n, k, s, d, o in zip(spatial, self.kernel_size, self.strides, self.dilation_rate,
                                             self.output_padding or (None,) * rank))
        if self.data_format == "channels_last":
            return (input_shape[0],) + out + (self.filters,)
        return (input_shape[0], self.filters) + out

    def get_config(self) -> dict:
        cfg = super().get_config()
        del cfg["groups"]
        cfg["output_padding"] = self.output_padding
        return cfg


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution (Keras): upsamples, as in autoencoder decoders and GAN
    generators. ``Conv2DTranspose(32, 3, strides=2, padding="same")`` doubles height and
    width. Kernel shape (kh, kw, filters, in_channels), as Keras. Output size per axis:
    "valid" (n - 1) * s + k (+ output_padding), "same" n * s (or (n - 1) * s + k % 2 +
    output_padding when output_padding is given).
    """

    def __init__(self, filters: int, kernel_size: IntOrPair, strides: IntOrPair = (1, 1), padding="valid",
                 output_padding=None, data_format: Optional[str] = None, dilation_rate: IntOrPair = (1, 1),
                 activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, **kwargs)


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution over (batch, steps, channels); kernel shape
    (kernel_size, filters, in_channels)."""

    def __init__(self, filters: int, kernel_size: IntOrPair, strides: IntOrPair = 1, padding="valid",
                 output_padding=None, data_format: Optional[str] = None, dilation_rate: IntOrPair = 1,
                 activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, **kwargs)
