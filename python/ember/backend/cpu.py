"""CPU backend: NumPy arrays, hot kernels from ember._C.

Each function takes and returns NumPy arrays; differentiable ops in ``ember.ops`` call
these. Kernel families have their own section below (kept apart so work on different
families merges cleanly).
"""
from __future__ import annotations

import math

import numpy as np

from .. import _C

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _kernel_ok(*arrays) -> bool:
    d = arrays[0].dtype
    return d in _FLOATS and all(a.dtype == d for a in arrays)


# ---------------------------------------------------------------------------------------
# gemm
# ---------------------------------------------------------------------------------------

def gemm(a: np.ndarray, b: np.ndarray, trans_a: bool = False, trans_b: bool = False,
         out: np.ndarray = None) -> np.ndarray:
    """op(a) @ op(b) for 2-D arrays through ember's GEMM (transposed views cost no copy)."""
    if not _kernel_ok(a, b):
        return np.matmul(a.T if trans_a else a, b.T if trans_b else b)
    return _C.gemm(a, b, trans_a, trans_b, 1.0, 0.0, out)


def _as_rows(x: np.ndarray) -> np.ndarray:
    """(..., K) -> (rows, K); unlike reshape(-1, K), also for empty arrays (K or rows 0)."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``numpy.matmul`` semantics for arrays of >= 2 dimensions, through ember's GEMM.

    A stack (..., M, K) times a matrix (K, N) is folded into one GEMM when the stack is
    contiguous; other batched products use the strided batched GEMM.
    """
    if not _kernel_ok(a, b) or a.ndim < 2 or b.ndim < 2:
        return np.matmul(a, b)
    if a.ndim == 2 and b.ndim == 2:
        return _C.gemm(a, b)
    if b.ndim == 2 and a.flags.c_contiguous:
        m = _C.gemm(_as_rows(a), b)
        return m.reshape(a.shape[:-1] + (b.shape[-1],))
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    nb = int(np.prod(batch)) if batch else 1

    def as3(x):
        if x.shape[:-2] == batch:
            return x.reshape((nb,) + x.shape[-2:])
        if int(np.prod(x.shape[:-2])) == 1:
            return x.reshape((1,) + x.shape[-2:])
        return np.broadcast_to(x, batch + x.shape[-2:]).reshape((nb,) + x.shape[-2:])

    c = _C.gemm_batched(as3(a), as3(b))
    return c.reshape(batch + c.shape[-2:])


# (end gemm)

# ---------------------------------------------------------------------------------------
# elementwise (fused bias + activation, optimizer updates)
# ---------------------------------------------------------------------------------------

