"""CUDA LSTM / GRU (reset_after) / SimpleRNN over a sequence, forward and backprop through time.

Same functions, arguments, saved tensors and layouts as the recurrent part of ``backend.cpu``
(contract in csrc/rnn.h): the input projection of all steps and each step's recurrent
product go through ``xp.matmul`` (cuBLAS), the gate nonlinearities and their derivatives
through one fused kernel per step (kernels/rnn.cu), the time loop in Python.
"""
from __future__ import annotations

import numpy as np

from . import runtime
from ._seq_common import EW_BLOCK, check_shape, contig, float_dtype, i32, i64, launch, same_dtype

__all__ = ["lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "simple_rnn_forward",
           "simple_rnn_backward"]

_ACTS = {"tanh": 0, "sigmoid": 1, "relu": 2, "linear": 3}
_RACTS = {"sigmoid": 1, "hard_sigmoid": 4, "tanh": 0, "linear": 3}


class _Seq:
    """Validated operands of one recurrent call (the checks of the CPU binding's rnn_shape)."""

    def __init__(self, op, x, W, R, h0, mask, rmask, gates, act, ract="sigmoid"):
        if x.ndim != 3:
            raise ValueError(f"{op}: 'x' must be 3-D (batch, time, features). Received: shape={tuple(x.shape)}")
        self.op, self.d = op, float_dtype(op, "x", x)
        self.B, self.T, self.I = (int(s) for s in x.shape)
        if R.ndim != 2:
            raise ValueError(f"{op}: 'recurrent_kernel' must be 2-D. Received: shape={tuple(R.shape)}")
        self.U, self.G = int(R.shape[0]), gates * int(R.shape[0])
        for name, a, shape in (("kernel", W, (self.I, self.G)), ("recurrent_kernel", R, (self.U, self.G)),
                               ("initial_state", h0, (self.B, self.U))):
            same_dtype(op, name, a, self.d)
            check_shape(op, name, a, shape)
        self.x, self.W, self.R, self.h0 = contig(x), contig(W), contig(R), contig(h0)
        xp = runtime.xp()
        if mask is None:
            self.mask, self.has_mask = xp.zeros((1,), dtype=np.int32), 0
        else:
            if np.dtype(mask.dtype) not in (np.dtype(np.bool_), np.dtype(np.uint8)):
                raise TypeError(f"{op}: 'mask' must be bool. Received: dtype={np.dtype(mask.dtype)}")
            check_shape(op, "mask", mask, (self.B, self.T))
            self.mask, self.has_mask = contig(mask, dtype=np.int32), 1
        self.rmask = None
        if rmask is not None:
            same_dtype(op, "recurrent_mask", rmask, self.d)
            check_shape(op, "recurrent_mask", rmask, (self.B, self.U))
            self.rmask = contig(rmask)
        if act not in _ACTS:
            raise ValueError(f"{op}: unsupported activation '{act}'. Supported: 'tanh', 'relu', 'sigmoid', 'linear'")
        if ract not in _RACTS:
            raise ValueError(f"{op}: unsupported recurrent_activation '{ract}'. "
                             "Supported: 'sigmoid', 'hard_sigmoid', 'tanh', 'linear'")
        self.act, self.ract = i32(_ACTS[act]), i32(_RACTS[ract])

    def like(self, name, a, shape):
        same_dtype(self.op, name, a, self.d)
        check_shape(self.op, name, a, shape)
        return contig(a)

    def h_prev(self, y, t):
        """The state entering step t times the recurrent dropout mask (what meets R)."""
        hp = self.h0 if t == 0 else y[:, t - 1]
        return hp if self.rmask is None else hp * self.rmask

    def step(self, name, t, arrays, gate_acts=True):
        """One step's fused kernel: (arrays..., B, T, U, t, has_mask, act[, ract])."""
        acts = (self.act, self.ract) if gate_acts else (self.act,)
        launch("rnn", name, self.d, -(-self.B * self.U // EW_BLOCK), EW_BLOCK,
               tuple(arrays) + (i64(self.B), i64(self.T), i64(self.U), i64(t), i32(self.has_mask)) + acts)

    def x_proj(self):
        """x W for every step: (B, T, G)."""
        xp = runtime.xp()
        if self.B * self.T == 0:
            return xp.zeros((self.B, self.T, self.G), dtype=self.d)
        return xp.matmul(self.x.reshape(self.B * self.T, self.I), self.W).reshape(self.B, self.T, self.G)

    def backprop_dh(self, dh, dZ, t, gates=None):
        """dh of the step's inputs through the recurrent GEMM: dh = dZ[t] R^T (* rmask), the GRU's
        dh * z added (``gates`` given)."""
        tmp = contig(runtime.xp().matmul(dZ[:, t], self.R.T))
        rm = self.rmask if self.rmask is not None else tmp
        self.step_dh(tmp, rm, gates if gates is not None else tmp, dh, t, gates is not None)

    def step_dh(self, tmp, rm, gates, dh, t, gru):
        launch("rnn", "rnn_set_dh", self.d, -(-self.B * self.U // EW_BLOCK), EW_BLOCK,
               (tmp, rm, gates, self.mask, dh, i64(self.B), i64(self.T), i64(self.U), i64(t), i32(self.has_mask),
                i32(self.rmask is not None), i32(gru)))

    def colsum(self, a, out):
        """out = column sums of ``a`` (B, T, n) over all (b, t): fixed 32-row partial sums, then
        the partials in order (deterministic, parallel over row blocks)."""
        n, rows = a.shape[-1], self.B * self.T
        nblk = -(-rows // 32)  # EMBER_RNN_RB in rnn.cu
        part = runtime.xp().empty((nblk, n), dtype=self.d)
        launch("rnn", "rnn_colsum_partial", self.d, -(-nblk * n // EW_BLOCK), EW_BLOCK,
               (a, part, i64(rows), i64(n)))
        launch("rnn", "rnn_colsum", self.d, -(-n // EW_BLOCK), EW_BLOCK, (part, out, i64(nblk), i64(n)))

    def weight_grads(self, dXZ, dHZ, y):
        """(dx, dW, dR): dW = X^T dXZ, dR = Hprev^T dHZ over all steps, dx = dXZ W^T."""
        xp = runtime.xp()
        B, T, I, U, G = self.B, self.T, self.I, self.U, self.G
        if B * T == 0:
            return (xp.zeros((B, T, I), dtype=self.d), xp.zeros((I, G), dtype=self.d),
                    xp.zeros((U, G), dtype=self.d))
        hp = xp.concatenate([self.h0.reshape(B, 1, U), y[:, :T - 1]], axis=1)
        if self.rmask is not None:
            hp = hp * self.rmask.reshape(B, 1, U)
        dX2, dH2 = dXZ.reshape(B * T, G), dHZ.reshape(B * T, G)
        dR = xp.matmul(hp.reshape(B * T, U).T, dH2)
        dW = xp.matmul(self.x.reshape(B * T, I).T, dX2)
        dx = xp.matmul(dX2, self.W.T).reshape(B, T, I)
        return dx, dW, dR


def _recurrent(s: _Seq, y, t):
    xp = runtime.xp()
    if s.B == 0:
        return xp.zeros((0, s.G), dtype=s.d)
    return contig(xp.matmul(s.h_prev(y, t), s.R))


def lstm_forward(x, W, R, b, h0, c0, mask=None, recurrent_mask=None, activation="tanh",
                 recurrent_activation="sigmoid"):
    """(y (B, T, U), cell states (B, T, U), activated gates i, f, c, o (B, T, 4U))."""
    s = _Seq("lstm", x, W, R, h0, mask, recurrent_mask, 4, activation, recurrent_activation)
    b, c0 = s.like("bias", b, (s.G,)), s.like("initial_cell_state", c0, (s.B, s.U))
    xp = runtime.xp()
    y, cs = xp.empty((s.B, s.T, s.U), dtype=s.d), xp.empty((s.B, s.T, s.U), dtype=s.d)
    gates = contig(s.x_proj())
    for t in range(s.T):
        s.step("lstm_fwd_step", t, (_recurrent(s, y, t), b, s.h0, c0, s.mask, gates, cs, y))
    return y, cs, gates


def lstm_backward(dy, dh, dc, x, W, R, h0, c0, y, cs, gates, mask=None, recurrent_mask=None, activation="tanh",
                  recurrent_activation="sigmoid"):
    """(dx, dkernel, drecurrent, dbias, dh0, dc0)."""
    s = _Seq("lstm_backward", x, W, R, h0, mask, recurrent_mask, 4, activation, recurrent_activation)
    BTU = (s.B, s.T, s.U)
    dy, c0 = s.like("grad_output", dy, BTU), s.like("initial_cell_state", c0, (s.B, s.U))
    y, cs, gates = s.like("y", y, BTU), s.like("cell_states", cs, BTU), s.like("gates", gates, (s.B, s.T, s.G))
    xp = runtime.xp()
    dh0 = s.like("grad_h", dh, (s.B, s.U)).copy()  # dh0 / dc0 carry the running dh / dc
    dc0 = s.like("grad_c", dc, (s.B, s.U)).copy()
    dZ = xp.empty((s.B, s.T, s.G), dtype=s.d)
    for t in range(s.T - 1, -1, -1):
        s.step("lstm_bwd_step", t, (dy, gates, cs, c0, s.mask, dh0, dc0, dZ))
        s.backprop_dh(dh0, dZ, t)
    db = xp.empty((s.G,), dtype=s.d)
    s.colsum(dZ, db)
    dx, dW, dR = s.weight_grads(dZ, dZ, y)
    return dx, dW, dR, db, dh0, dc0


def gru_forward(x, W, R, b, h0, mask=None, recurrent_mask=None, activation="tanh", recurrent_activation="sigmoid"):
    """(y (B, T, U), activated gates z, r, hh (B, T, 3U), hrec = h_prev R_h + b_rh (B, T, U))."""
    s = _Seq("gru", x, W, R, h0, mask, recurrent_mask, 3, activation, recurrent_activation)
    b = s.like("bias", b, (2, s.G))
    xp = runtime.xp()
    y, hrec = xp.empty((s.B, s.T, s.U), dtype=s.d), xp.empty((s.B, s.T, s.U), dtype=s.d)
    gates = contig(s.x_proj())
    for t in range(s.T):
        s.step("gru_fwd_step", t, (_recurrent(s, y, t), b, s.h0, s.mask, gates, hrec, y))
    return y, gates, hrec


def gru_backward(dy, dh, x, W, R, h0, y, gates, hrec, mask=None, recurrent_mask=None, activation="tanh",
                 recurrent_activation="sigmoid"):
    """(dx, dkernel, drecurrent, dbias (2, 3U), dh0)."""
    s = _Seq("gru_backward", x, W, R, h0, mask, recurrent_mask, 3, activation, recurrent_activation)
    BTU = (s.B, s.T, s.U)
    dy, y = s.like("grad_output", dy, BTU), s.like("y", y, BTU)
    gates, hrec = s.like("gates", gates, (s.B, s.T, s.G)), s.like("hrec", hrec, BTU)
    xp = runtime.xp()
    dh0 = s.like("grad_h", dh, (s.B, s.U)).copy()
    dXZ, dHZ = xp.empty((s.B, s.T, s.G), dtype=s.d), xp.empty((s.B, s.T, s.G), dtype=s.d)
    for t in range(s.T - 1, -1, -1):
        s.step("gru_bwd_step", t, (dy, gates, hrec, s.h0, y, s.mask, dh0, dXZ, dHZ))
        s.backprop_dh(dh0, dHZ, t, gates)
    db_in, db_rec = xp.empty((s.G,), dtype=s.d), xp.empty((s.G,), dtype=s.d)
    s.colsum(dXZ, db_in)
    s.colsum(dHZ, db_rec)
    db = xp.stack([db_in, db_rec])
    dx, dW, dR = s.weight_grads(dXZ, dHZ, y)
    return dx, dW, dR, db, dh0


def simple_rnn_forward(x, W, R, b, h0, mask=None, activation="tanh", recurrent_mask=None):
    """y (B, T, U)."""
    s = _Seq("simple_rnn", x, W, R, h0, mask, recurrent_mask, 1, activation)
    b = s.like("bias", b, (s.U,))
    y = runtime.xp().empty((s.B, s.T, s.U), dtype=s.d)
    xw = contig(s.x_proj())
    for t in range(s.T):
        s.step("srnn_fwd_step", t, (_recurrent(s, y, t), xw, b, s.h0, s.mask, y), gate_acts=False)
    return y


def simple_rnn_backward(dy, dh, x, W, R, h0, y, mask=None, activation="tanh", recurrent_mask=None):
    """(dx, dkernel, drecurrent, dbias, dh0)."""
    s = _Seq("simple_rnn_backward", x, W, R, h0, mask, recurrent_mask, 1, activation)
    BTU = (s.B, s.T, s.U)
    dy, y = s.like("grad_output", dy, BTU), s.like("y", y, BTU)
    xp = runtime.xp()
    dh0 = s.like("grad_h", dh, (s.B, s.U)).copy()
    dA = xp.empty(BTU, dtype=s.d)
    for t in range(s.T - 1, -1, -1):
        s.step("srnn_bwd_step", t, (dy, y, s.mask, dh0, dA), gate_acts=False)
        s.backprop_dh(dh0, dA, t)
    db = xp.empty((s.U,), dtype=s.d)
    s.colsum(dA, db)
    dx, dW, dR = s.weight_grads(dA, dA, y)
    return dx, dW, dR, db, dh0
