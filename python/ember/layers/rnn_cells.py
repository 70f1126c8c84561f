"""Recurrent cells (Keras 3): ``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``, and
``StackedRNNCells``; ``layers.RNN`` (in rnn_layer.py) runs any of them, or a user's cell,
over time.

A cell is a Layer with ``state_size`` (an int, or a list of ints for several states) and
``call(inputs, states, training=False) -> (output, new_states)`` for one time step:
``inputs`` (batch, features), ``states`` a list of (batch, size) Tensors. The built-in
cells compose differentiable ops step by step; their weights have the same layout as the
fused LSTM / GRU / SimpleRNN layers (kernel, recurrent_kernel, bias), so
``RNN(LSTMCell(u))`` and ``LSTM(u)`` with the same weights give the same numbers.
"""
from __future__ import annotations

from typing import List

import numpy as np

from .. import initializers, regularizers
from .. import random as erandom
from ..ops import core as C
from ..tensor import Tensor
from ..serialization import layer_config, layer_from_config
from .base import Layer, serialized_entries


def _activation(name):
    from ..functional import get_activation
    fn = get_activation(name)
    return (lambda x: x) if fn is None else fn


class _Cell(Layer):
    """Shared weights and config of the built-in cells (``_gates`` blocks of ``units``)."""

    _gates = 1

    def __init__(self, units: int, activation="tanh", use_bias: bool = True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        for what, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= float(rate) < 1.0:
                raise ValueError(f"{type(self).__name__} '{self.name}': {what} must be in [0, 1). Received: {rate}")
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self._masks = {}
        if int(units) != units or int(units) <= 0:
            raise ValueError(f"{type(self).__name__} '{self.name}': units must be a positive integer. "
                             f"Received: units={units}")
        self.units = int(units)
        self.activation = activation
        self._act = _activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    def build(self, input_shape) -> None:
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects one time step (batch, features) with "
                             f"known features. Received: input_shape={tuple(input_shape)}")
        g = self._gates * self.units
        self.kernel = self.add_weight("kernel", (int(input_shape[-1]), g), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, g), self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer)
        self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init(),
                                    regularizer=self.bias_regularizer) if self.use_bias else None
        self.built = True

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def _check(self, inputs, states) -> List[Tensor]:
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        if inputs.ndim != 2 or inputs.shape[1] != self.kernel.shape[0] or len(states) != len(sizes) or any(
                tuple(s.shape) != (inputs.shape[0], n) for s, n in zip(states, sizes)):
            raise ValueError(f"{type(self).__name__} '{self.name}' expects inputs (batch, {self.kernel.shape[0]}) "
                             f"and states {[('batch', n) for n in sizes]}. Received: inputs shape={inputs.shape}, "
                             f"states shapes={[tuple(s.shape) for s in states]}")
        return states

    def reset_dropout_mask(self) -> None:
        """Forget the dropout masks: ``RNN`` calls this before each sequence, so one mask
        is drawn per sequence and shared by its steps (Keras' DropoutRNNCell)."""
        self._masks = {}

    def _dropped(self, which: str, rate: float, t: Tensor, training: bool) -> Tensor:
        """``t`` times this sequence's (batch, features) dropout mask (scaled by 1/(1-rate))."""
        if not training or rate == 0.0:
            return t
        m = self._masks.get(which)
        if m is None or m.shape != t.shape:
            keep = erandom.draw_like(t.data, erandom.generator(), "random", t.shape) >= rate
            m = self._masks[which] = (keep * (1.0 / (1.0 - rate))).astype(t.dtype)
        return C.mul(t, Tensor(m))

    def _inputs_states(self, inputs, states, training):
        states = self._check(inputs, states)
        x = self._dropped("input", self.dropout, inputs, training)
        return x, states, self._dropped("recurrent", self.recurrent_dropout, states[0], training)

    def _proj(self, x: Tensor) -> Tensor:
        z = C.matmul(x, self.kernel)
        return z + self.bias if self.bias is not None and self.bias.ndim == 1 else z

    def get_config(self) -> dict:
        cfg = dict(super().get_config(), units=self.units, use_bias=self.use_bias, dropout=self.dropout,
                   recurrent_dropout=self.recurrent_dropout)
        if isinstance(self.activation, str) or self.activation is None:
            cfg["activation"] = self.activation
        cfg.update(serialized_entries(
            self.name, kernel_initializer=(initializers, self.kernel_initializer),
            recurrent_initializer=(initializers, self.recurrent_initializer),
            bias_initializer=(initializers, self.bias_initializer),
            kernel_regularizer=(regularizers, self.kernel_regularizer),
            recurrent_regularizer=(regularizers, self.recurrent_regularizer),
            bias_regularizer=(regularizers, self.bias_regularizer)))
        return cfg