#: activation name -> kernel code of the fused bias + activation kernels
FUSED_ACTIVATIONS = {"linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "gelu": 4, "leaky_relu": 5}


def bias_act_forward(x: np.ndarray, b, act: str, alpha: float = 0.0, out: np.ndarray = None) -> np.ndarray:
    """y = act(x + b) for x (rows, cols) and b (cols,) or None. ``out`` may be ``x`` (in place)."""
    x = np.ascontiguousarray(x)
    if b is not None:
        b = np.ascontiguousarray(b, dtype=x.dtype)
    return _C.bias_act_forward(x, b, FUSED_ACTIVATIONS[act], float(alpha), out)


def bias_act_backward(dy: np.ndarray, y, x, b, act: str, alpha: float = 0.0, need_db: bool = True):
    """(dx, db): dx = dy * act'(x + b), db = column sums of dx (None unless ``need_db``).

    ``y`` is the saved forward output; ``x`` (the pre-bias input) is needed for gelu only.
    Non-contiguous ``dy`` (e.g. a broadcast gradient) is made contiguous first.
    """
    dt = y.dtype if y is not None else x.dtype
    dy = np.ascontiguousarray(dy, dtype=dt)
    if b is not None:
        b = np.ascontiguousarray(b, dtype=dt)
    return _C.bias_act_backward(dy, y, x, b, FUSED_ACTIVATIONS[act], float(alpha), bool(need_db))


def _grad_for(p: np.ndarray, g) -> np.ndarray:
    return np.ascontiguousarray(g, dtype=p.dtype).reshape(p.shape)


def sgd_update(p: np.ndarray, g, m, lr: float, momentum: float, nesterov: bool, weight_decay: float) -> None:
    """In-place Keras SGD step on ``p`` (``m``: momentum buffer or None)."""
    _C.sgd_update(p, _grad_for(p, g), m, lr, momentum, nesterov, weight_decay)


def adam_update(p: np.ndarray, g, m, v, vhat, lr: float, lr_t: float, beta_1: float, beta_2: float,
                epsilon: float, weight_decay: float) -> None:
    """In-place Keras Adam / AdamW step (``vhat`` for amsgrad, else None)."""
    _C.adam_update(p, _grad_for(p, g), m, v, vhat, lr, lr_t, beta_1, beta_2, epsilon, weight_decay)


def rmsprop_update(p: np.ndarray, g, v, mom, avg, lr: float, rho: float, momentum: float, epsilon: float,
                   weight_decay: float) -> None:
    """In-place Keras RMSprop step (``mom`` / ``avg`` None unless momentum / centered)."""
    _C.rmsprop_update(p, _grad_for(p, g), v, mom, avg, lr, rho, momentum, epsilon, weight_decay)


# (end elementwise)

# ---------------------------------------------------------------------------------------
# conv / pool / batchnorm
# ---------------------------------------------------------------------------------------

def _c(a: np.ndarray) -> np.ndarray:
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def conv2d(x: np.ndarray, w: np.ndarray, b, strides, pads, dilation, groups: int, act: int = 0) -> np.ndarray:
    """NHWC conv2d: x (N, H, W, C), w (KH, KW, C/G, OC), b (OC,) or None; pads =
    (top, bottom, left, right); act 1 fuses a ReLU. Returns (N, OH, OW, OC)."""
    return _C.conv2d_forward(_c(x), _c(w), None if b is None else _c(b), tuple(strides), tuple(pads),
                             tuple(dilation), int(groups), int(act))


def conv2d_backward(x, w, dy, y, strides, pads, dilation, groups: int, act: int,
                    need_dx: bool, need_dw: bool, need_db: bool):
    """(dx, dw, db) of :func:`conv2d` (None where not needed); ``y`` is the forward output
    when ``act`` is 1 (the ReLU mask)."""
    return _C.conv2d_backward(_c(x), _c(w), _c(dy), None if y is None else _c(y), tuple(strides), tuple(pads),
                              tuple(dilation), int(groups), int(act), need_dx, need_dw, need_db)


def conv2d_max_pool2d(x, w, b, strides, pads, dilation, groups: int, act: int, pool, pool_strides, pool_pads):
    """:func:`conv2d` then :func:`max_pool2d` of its output in one pass: (y, argmax), the argmax
    the conv-output cell oh * OW + ow of each maximum (with act 1, -1 where y is a ReLU zero)."""
    return _C.conv2d_max_pool2d_forward(_c(x), _c(w), None if b is None else _c(b), tuple(strides), tuple(pads),
                                        tuple(dilation), int(groups), int(act), tuple(pool), tuple(pool_strides),
                                        tuple(pool_pads))


def conv2d_max_pool2d_backward(x, w, dy, idx, strides, pads, dilation, groups: int, pool, pool_strides, pool_pads,
                               need_dx: bool, need_dw: bool, need_db: bool):
    """(dx, dw, db) of :func:`conv2d_max_pool2d` (None where not needed) from its argmax."""
    return _C.conv2d_max_pool2d_backward(_c(x), _c(w), _c(dy), idx, tuple(strides), tuple(pads), tuple(dilation),
                                         int(groups), tuple(pool), tuple(pool_strides), tuple(pool_pads), need_dx,
                                         need_dw, need_db)


def max_pool2d(x: np.ndarray, pool, strides, pads):
    """NHWC max pooling: (y, argmax) with argmax the int32 index ih * W + iw of each maximum."""
    return _C.max_pool2d_forward(_c(x), tuple(pool), tuple(strides), tuple(pads))


def max_pool2d_backward(dy, idx, x_shape, pool, strides, pads) -> np.ndarray:
    return _C.max_pool2d_backward(_c(dy), idx, tuple(x_shape), tuple(pool), tuple(strides), tuple(pads))


def avg_pool2d(x: np.ndarray, pool, strides, pads, count_pad: bool = False) -> np.ndarray:
    return _C.avg_pool2d_forward(_c(x), tuple(pool), tuple(strides), tuple(pads), bool(count_pad))


def avg_pool2d_backward(dy, x_shape, pool, strides, pads, count_pad: bool = False) -> np.ndarray:
    return _C.avg_pool2d_backward(_c(dy), tuple(x_shape), tuple(pool), tuple(strides), tuple(pads), bool(count_pad))


def batch_norm_train(x2: np.ndarray, gamma, beta, running_mean, running_var, eps: float, momentum: float):
    """x2 (M, C): (y, mean, invstd); the running statistics are updated in place."""
    return _C.batch_norm_forward_train(_c(x2), gamma, beta, running_mean, running_var, float(eps), float(momentum))


def batch_norm_infer(x2: np.ndarray, gamma, beta, running_mean, running_var, eps: float) -> np.ndarray:
    return _C.batch_norm_forward_infer(_c(x2), gamma, beta, running_mean, running_var, float(eps))


def batch_norm_backward(dy2, x2, gamma, mean, invstd, need_dx: bool = True):
    """(dx or None, dgamma, dbeta) of the training-mode batch norm."""
    return _C.batch_norm_backward_train(_c(dy2), _c(x2), gamma, mean, invstd, bool(need_dx))


# (end conv / pool / batchnorm)

# ---------------------------------------------------------------------------------------
# softmax / attention / rnn / layernorm
# ---------------------------------------------------------------------------------------

def _c2(x: np.ndarray) -> np.ndarray:
    """``x`` as a C-contiguous (rows, last) array (a view when it already is contiguous)."""
    x = np.ascontiguousarray(x)
    return x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x


def softmax_lastaxis(x: np.ndarray, log: bool = False) -> np.ndarray:
    """softmax / log-softmax over the last axis (float32/float64 through the fused kernel)."""
    return _C.softmax_forward(_c2(x), log).reshape(x.shape)


def softmax_lastaxis_backward(y: np.ndarray, dy: np.ndarray, log: bool = False) -> np.ndarray:
    return _C.softmax_backward(_c2(y), _c2(dy.astype(y.dtype, copy=False)), log).reshape(y.shape)


def xent_forward(logits: np.ndarray, labels: np.ndarray, sparse: bool):
    """Fused softmax cross-entropy over the last axis: (per-row loss, per-row lse)."""
    lab = np.ascontiguousarray(labels.reshape(-1), dtype=np.int64) if sparse else _c2(labels.astype(logits.dtype, copy=False))
    loss, lse = _C.xent_forward(_c2(logits), lab, sparse)
    return loss.reshape(logits.shape[:-1]), lse


def xent_backward(dloss: np.ndarray, logits: np.ndarray, labels: np.ndarray, lse: np.ndarray, sparse: bool):
    lab = np.ascontiguousarray(labels.reshape(-1), dtype=np.int64) if sparse else _c2(labels.astype(logits.dtype, copy=False))
    dl = np.ascontiguousarray(np.broadcast_to(dloss, logits.shape[:-1]), dtype=logits.dtype).reshape(-1)
    return _C.xent_backward(dl, _c2(logits), lab, lse, sparse).reshape(logits.shape)


def attention_forward(q, k, v, mask, causal: bool, scale: float, layout: str = "bhtd"):
    """Tiled attention on (B, H, T, D) arrays (or (B, T, H, D) with layout="bthd");
    ``mask`` a bool array broadcastable to (B, H, Tq, Tk) or None. Returns (out, lse)."""
    mask = _attn_mask(mask, q, k, layout)
    return _C.attention_forward(np.ascontiguousarray(q), np.ascontiguousarray(k), np.ascontiguousarray(v),
                                mask, causal, scale, layout)


def attention_backward(g, q, k, v, out, lse, mask, causal: bool, scale: float, layout: str = "bhtd"):
    mask = _attn_mask(mask, q, k, layout)
    return _C.attention_backward(np.ascontiguousarray(g, dtype=q.dtype), np.ascontiguousarray(q),
                                 np.ascontiguousarray(k), np.ascontiguousarray(v), out, lse, mask, causal, scale,
                                 layout)


def _attn_mask(mask, q, k, layout):
    if mask is None:
        return None
    B, H, Tq, Tk = (q.shape[0], q.shape[1], q.shape[2], k.shape[2]) if layout == "bhtd" else \
        (q.shape[0], q.shape[2], q.shape[1], k.shape[1])
    return np.broadcast_to(mask, (B, H, Tq, Tk))


def _rnn_args(*arrays):
    return [np.ascontiguousarray(a) for a in arrays]


def _rmask(recurrent_mask):
    return None if recurrent_mask is None else np.ascontiguousarray(recurrent_mask)


# activation / recurrent_activation: kernel names, see ember.ops.rnn (defaults "tanh" / "sigmoid")

def lstm_forward(x, W, R, b, h0, c0, mask=None, recurrent_mask=None, activation="tanh",
                 recurrent_activation="sigmoid"):
    return _C.lstm_forward(*_rnn_args(x, W, R, b, h0, c0), mask, _rmask(recurrent_mask), activation,
                           recurrent_activation)


def lstm_backward(dy, dh, dc, x, W, R, h0, c0, y, cs, gates, mask=None, recurrent_mask=None, activation="tanh",
                  recurrent_activation="sigmoid"):
    return _C.lstm_backward(*_rnn_args(dy, dh, dc, x, W, R, h0, c0), y, cs, gates, mask, _rmask(recurrent_mask),
                            activation, recurrent_activation)


def gru_forward(x, W, R, b, h0, mask=None, recurrent_mask=None, activation="tanh", recurrent_activation="sigmoid"):
    return _C.gru_forward(*_rnn_args(x, W, R, b, h0), mask, _rmask(recurrent_mask), activation, recurrent_activation)


def gru_backward(dy, dh, x, W, R, h0, y, gates, hrec, mask=None, recurrent_mask=None, activation="tanh",
                 recurrent_activation="sigmoid"):
    return _C.gru_backward(*_rnn_args(dy, dh, x, W, R, h0), y, gates, hrec, mask, _rmask(recurrent_mask),
                           activation, recurrent_activation)


def simple_rnn_forward(x, W, R, b, h0, mask=None, activation="tanh", recurrent_mask=None):
    return _C.simple_rnn_forward(*_rnn_args(x, W, R, b, h0), mask, _rmask(recurrent_mask), activation)


def simple_rnn_backward(dy, dh, x, W, R, h0, y, mask=None, activation="tanh", recurrent_mask=None):
    return _C.simple_rnn_backward(*_rnn_args(dy, dh, x, W, R, h0), y, mask, _rmask(recurrent_mask), activation)


def layernorm_forward(x, gamma, beta, eps: float):
    y, mu, rs = _C.layernorm_forward(_c2(x), *_rnn_args(gamma, beta), eps)
    return y.reshape(x.shape), mu, rs


def layernorm_backward(dy, x, gamma, mu, rs):
    dx, dg, db = _C.layernorm_backward(_c2(dy.astype(x.dtype, copy=False)), _c2(x), np.ascontiguousarray(gamma), mu, rs)
    return dx.reshape(x.shape), dg, db


# (end softmax / attention / rnn / layernorm)
