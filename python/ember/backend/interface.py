"""The kernel interface every backend implements, function for function.

``backend.cpu`` (NumPy arrays + ember._C) and ``backend.cuda`` (CuPy arrays + .cu kernels)
both provide each function below with the same parameter names, shapes and return
conventions; ``tests/test_backend_interface.py`` fails when either lacks one, or exports a
public kernel function that is not declared here. Ops reach a backend only through
``backend.ops(array)``, so this Protocol is the whole contract between ``ember.ops`` and a
device.

Conventions for every function:
- Arrays are the backend's own type (numpy.ndarray / cupy.ndarray), float32 or float64,
  all of one dtype unless stated (index arrays: int32 argmax, int64 sparse labels, bool
  masks). Inputs may be non-contiguous views; the backend makes what it needs contiguous.
- Results are fresh arrays the caller owns (unless ``out`` is given), of the inputs' dtype.
- "None where not needed" results are ``None``, not empty arrays.
- Images are NHWC; sequences are (B, T, features); attention is (B, H, T, D) ("bhtd") or
  (B, T, H, D) ("bthd").
"""
from __future__ import annotations

from typing import Optional, Protocol, Tuple, runtime_checkable

Array = object  # numpy.ndarray or cupy.ndarray (of the backend's device)


@runtime_checkable
class KernelBackend(Protocol):
    """The kernels of one device. See the module doc for shared conventions."""

    # -- gemm -------------------------------------------------------------------------
    def gemm(self, a: Array, b: Array, trans_a: bool = False, trans_b: bool = False,
             out: Optional[Array] = None) -> Array:
        """op(a) @ op(b) for 2-D a, b (op = transpose when trans_*); (M, N) result,
        written into ``out`` (M, N) when given. Transposed views cost no copy."""

    def matmul(self, a: Array, b: Array) -> Array:
        """``numpy.matmul`` semantics for arrays of >= 2 dimensions (batch dimensions
        broadcast): (..., M, K) @ (..., K, N) -> (..., M, N)."""

    # -- elementwise: fused bias + activation, optimizer updates ---------------------
    def bias_act_forward(self, x: Array, b: Optional[Array], act: str, alpha: float = 0.0,
                         out: Optional[Array] = None) -> Array:
        """y = act(x + b) for x (rows, cols), b (cols,) or None; act one of "linear",
        "relu", "sigmoid", "tanh", "gelu" (exact), "leaky_relu" (slope ``alpha``).
        ``out`` may be ``x`` itself (in place). Returns y (rows, cols)."""

    def bias_act_backward(self, dy: Array, y: Optional[Array], x: Optional[Array], b: Optional[Array], act: str,
                          alpha: float = 0.0, need_db: bool = True) -> Tuple[Array, Optional[Array]]:
        """(dx (rows, cols), db (cols,) or None): dx = dy * act'(x + b), db = column sums
        of dx in a fixed order. ``y`` is the forward output (None for gelu), ``x`` the
        pre-bias input (needed for gelu only). ``dy`` may be a broadcast view."""

    def sgd_update(self, p: Array, g: Array, m: Optional[Array], lr: float, momentum: float, nesterov: bool,
                   weight_decay: float) -> None:
        """In place, Keras SGD: p (any shape), g (p's size; cast to p's dtype), m the
        momentum buffer of p's shape or None when momentum is 0."""

    def adam_update(self, p: Array, g: Array, m: Array, v: Array, vhat: Optional[Array], lr: float, lr_t: float,
                    beta_1: float, beta_2: float, epsilon: float, weight_decay: float) -> None:
        """In place, Keras Adam / AdamW: m, v (and vhat for amsgrad, else None) of p's
        shape; ``lr_t`` the bias-corrected step size; ``weight_decay`` decoupled (AdamW)."""

    def rmsprop_update(self, p: Array, g: Array, v: Array, mom: Optional[Array], avg: Optional[Array], lr: float,
                       rho: float, momentum: float, epsilon: float, weight_decay: float) -> None:
        """In place, Keras RMSprop: v the squared-gradient average, ``mom`` (momentum > 0)
        and ``avg`` (centered) of p's shape or None."""

    # -- conv / pool / batch norm -----------------------------------------------------
    def conv2d(self, x: Array, w: Array, b: Optional[Array], strides, pads, dilation, groups: int,
               act: int = 0) -> Array:
        """NHWC conv2d: x (N, H, W, C), w (KH, KW, C/groups, OC), b (OC,) or None;
        strides/dilation (sh, sw), pads (top, bottom, left, right); act 1 fuses a ReLU.
        Returns y (N, OH, OW, OC)."""

    def conv2d_backward(self, x: Array, w: Array, dy: Array, y: Optional[Array], strides, pads, dilation,
                        groups: int, act: int, need_dx: bool, need_dw: bool,
                        need_db: bool) -> Tuple[Optional[Array], Optional[Array], Optional[Array]]:
        """(dx like x, dw like w, db (OC,)) of :meth:`conv2d`, None where not needed;
        ``y`` is the forward output when act is 1 (its ReLU mask), else None."""

    def conv2d_max_pool2d(self, x: Array, w: Array, b: Optional[Array], strides, pads, dilation, groups: int,
                          act: int, pool, pool_strides, pool_pads) -> Tuple[Array, Array]:
        """:meth:`conv2d` then :meth:`max_pool2d` of its output as one op: (y (N, PH, PW, OC),
        idx int32 of y's shape, the conv-output cell oh * OW + ow of each maximum; with act 1,
        -1 where y is a ReLU zero). The conv output is not returned (the CPU never stores it)."""

    def conv2d_max_pool2d_backward(self, x: Array, w: Array, dy: Array, idx: Array, strides, pads, dilation,
                                   groups: int, pool, pool_strides, pool_pads, need_dx: bool, need_dw: bool,
                                   need_db: bool) -> Tuple[Optional[Array], Optional[Array], Optional[Array]]:
        """(dx, dw, db) of :meth:`conv2d_max_pool2d` from dy (N, PH, PW, OC) and its idx (which
        carries the ReLU mask), None where not needed."""

    def max_pool2d(self, x: Array, pool, strides, pads) -> Tuple[Array, Array]:
        """NHWC max pooling, x (N, H, W, C), pads (top, bottom, left, right) never chosen:
        (y (N, OH, OW, C), argmax int32 of y's shape, the input index ih * W + iw)."""

    def max_pool2d_backward(self, dy: Array, idx: Array, x_shape, pool, strides, pads) -> Array:
        """dx of shape ``x_shape`` from dy (N, OH, OW, C) and the forward's argmax."""

    def avg_pool2d(self, x: Array, pool, strides, pads, count_pad: bool = False) -> Array:
        """NHWC average pooling; padded cells count in the divisor only if ``count_pad``."""

    def avg_pool2d_backward(self, dy: Array, x_shape, pool, strides, pads, count_pad: bool = False) -> Array:
        """dx of shape ``x_shape`` of :meth:`avg_pool2d`."""

    def batch_norm_train(self, x2: Array, gamma: Array, beta: Array, running_mean: Array, running_var: Array,
                         eps: float, momentum: float) -> Tuple[Array, Array, Array]:
        """Training-mode batch norm over rows of x2 (M, C); gamma, beta, running stats (C,).
        Returns (y (M, C), mean (C,), invstd (C,)); running stats updated in place.
       ."""

    def batch_norm_infer(self, x2: Array, gamma: Array, beta: Array, running_mean: Array, running_var: Array,
                         eps: float) -> Array:
        """Inference batch norm with the running statistics: y (M, C)."""

    def batch_norm_backward(self, dy2: Array, x2: Array, gamma: Array, mean: Array, invstd: Array,
                            need_dx: bool = True) -> Tuple[Optional[Array], Array, Array]:
        """(dx (M, C) or None, dgamma (C,), dbeta (C,)) of the training-mode batch norm."""

    # -- softmax / cross-entropy ------------------------------------------------------
    def softmax_lastaxis(self, x: Array, log: bool = False) -> Array:
        """softmax (or log-softmax) over the last axis of x (any rank); x's shape."""

    def softmax_lastaxis_backward(self, y: Array, dy: Array, log: bool = False) -> Array:
        """dx from the forward output y and dy (cast to y's dtype); y's shape."""

    def xent_forward(self, logits: Array, labels: Array, sparse: bool) -> Tuple[Array, Array]:
        """Fused softmax cross-entropy over the last axis of logits (..., K). ``labels``:
        integer class ids of shape (...) when ``sparse`` (any int dtype), else
        probabilities (..., K). Returns (loss (...), lse (rows,) log-sum-exp per row)."""

    def xent_backward(self, dloss: Array, logits: Array, labels: Array, lse: Array, sparse: bool) -> Array:
        """d logits (..., K); ``dloss`` broadcastable to logits.shape[:-1]."""

    # -- attention --------------------------------------------------------------------
    def attention_forward(self, q: Array, k: Array, v: Array, mask: Optional[Array], causal: bool, scale: float,
                          layout: str = "bhtd") -> Tuple[Array, Array]:
        """softmax(q k^T * scale, masked) v, tiled with an online softmax. q (B, H, Tq, D),
        k (B, H, Tk, D), v (B, H, Tk, Dv) (layout "bthd": (B, T, H, D)); ``mask`` bool,
        broadcastable to (B, H, Tq, Tk), True = attend, or None. Returns (out of q's
        layout with Dv, lse (B, H, Tq))."""

    def attention_backward(self, g: Array, q: Array, k: Array, v: Array, out: Array, lse: Array,
                           mask: Optional[Array], causal: bool, scale: float,
                           layout: str = "bhtd") -> Tuple[Array, Array, Array]:
        """(dq, dk, dv) of :meth:`attention_forward` from g (out's shape) and its saved out, lse."""

    # -- recurrent --------------------------------------------------------------------
    def lstm_forward(self, x: Array, W: Array, R: Array, b: Array, h0: Array, c0: Array,
                     mask: Optional[Array] = None, recurrent_mask: Optional[Array] = None, activation: str = "tanh",
                     recurrent_activation: str = "sigmoid") -> Tuple[Array, Array, Array]:
        """Keras-layout LSTM: x (B, T, I), W (I, 4U), R (U, 4U), b (4U,), h0, c0 (B, U);
        gates i, f, c, o. ``mask`` bool (B, T) (False: the step is skipped, states carry),
        ``recurrent_mask`` (B, U) of x's dtype multiplies h_prev entering R. Returns
        (y (B, T, U), cell states (B, T, U), activated gates (B, T, 4U))."""

    def lstm_backward(self, dy: Array, dh: Array, dc: Array, x: Array, W: Array, R: Array, h0: Array, c0: Array,
                      y: Array, cs: Array, gates: Array, mask: Optional[Array] = None,
                      recurrent_mask: Optional[Array] = None, activation: str = "tanh",
                      recurrent_activation: str = "sigmoid") -> Tuple[Array, ...]:
        """BPTT from dy (B, T, U) and the final-state gradients dh, dc (B, U): returns
        (dx, dW, dR, db, dh0, dc0)."""

    def gru_forward(self, x: Array, W: Array, R: Array, b: Array, h0: Array, mask: Optional[Array] = None,
                    recurrent_mask: Optional[Array] = None, activation: str = "tanh",
                    recurrent_activation: str = "sigmoid") -> Tuple[Array, Array, Array]:
        """Keras GRU (reset_after=True): W (I, 3U), R (U, 3U), b (2, 3U) = [input; recurrent];
        gates z, r, h. Returns (y (B, T, U), activated gates (B, T, 3U), hrec (B, T, U) =
        h_prev R_h + b_rh)."""

    def gru_backward(self, dy: Array, dh: Array, x: Array, W: Array, R: Array, h0: Array, y: Array, gates: Array,
                     hrec: Array, mask: Optional[Array] = None, recurrent_mask: Optional[Array] = None,
                     activation: str = "tanh", recurrent_activation: str = "sigmoid") -> Tuple[Array, ...]:
        """BPTT: (dx, dW, dR, db, dh0)."""

    def simple_rnn_forward(self, x: Array, W: Array, R: Array, b: Array, h0: Array, mask: Optional[Array] = None,
                           activation: str = "tanh", recurrent_mask: Optional[Array] = None) -> Array:
        """h_t = act(x_t W + (h_{t-1} * recurrent_mask) R + b): y (B, T, U)."""

    def simple_rnn_backward(self, dy: Array, dh: Array, x: Array, W: Array, R: Array, h0: Array, y: Array,
                            mask: Optional[Array] = None, activation: str = "tanh",
                            recurrent_mask: Optional[Array] = None) -> Tuple[Array, ...]:
        """BPTT: (dx, dW, dR, db, dh0)."""

    # -- layer norm -------------------------------------------------------------------
    def layernorm_forward(self, x: Array, gamma: Array, beta: Array, eps: float) -> Tuple[Array, Array, Array]:
        """Layer norm over the last axis: x (..., C), gamma/beta (C,). Returns (y of x's
        shape, mean (rows,), rstd (rows,))."""

    def layernorm_backward(self, dy: Array, x: Array, gamma: Array, mu: Array,
                           rs: Array) -> Tuple[Array, Array, Array]:
        """(dx of x's shape, dgamma (C,), dbeta (C,)); dy is cast to x's dtype."""


#: the names every backend must define (in declaration order)
KERNEL_FUNCTIONS = tuple(n for n in KernelBackend.__dict__ if not n.startswith("_") and callable(KernelBackend.__dict__[n]))
