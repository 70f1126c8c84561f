"""Core layers: Dense, activations, Dropout, Flatten, InputLayer."""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import numpy as np

from .. import initializers, regularizers
from .. import random as erandom
from ..ops import core as C
from ..ops import nn
from ..ops.dense import dense
from ..ops.nn import get_activation
from ..serialization import custom_objects
from ..symbolic import SymbolicTensor
from ..tensor import Tensor, make_op
from .base import Layer, serialized_entries


def _activation_name(activation) -> str:
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", type(activation).__name__)


class Dense(Layer):
    """Fully connected layer: ``activation(inputs @ kernel + bias)`` on the last axis.

    Input (..., in_features) -> output (..., units). The bias add and the activation
    ("relu", "tanh", "gelu", "leaky_relu", "linear") run fused in one C++ kernel after the
    GEMM; other activations ("sigmoid", "softmax", any name ``ember.ops.nn.get_activation``
    knows, or a callable) are applied as their own op.

    >>> layer = Dense(64, activation="relu")
    >>> y = layer(np.zeros((32, 10), np.float32))   # (32, 64)
    """

    supports_masking = True  # passes the mask on unchanged (Keras)

    def __init__(self, units: int, activation: Union[str, Callable, None] = None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer. Received: units={units!r}")
        self.units = int(units)
        if isinstance(activation, str):
            get_activation(activation)  # unknown names fail here, at construction
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel = None
        self.bias = None

    def build(self, input_shape) -> None:
        if len(input_shape) < 1 or input_shape[-1] is None:
            raise ValueError(f"Dense layer '{self.name}': the last dimension of the input must be known. "
                             f"Received: input_shape={tuple(input_shape)}")
        self.input_dim = int(input_shape[-1])
        self.kernel = self.add_weight("kernel", (self.input_dim, self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        regularizer=self.bias_regularizer)
        self.built = True

    def call(self, inputs: Tensor) -> Tensor:
        if inputs.ndim < 1 or inputs.shape[-1] != self.input_dim:
            raise ValueError(f"Dense layer '{self.name}' expects inputs whose last dimension is {self.input_dim} "
                             f"(input shape (..., {self.input_dim})). Received: shape={inputs.shape}")
        return dense(inputs, self.kernel, self.bias, self.activation)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict:
        return dict(super().get_config(), units=self.units, activation=_activation_name(self.activation),
                    use_bias=self.use_bias,
                    **serialized_entries(self.name, kernel_initializer=(initializers, self.kernel_initializer),
                                         bias_initializer=(initializers, self.bias_initializer),
                                         kernel_regularizer=(regularizers, self.kernel_regularizer),
                                         bias_regularizer=(regularizers, self.bias_regularizer)))


class Activation(Layer):
    """Applies an activation by name ("relu", "softmax", ...) or a callable."""

    supports_masking = True  # passes the mask on unchanged (Keras)

    def __init__(self, activation: Union[str, Callable], **kwargs):
        super().__init__(**kwargs)
        self.activation = activation
        self._fn = get_activation(activation)

    def call(self, inputs):
        return inputs if self._fn is None else self._fn(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(super().get_config(), activation=_activation_name(self.activation))


class ReLU(Layer):
    """max(x, 0) with Keras' options: ``max_value`` cap, ``negative_slope`` below
    ``threshold``."""

    supports_masking = True  # passes the mask on unchanged (Keras)

    def __init__(self, max_value: Optional[float] = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.max_value, self.negative_slope, self.threshold = max_value, float(negative_slope), float(threshold)

    def call(self, inputs):
        x = inputs
        if self.threshold == 0.0:
            y = nn.relu(x) if self.negative_slope == 0.0 else nn.leaky_relu(x, self.negative_slope)
        else:
            above = x.data >= self.threshold
            y = C.where(above, x, self.negative_slope * (x - self.threshold))
        if self.max_value is not None:
            y = C.minimum(y, float(self.max_value))
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(super().get_config(), max_value=self.max_value, negative_slope=self.negative_slope,
                    threshold=self.threshold)


class LeakyReLU(Layer):
    """x if x > 0 else negative_slope * x (Keras' layer default slope is 0.3)."""

    supports_masking = True  # passes the mask on unchanged (Keras)

    def __init__(self, negative_slope: float = 0.3, alpha: Optional[float] = None, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(alpha if alpha is not None else negative_slope)

    def call(self, inputs):
        return nn.leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(super().get_config(), negative_slope=self.negative_slope)


class ELU(Layer):

    supports_masking = True  # passes the mask on unchanged (Keras)
    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs):
        return nn.elu(inputs, self.alpha)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(super().get_config(), alpha=self.alpha)


class Softmax(Layer):
    """Softmax over ``axis`` (default the last)."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return nn.softmax(inputs, self.axis)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(super().get_config(), axis=self.axis)


class Dropout(Layer):
    """Inverted dropout: in training, zero each element with probability ``rate`` and scale
    the rest by 1 / (1 - rate); identity at inference. ``noise_shape`` (None entries take
    the input's size) shares one mask along axes of size 1. The mask is drawn from ember's
    seeded generator, or from this layer's own when ``seed`` is given."""

    supports_masking = True  # passes the mask on unchanged (Keras)

    def __init__(self, rate: float, noise_shape: Optional[Sequence[Optional[int]]] = None, seed: Optional[int] = None,
                 **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1). Received: rate={rate}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def call(self, inputs, training: bool = False):
        if not training or self.rate == 0.0:
            return inputs
        x = inputs
        if self.noise_shape is not None and len(self.noise_shape) != x.ndim:
            raise ValueError(f"Dropout layer '{self.name}': noise_shape {self.noise_shape} must have one entry "
                             f"per input dimension. Received: input shape={x.shape}")
        rng = self._rng if self._rng is not None else erandom.generator()
        return erandom.dropout_with(x, self.rate, self.noise_shape, rng)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(super().get_config(), rate=self.rate, noise_shape=self.noise_shape, seed=self.seed)


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)."""

    def call(self, inputs):
        if inputs.ndim < 1:
            raise ValueError(f"Flatten layer '{self.name}' expects an input with a batch dimension. "
                             f"Received: shape={inputs.shape}")
        n = inputs.shape[0]
        return C.reshape(inputs, (n, -1)) if inputs.ndim != 2 else inputs

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(s is None for s in rest) else int(np.prod(rest)) if rest else 1
        return (input_shape[0], size)


class InputLayer(Layer):
    """The entry of a model: holds the input shape (batch dimension excluded) and dtype.

    ``Sequential([InputLayer(shape=(4,)), Dense(1)])``; ``ember.Input`` returns its output.
    """

    def __init__(self, shape: Optional[Sequence[Optional[int]]] = None, batch_size: Optional[int] = None,
                 dtype=None, name: Optional[str] = None, input_shape=None, batch_shape=None, **kwargs):
        if shape is None and input_shape is not None:
            shape = input_shape
        if batch_shape is not None:
            batch_size, shape = batch_shape[0], batch_shape[1:]
        if shape is None:
            raise ValueError("InputLayer: shape is required (the input shape without the batch dimension)")
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        if isinstance(dtype, str) and dtype in ("string", "str"):  # Keras' text inputs (TextVectorization)
            dtype = np.str_
        super().__init__(name=name, dtype=dtype if dtype is not None and np.dtype(dtype).kind == "f" else None,
                         **kwargs)
        self.input_dtype = np.dtype(dtype) if dtype is not None else np.dtype("float32")
        self.shape = tuple(None if s is None else int(s) for s in shape)
        self.batch_size = batch_size
        self._batch_input_shape = (batch_size,) + self.shape
        self._output = SymbolicTensor(self._batch_input_shape, self.input_dtype, layer=self, name=self.name)
        self.built = True

    @property
    def output(self):
        return self._output

    @property
    def input(self):
        return self._output

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(super().get_config(), shape=self.shape, dtype=str(self.input_dtype))


def Input(shape=None, batch_size: Optional[int] = None, dtype=None, name: Optional[str] = None,
          batch_shape=None) -> SymbolicTensor:
    """The input of a functional model: ``ember.Input(shape=(28, 28, 1))`` (batch excluded).

    >>> x = ember.Input(shape=(784,))
    >>> y = Dense(10, activation="softmax")(Dense(64, activation="relu")(x))
    >>> model = ember.Model(x, y)
    """
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape).output


class Identity(Layer):
    """Returns its input unchanged (a placeholder, e.g. for an optional block)."""

    supports_masking = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def _function_ref(layer: "Lambda", what: str, fn) -> dict:
    """How a Lambda's callable goes into its config: by name, resolved from
    ``custom_objects`` at load. Anonymous ``lambda``s and other nameless callables cannot be
    written down: saving fails with a pointer to the alternatives."""
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise NotImplementedError(
            f"Lambda layer '{layer.name}': its {what} is an anonymous {type(fn).__name__} ({fn!r}), which cannot be "
            "saved in the model's JSON config. Either save the weights only (model.save_weights(path), rebuild the "
            "model in code, model.load_weights(path)), or use a named function (def my_fn(x): ...) and load with "
            "ember.models.load_model(path, custom_objects={'my_fn': my_fn}), or write a Layer subclass.")
    return {"class_name": "function", "config": name, "module": getattr(fn, "__module__", None)}


def _resolve_function(config, layer_name: str, what: str):
    if config is None or not isinstance(config, dict):
        return config
    name = config.get("config")
    fn = custom_objects().get(name)
    if not callable(fn):
        raise ValueError(f"load_model: Lambda layer '{layer_name}' calls the function {name!r} as its {what}; "
                         f"pass it to load: custom_objects={{{name!r}: {name}}}")
    return fn


class Lambda(Layer):
    """Wrap a function of the input(s) as a layer: ``Lambda(lambda x: x ** 2)``.

    ``function(inputs, **arguments)`` (also given ``mask=`` / ``training=`` when it takes
    them) must compose differentiable ops (``ember.functional``, Tensor operators).
    ``output_shape``: the output shape without the batch dimension, or a function of the
    input shape (batch included), for ``compute_output_shape``; by default the function is
    run on zeros. ``mask``: a function ``(inputs, mask) -> mask`` or a fixed mask.

    Saving: a ``lambda`` is Python code and cannot go into the JSON config (save raises
    and suggests ``save_weights``); a named function is saved by name and found again
    from ``load_model(path, custom_objects={"name": fn})``.
    """

    def __init__(self, function: Callable, output_shape=None, mask=None, arguments: Optional[dict] = None,
                 **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda layer '{self.name}': function must be callable. Received: {function!r}")
        import inspect
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = mask
        self.supports_masking = mask is not None
        if output_shape is not None and not callable(output_shape):
            output_shape = tuple(None if s is None else int(s) for s in output_shape)
        self._output_shape = output_shape
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):
            params = {}
        self._fn_mask = "mask" in params
        self._fn_training = "training" in params

    def call(self, inputs, mask=None, training: bool = False):
        kwargs = dict(self.arguments)
        if self._fn_mask:
            kwargs["mask"] = mask
        if self._fn_training:
            kwargs["training"] = training
        out = self.function(inputs, **kwargs)
        if isinstance(out, np.ndarray) or np.isscalar(out):
            out = Tensor(np.asarray(out))
        return out

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        return (input_shape[0],) + self._output_shape

    def get_config(self) -> dict:
        cfg = dict(super().get_config(), function=_function_ref(self, "function", self.function),
                   arguments=self.arguments)
        out = self._output_shape
        cfg["output_shape"] = _function_ref(self, "output_shape", out) if callable(out) else out
        if self.mask is not None and not callable(self.mask):
            raise NotImplementedError(f"Lambda layer '{self.name}': a fixed mask cannot be saved in the config; "
                                      "pass a named mask function, or use model.save_weights(path)")
        cfg["mask"] = None if self.mask is None else _function_ref(self, "mask", self.mask)
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "Lambda":
        cfg = dict(config)
        name = cfg.get("name", "lambda")
        for key in ("function", "output_shape", "mask"):
            cfg[key] = _resolve_function(cfg.get(key), name, key)
        return cls(**cfg)
