"""Fused recurrent ops: a whole sequence of LSTM / GRU / SimpleRNN steps is one graph node.

Each op returns ``(y, *final_states)`` where ``y`` (B, T, U) holds the state after every
step. The final hidden state is ``y[:, -1]`` (a differentiable slice); the LSTM's final cell
state is a second node whose backward runs the same kernel with only d c_T (the gradient
is linear in the upstream gradients, so the two contributions add up exactly).

``recurrent_mask`` (B, U), optional, is the recurrent (variational) dropout mask: it multiplies
h_{t-1} where h_{t-1} enters the recurrent matrix product, (h_{t-1} * m) recurrent_kernel, the
same mask at every step (the GRU blend z * h_{t-1} uses the undropped state). It is a constant
(no gradient); the layers draw it with ``recurrent_dropout``.

``activation`` (LSTM cell input and output, h = o * activation(c); GRU candidate; SimpleRNN)
is one of ``RNN_ACTIVATIONS``, ``recurrent_activation`` (LSTM i, f, o and GRU z, r gates) one
of ``RNN_RECURRENT_ACTIVATIONS``; None means "linear" (Keras). "hard_sigmoid" is the Keras 3
definition relu6(x + 3) / 6. They run inside the fused kernels; the defaults "tanh" / "sigmoid"
take the original (AVX2) path.
"""
from __future__ import annotations

from typing import Tuple

from .. import backend
from ..tensor import Tensor, as_array_like, as_bool_array, as_tensor, make_op
from . import core

RNN_ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")
RNN_RECURRENT_ACTIVATIONS = ("sigmoid", "hard_sigmoid", "tanh", "linear")


def rnn_activation(layer: str, arg: str, value, supported=RNN_ACTIVATIONS) -> str:
    """The kernel name of ``value`` for ``arg`` ("activation" or "recurrent_activation") of
    ``layer``: a supported name (any case) or None (= "linear"). Anything else raises
    NotImplementedError (a callable, or an activation the fused kernel lacks) or ValueError
    (not an activation name)."""
    if value is None:
        return "linear"
    if isinstance(value, str) and value.lower() in supported:
        return value.lower()
    names = ", ".join(repr(a) for a in supported)
    if callable(value):
        raise NotImplementedError(f"{layer}: {arg} must be one of {names} or None (linear); the fused kernel "
                                  f"does not take a callable. Received: {value!r}")
    if isinstance(value, str):
        from .nn import ACTIVATIONS
        if value.lower() in ACTIVATIONS or value.lower() in RNN_RECURRENT_ACTIVATIONS:
            raise NotImplementedError(f"{layer}: {arg}={value!r} is not supported by the fused kernel. "
                                      f"Supported: {names} or None (linear)")
        raise ValueError(f"{layer}: unknown {arg} {value!r}. Supported: {names} or None (linear)")
    raise ValueError(f"{layer}: {arg} must be a string or None. Supported: {names}. Received: {value!r}")


def _acts(layer, activation, recurrent_activation):
    return (rnn_activation(layer, "activation", activation),
            rnn_activation(layer, "recurrent_activation", recurrent_activation, RNN_RECURRENT_ACTIVATIONS))


def _prep(name, x, kernel, recurrent_kernel, bias, states, gates):
    x = as_tensor(x)
    dt = x.dtype
    kernel, recurrent_kernel, bias = (as_tensor(t, dt) for t in (kernel, recurrent_kernel, bias))
    if x.ndim != 3:
        raise ValueError(f"{name} expects a 3-D input (batch, timesteps, features). Received: shape={x.shape}")
    B = x.shape[0]
    U = recurrent_kernel.shape[0]
    if kernel.shape != (x.shape[2], gates * U):
        raise ValueError(f"{name}: kernel must have shape {(x.shape[2], gates * U)} for an input of shape {x.shape}. "
                         f"Received: shape={kernel.shape}")
    out = []
    for s in states:
        s = Tensor(backend.xp(x.data).zeros((B, U), dt)) if s is None else as_tensor(s, dt)
        if s.shape != (B, U):
            raise ValueError(f"{name}: initial state must have shape {(B, U)}. Received: shape={s.shape}")
        out.append(s)
    return x, kernel, recurrent_kernel, bias, out


def _mask(mask, x):
    if mask is None:
        return None
    m = as_bool_array(mask, x.data)
    m = backend.xp(m).ascontiguousarray(m)
    if m.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape (batch, timesteps) = {x.shape[:2]}. Received: shape={m.shape}")
    return m


