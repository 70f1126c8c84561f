"""Recurrent layers (Keras semantics): SimpleRNN, LSTM, GRU, Bidirectional.

The whole sequence runs in one fused C++ op (``ember.ops.rnn``): one GEMM for the input
projection of every step, one per step on the state with fused gate nonlinearities, and
backprop through time in the same kernel family.

``dropout`` drops input features (one mask per sequence, shared over time);
``recurrent_dropout`` is variational dropout on the state (Keras / Gal & Ghahramani): in
training one (batch, units) mask per call multiplies h_{t-1} where it enters the recurrent
matrix product, the same mask at every step; it runs inside the fused kernel.

``activation`` ("tanh", "relu", "sigmoid", "linear" or None = linear) and, for LSTM / GRU,
``recurrent_activation`` ("sigmoid", "hard_sigmoid" (Keras 3: relu6(x + 3) / 6), "tanh",
"linear" or None) also run inside the fused kernel; other names and callables raise.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import initializers, regularizers
from .. import random as erandom
from ..ops import core, nn
from ..ops import rnn as rnn_ops
from ..serialization import layer_config, layer_from_config
from ..tensor import as_bool_array, as_mask
from .base import Layer, serialized_entries
from .rnn_layer import RNN


class _RNNBase(Layer):
    _gates = 1
    supports_masking = True

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, stateful: bool = False,
                 unroll: bool = False, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, **kwargs):
        self._ctor = dict(units=units, activation=activation, recurrent_activation=recurrent_activation,
                          use_bias=use_bias, kernel_initializer=kernel_initializer,
                          recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                          dropout=dropout, recurrent_dropout=recurrent_dropout, return_sequences=return_sequences,
                          return_state=return_state, go_backwards=go_backwards,
                          kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                          bias_regularizer=bias_regularizer)
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(f"{type(self).__name__}: units must be positive. Received: units={units}")
        if stateful:
            raise NotImplementedError(f"{type(self).__name__}: stateful=True is not supported")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1). Received: {dropout}")
        if not 0.0 <= recurrent_dropout < 1.0:
            raise ValueError(f"{type(self).__name__}: recurrent_dropout must be in [0, 1). "
                             f"Received: {recurrent_dropout}")
        self.units = int(units)
        name = type(self).__name__
        # canonical names (None -> "linear"), also in the config so that it rebuilds the same layer
        self.activation = self._ctor["activation"] = rnn_ops.rnn_activation(name, "activation", activation)
        if self._gates > 1:
            self.recurrent_activation = self._ctor["recurrent_activation"] = rnn_ops.rnn_activation(
                name, "recurrent_activation", recurrent_activation, rnn_ops.RNN_RECURRENT_ACTIVATIONS)
        else:  # SimpleRNN has no gates (and Keras no recurrent_activation): kept as given
            self.recurrent_activation = recurrent_activation
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.return_sequences, self.return_state, self.go_backwards = return_sequences, return_state, go_backwards

    def build(self, input_shape) -> None:
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} expects a 3-D input (batch, timesteps, features). "
                             f"Received: shape={tuple(input_shape)}")
        g = self._gates * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], g), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, g), self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer)
        self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init(), trainable=self.use_bias,
                                    regularizer=self.bias_regularizer if self.use_bias else None)
        self.built = True

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def _run(self, x, mask, states, rmask):
        raise NotImplementedError

    def call(self, inputs, mask=None, training=False, initial_state=None):
        x = inputs
        if x.ndim != 3:
            raise ValueError(f"{type(self).__name__} expects a 3-D input (batch, timesteps, features). "
                             f"Received: shape={x.shape}")
        if self.dropout and training:
            F = x.shape[2]
            x = nn.dropout(x, self.dropout, training=True, noise_shape=(None, 1, F))  # None: the batch axis
        m = None if mask is None else as_bool_array(mask, x.data)
        if self.go_backwards:
            x = core.getitem(x, (slice(None), slice(None, None, -1)))
            m = None if m is None else m[:, ::-1]
        rmask = None
        if self.recurrent_dropout and training:  # one (batch, units) mask for every step (Keras)
            rate = self.recurrent_dropout
            keep = erandom.draw_like(x.data, erandom.generator(), "random", (x.shape[0], self.units)) >= rate
            rmask = keep * x.dtype.type(1.0 / (1.0 - rate))
        states = list(initial_state) if initial_state is not None else None
        y, *final = self._run(x, m, states, rmask)
        out = y if self.return_sequences else final[0]
        if self.return_state:
            return [out] + list(final)
        return out

    def compute_mask(self, inputs, mask=None):
        if mask is None or not self.return_sequences:
            return None
        m = as_mask(mask)
        return m[:, ::-1] if self.go_backwards else m

    def get_config(self) -> dict:
        cfg = dict(super().get_config(), **{k: v for k, v in self._ctor.items() if isinstance(v, (int, float, str, bool))})
        for k in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
            cfg.pop(k, None)
        cfg.update(serialized_entries(
            self.name, kernel_initializer=(initializers, self.kernel_initializer),
            recurrent_initializer=(initializers, self.recurrent_initializer),
            bias_initializer=(initializers, self.bias_initializer),
            kernel_regularizer=(regularizers, self.kernel_regularizer),
            recurrent_regularizer=(regularizers, self.recurrent_regularizer),
            bias_regularizer=(regularizers, self.bias_regularizer)))
        return cfg


class SimpleRNN(_RNNBase):
    """Fully connected recurrence h_t = activation(x_t W + h_{t-1} R + b) (Keras);
    activation "tanh" (default), "relu", "sigmoid", "linear" or None."""

    _gates = 1

    def _run(self, x, mask, states, rmask):
        h0 = states[0] if states else None
        return rnn_ops.simple_rnn(x, self.kernel, self.recurrent_kernel, self.bias, h0, mask, self.activation,
                                  recurrent_mask=rmask)


class LSTM(_RNNBase):
    """Long short-term memory (Keras layout: kernel (input_dim, 4*units), gates i, f, c, o;
    ``unit_forget_bias`` sets the forget-gate bias to 1). ``return_state`` gives
    [output, h, c].

    >>> LSTM(64)                       # (batch, time, features) -> (batch, 64)
    """

    _gates = 4

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs):
        self.unit_forget_bias = unit_forget_bias
        super().__init__(units, **kwargs)
        self._ctor["unit_forget_bias"] = unit_forget_bias

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base = initializers.get(self.bias_initializer)
        u = self.units

        def init(shape, dtype="float32"):
            b = np.asarray(base((u * 4,), dtype))
            b[u:2 * u] = 1.0
            return b
        return init

    def _run(self, x, mask, states, rmask):
        h0, c0 = (states + [None, None])[:2] if states else (None, None)
        return rnn_ops.lstm(x, self.kernel, self.recurrent_kernel, self.bias, h0, c0, mask, recurrent_mask=rmask,
                            activation=self.activation, recurrent_activation=self.recurrent_activation)


class GRU(_RNNBase):
    """Gated recurrent unit (Keras 2/3 default reset_after=True: kernel (input_dim, 3*units),
    recurrent_kernel (units, 3*units), bias (2, 3*units), gates z, r, h)."""

    _gates = 3

    def __init__(self, units: int, reset_after: bool = True, **kwargs):
        if not reset_after:
            raise NotImplementedError("GRU: only reset_after=True (the Keras default) is supported")
        super().__init__(units, **kwargs)
        self.reset_after = True

    def _bias_shape(self):
        return (2, 3 * self.units)

    def _run(self, x, mask, states, rmask):
        h0 = states[0] if states else None
        return rnn_ops.gru(x, self.kernel, self.recurrent_kernel, self.bias, h0, mask, recurrent_mask=rmask,
                           activation=self.activation, recurrent_activation=self.recurrent_activation)


class Bidirectional(Layer):
    """Runs ``layer`` forwards and a copy backwards over time and merges the outputs
    (``merge_mode`` "concat" (default), "sum", "mul", "ave" or None for a list)."""

    supports_masking = True

    def __init__(self, layer: Layer, merge_mode: Optional[str] = "concat", backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, (_RNNBase, RNN)):
            raise TypeError(f"Bidirectional expects an RNN layer (SimpleRNN, LSTM, GRU, RNN). "
                            f"Received: {type(layer).__name__}")
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"Bidirectional: unknown merge_mode {merge_mode!r}")
        self.forward_layer = layer
        if backward_layer is None and isinstance(layer, RNN):  # a fresh cell of the same config
            cell = type(layer.cell).from_config(dict(layer.cell.get_config(), name=None))
            backward_layer = RNN(cell, return_sequences=layer.return_sequences, return_state=layer.return_state,
                                 go_backwards=not layer.go_backwards)
        elif backward_layer is None:
            kw = dict(layer._ctor, go_backwards=not layer.go_backwards)
            backward_layer = type(layer)(**kw)
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    def get_config(self) -> dict:
        return dict(super().get_config(), layer=layer_config(self.forward_layer), merge_mode=self.merge_mode,
                    backward_layer=layer_config(self.backward_layer))

    @classmethod
    def from_config(cls, config: dict) -> "Bidirectional":
        cfg = dict(config)
        cfg["layer"] = layer_from_config(cfg["layer"])
        if cfg.get("backward_layer") is not None:
            cfg["backward_layer"] = layer_from_config(cfg["backward_layer"])
        return cls(**cfg)

    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, mask=None, training=False):
        f = self.forward_layer(inputs, mask=mask, training=training)
        b = self.backward_layer(inputs, mask=mask, training=training)
        fs, bs = [], []
        if self.return_state:
            f, *fs = f
            b, *bs = b
        if self.return_sequences:
            b = core.getitem(b, (slice(None), slice(None, None, -1)))
        if self.merge_mode == "concat":
            out = core.concatenate([f, b], axis=-1)
        elif self.merge_mode == "sum":
            out = f + b
        elif self.merge_mode == "mul":
            out = f * b
        elif self.merge_mode == "ave":
            out = (f + b) * 0.5
        else:
            out = [f, b]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + fs + bs
        return out

    def compute_mask(self, inputs, mask=None):
        return mask if (mask is not None and self.return_sequences) else None


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step of a (batch, time, ...) input by folding time
    into the batch (Keras). Dense already acts on the last axis, so this is mostly for
    layers that expect a plain batch."""

    supports_masking = True

    def __init__(self, layer: Layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed expects a Layer. Received: {type(layer).__name__}")
        self.layer = layer

    def get_config(self) -> dict:
        return dict(super().get_config(), layer=layer_config(self.layer))

    @classmethod
    def from_config(cls, config: dict) -> "TimeDistributed":
        return cls(**dict(config, layer=layer_from_config(config["layer"])))

    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, training=False):
        if inputs.ndim < 3:
            raise ValueError(f"TimeDistributed expects an input of at least 3 dimensions (batch, time, ...). "
                             f"Received: shape={inputs.shape}")
        B, T = inputs.shape[:2]
        y = self.layer(core.reshape(inputs, (B * T,) + tuple(inputs.shape[2:])), training=training)
        return core.reshape(y, (B, T) + tuple(y.shape[1:]))