class SimpleRNNCell(_Cell):
    """One step of ``SimpleRNN``: h = activation(x W + h_prev R + b); returns (h, [h])."""

    def call(self, inputs, states, training: bool = False):
        x, _, h_in = self._inputs_states(inputs, states, training)
        out = self._act(self._proj(x) + C.matmul(h_in, self.recurrent_kernel))
        return out, [out]


class LSTMCell(_Cell):
    """One step of ``LSTM`` (gates i, f, c, o; states [h, c]; ``unit_forget_bias`` sets the
    forget-gate bias to 1); returns (h, [h, c])."""

    _gates = 4

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias: bool = True,
                 **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = recurrent_activation
        self._ract = _activation(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, u = self.bias_initializer, self.units

        def init(shape, dtype="float32"):
            b = np.array(base((4 * u,), dtype), dtype=dtype)
            b[u:2 * u] = 1.0
            return b
        return init

    def call(self, inputs, states, training: bool = False):
        x, (h, c), h_in = self._inputs_states(inputs, states, training)
        z = self._proj(x) + C.matmul(h_in, self.recurrent_kernel)
        u = self.units
        i, f = self._ract(z[:, :u]), self._ract(z[:, u:2 * u])
        g, o = self._act(z[:, 2 * u:3 * u]), self._ract(z[:, 3 * u:])
        c2 = f * c + i * g
        h2 = o * self._act(c2)
        return h2, [h2, c2]

    def get_config(self) -> dict:
        cfg = dict(super().get_config(), unit_forget_bias=self.unit_forget_bias)
        if isinstance(self.recurrent_activation, str) or self.recurrent_activation is None:
            cfg["recurrent_activation"] = self.recurrent_activation
        return cfg


class GRUCell(_Cell):
    """One step of ``GRU`` (Keras' reset_after=True: gates z, r, h; bias (2, 3*units) for
    the input and the recurrent projections); returns (h, [h])."""

    _gates = 3

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", reset_after: bool = True,
                 **kwargs):
        if not reset_after:
            raise NotImplementedError("GRUCell: only reset_after=True (the Keras default) is supported")
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = recurrent_activation
        self._ract = _activation(recurrent_activation)
        self.reset_after = True

    def _bias_shape(self):
        return (2, 3 * self.units)

    def call(self, inputs, states, training: bool = False):
        x, (h,), h_in = self._inputs_states(inputs, states, training)
        u = self.units
        xz = self._proj(x)
        hz = C.matmul(h_in, self.recurrent_kernel)  # the blend z * h below uses the undropped state
        if self.bias is not None:
            xz, hz = xz + self.bias[0], hz + self.bias[1]
        z = self._ract(xz[:, :u] + hz[:, :u])
        r = self._ract(xz[:, u:2 * u] + hz[:, u:2 * u])
        hh = self._act(xz[:, 2 * u:] + r * hz[:, 2 * u:])
        h2 = z * h + (1.0 - z) * hh
        return h2, [h2]

    def get_config(self) -> dict:
        cfg = dict(super().get_config(), reset_after=True)
        if isinstance(self.recurrent_activation, str) or self.recurrent_activation is None:
            cfg["recurrent_activation"] = self.recurrent_activation
        return cfg


class StackedRNNCells(Layer):
    """Several cells run one after the other at each step (what ``RNN([cell1, cell2])``
    builds): the states are the cells' states concatenated in order, the output the last
    cell's."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        for c in cells:
            if not hasattr(c, "call") or not hasattr(c, "state_size"):
                raise ValueError(f"StackedRNNCells '{self.name}': every cell needs call() and state_size. "
                                 f"Received: {c!r}")
        self.cells = cells

    @property
    def state_size(self):
        return [s for c in self.cells for s in _sizes(c.state_size)]

    @property
    def output_size(self):
        last = self.cells[-1]
        return getattr(last, "output_size", _sizes(last.state_size)[0])

    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, states, training: bool = False):
        states, new_states, x = list(states), [], inputs
        for c in self.cells:
            n = len(_sizes(c.state_size))
            own, states = states[:n], states[n:]
            x, s = c(x, own, training=training)
            new_states.extend(s if isinstance(s, (list, tuple)) else [s])
        return x, new_states

    def get_config(self) -> dict:
        return dict(super().get_config(), cells=[layer_config(c) for c in self.cells])

    @classmethod
    def from_config(cls, config: dict) -> "StackedRNNCells":
        return cls(**dict(config, cells=[layer_from_config(c) for c in config["cells"]]))


def _sizes(state_size) -> List[int]:
    return [int(s) for s in state_size] if isinstance(state_size, (list, tuple)) else [int(state_size)]