def _rmask(name, recurrent_mask, x, U):
    if recurrent_mask is None:
        return None
    rm = as_array_like(recurrent_mask, x.data, x.dtype)
    rm = backend.xp(rm).ascontiguousarray(rm)
    if rm.shape != (x.shape[0], U):
        raise ValueError(f"{name}: recurrent_mask must have shape (batch, units) = {(x.shape[0], U)}. "
                         f"Received: shape={rm.shape}")
    return rm


def _last(y: Tensor, h0: Tensor) -> Tensor:
    return core.getitem(y, (slice(None), -1)) if y.shape[1] else h0


def lstm(x, kernel, recurrent_kernel, bias, h0=None, c0=None, mask=None, recurrent_mask=None,
         activation="tanh", recurrent_activation="sigmoid") -> Tuple[Tensor, Tensor, Tensor]:
    """Keras-layout LSTM over a sequence. x (B, T, I), kernel (I, 4U), recurrent_kernel
    (U, 4U), bias (4U,), gates i, f, c, o; recurrent_mask (B, U), activation and
    recurrent_activation see the module doc. Returns (y (B, T, U), h_T, c_T)."""
    act, ract = _acts("LSTM", activation, recurrent_activation)
    x, W, R, b, (h0, c0) = _prep("LSTM", x, kernel, recurrent_kernel, bias, (h0, c0), 4)
    m = _mask(mask, x)
    rm = _rmask("LSTM", recurrent_mask, x, R.shape[0])
    kern = backend.ops(x.data)
    y, cs, gates = kern.lstm_forward(x.data, W.data, R.data, b.data, h0.data, c0.data, m, rm, act, ract)
    parents = (x, W, R, b, h0, c0)
    xp = backend.xp(x.data)
    zeros_s = xp.zeros_like(h0.data)

    def run_bwd(dy, dh, dc):
        return kern.lstm_backward(dy, dh, dc, x.data, W.data, R.data, h0.data, c0.data, y, cs, gates, m, rm, act,
                                  ract)

    def backward_y(g):
        return run_bwd(g, zeros_s, zeros_s)

    yt = make_op(y, parents, backward_y, "lstm")
    if y.shape[1] == 0:
        return yt, h0, c0
    cT = xp.ascontiguousarray(cs[:, -1])
    ct = make_op(cT, parents, lambda g: run_bwd(xp.zeros_like(y), zeros_s, g), "lstm_cell_state")
    return yt, _last(yt, h0), ct


def gru(x, kernel, recurrent_kernel, bias, h0=None, mask=None, recurrent_mask=None, activation="tanh",
        recurrent_activation="sigmoid") -> Tuple[Tensor, Tensor]:
    """Keras-layout GRU (reset_after=True) over a sequence. kernel (I, 3U), recurrent_kernel
    (U, 3U), bias (2, 3U), gates z, r, h; recurrent_mask (B, U), activation and
    recurrent_activation see the module doc. Returns (y (B, T, U), h_T)."""
    act, ract = _acts("GRU", activation, recurrent_activation)
    x, W, R, b, (h0,) = _prep("GRU", x, kernel, recurrent_kernel, bias, (h0,), 3)
    m = _mask(mask, x)
    rm = _rmask("GRU", recurrent_mask, x, R.shape[0])
    kern = backend.ops(x.data)
    y, gates, hrec = kern.gru_forward(x.data, W.data, R.data, b.data, h0.data, m, rm, act, ract)

    def backward(g):
        return kern.gru_backward(g, backend.xp(g).zeros_like(h0.data), x.data, W.data, R.data, h0.data, y, gates, hrec, m, rm,
                                 act, ract)
    yt = make_op(y, (x, W, R, b, h0), backward, "gru")
    return yt, _last(yt, h0)


def simple_rnn(x, kernel, recurrent_kernel, bias, h0=None, mask=None, activation: str = "tanh",
               recurrent_mask=None) -> Tuple[Tensor, Tensor]:
    """h_t = activation(x_t kernel + h_{t-1} recurrent_kernel + bias); activation and
    recurrent_mask (B, U) see the module doc. Returns (y (B, T, U), h_T)."""
    act = rnn_activation("SimpleRNN", "activation", activation)
    x, W, R, b, (h0,) = _prep("SimpleRNN", x, kernel, recurrent_kernel, bias, (h0,), 1)
    m = _mask(mask, x)
    rm = _rmask("SimpleRNN", recurrent_mask, x, R.shape[0])
    kern = backend.ops(x.data)
    y = kern.simple_rnn_forward(x.data, W.data, R.data, b.data, h0.data, m, act, rm)

    def backward(g):
        return kern.simple_rnn_backward(g, backend.xp(g).zeros_like(h0.data), x.data, W.data, R.data, h0.data, y, m, act, rm)
    yt = make_op(y, (x, W, R, b, h0), backward, "simple_rnn")
    return yt, _last(yt, h0)
