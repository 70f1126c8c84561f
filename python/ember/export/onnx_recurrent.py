"""Recurrent layers and MultiHeadAttention as ONNX operators (see ``onnx_layers``).

ONNX's LSTM / GRU / RNN run time-major (T, B, features) with weights (gates * H, in):
inputs are transposed around them, kernels transposed, and LSTM gates reordered from
ember's (Keras') i, f, c, o to ONNX's i, o, f, c. ember's GRU is Keras' reset_after=True:
ONNX ``linear_before_reset=1`` with input and recurrent biases bias[0] / bias[1]."""
from __future__ import annotations

import numpy as np

from .onnx_layers import _unsupported, _w

_ACT = {"sigmoid": ("Sigmoid", None), "tanh": ("Tanh", None), "relu": ("Relu", None),
        "hard_sigmoid": ("HardSigmoid", (1 / 6, 0.5)),  # Keras 3: relu6(x + 3) / 6
        "linear": ("Affine", (1.0, 0.0))}


def _activations(layer, names) -> dict:
    acts, alpha, beta = [], [], []
    for n in names:
        n = "linear" if n is None else n
        if n not in _ACT:
            raise _unsupported(layer, f"the activation {n!r} inside the recurrence")
        op, ab = _ACT[n]
        acts.append(op)
        if ab is not None:
            alpha.append(ab[0])
            beta.append(ab[1])
    attrs = {"activations": acts}
    if alpha:
        attrs.update(activation_alpha=alpha, activation_beta=beta)
    return attrs


def _check(layer) -> None:
    if getattr(layer, "stateful", False):
        raise _unsupported(layer, "stateful=True")


def _run(g, layer, op, x, W, R, B, gates_attrs, n_states):
    """Run the ONNX recurrence on batch-major ``x``; returns the layer's output(s)."""
    _check(layer)
    xt = g.op("Transpose", [x], perm=[1, 0, 2])
    direction = "reverse" if layer.go_backwards else "forward"
    outs = g.op(op, [xt, g.const(W, "W"), g.const(R, "R"), g.const(B, "B")], outputs=1 + n_states,
                hidden_size=layer.units, direction=direction, **gates_attrs)
    y, states = outs[0], outs[1:]
    finals = [g.op("Squeeze", [s, g.ints([0])]) for s in states]
    if layer.return_sequences:
        seq = g.op("Squeeze", [y, g.ints([1])])  # (T, B, H)
        if layer.go_backwards:  # Keras returns the steps in processing order
            seq = g.op("Slice", [seq, g.ints([-1]), g.ints([-(2 ** 62)]), g.ints([0]), g.ints([-1])])
        out = g.op("Transpose", [seq], perm=[1, 0, 2])
    else:
        out = finals[0]
    return [out] + finals if layer.return_state else out


def lstm(g, layer, args, kwargs):
    if kwargs.get("initial_state") is not None:
        raise _unsupported(layer, "initial_state")
    H = layer.units
    perm = np.concatenate([np.arange(H) + k * H for k in (0, 3, 1, 2)])  # i, f, c, o -> i, o, f, c
    W = _w(layer.kernel)[:, perm].T[None]
    R = _w(layer.recurrent_kernel)[:, perm].T[None]
    B = np.concatenate([_w(layer.bias)[perm], np.zeros(4 * H, _w(layer.bias).dtype)])[None]
    acts = _activations(layer, [layer.recurrent_activation, layer.activation, layer.activation])
    return _run(g, layer, "LSTM", args[0], W, R, B, acts, 2)


def gru(g, layer, args, kwargs):
    if kwargs.get("initial_state") is not None:
        raise _unsupported(layer, "initial_state")
    b = _w(layer.bias)
    acts = _activations(layer, [layer.recurrent_activation, layer.activation])
    return _run(g, layer, "GRU", args[0], _w(layer.kernel).T[None], _w(layer.recurrent_kernel).T[None],
                np.concatenate([b[0], b[1]])[None], dict(acts, linear_before_reset=1), 1)


def simple_rnn(g, layer, args, kwargs):
    if kwargs.get("initial_state") is not None:
        raise _unsupported(layer, "initial_state")
    b = _w(layer.bias)
    return _run(g, layer, "RNN", args[0], _w(layer.kernel).T[None], _w(layer.recurrent_kernel).T[None],
                np.concatenate([b, np.zeros_like(b)])[None], _activations(layer, [layer.activation]), 1)


def _heads(g, x, kernel, bias, perm):
    d, H, k = kernel.shape
    y = g.op("MatMul", [x, g.const(_w(kernel).reshape(d, H * k), "kernel")])
    if bias is not None:
        y = g.op("Add", [y, g.const(_w(bias).reshape(H * k), "bias")])
    return g.op("Transpose", [g.op("Reshape", [y, g.ints([0, 0, H, k])])], perm=perm)


def multi_head_attention(g, layer, args, kwargs):
    """softmax(q k^T / sqrt(key_dim)) v per head, then the output projection; the causal
    mask keeps value positions j <= i + (Tv - Tq) (Keras' bottom-right alignment)."""
    if kwargs.get("attention_mask") is not None:
        raise _unsupported(layer, "attention_mask")
    query, value = args[0], args[1] if len(args) > 1 else kwargs.get("value")
    key = kwargs.get("key") or value
    bias = (lambda n: getattr(layer, f"{n}_bias")) if layer.use_bias else (lambda n: None)
    q = _heads(g, query, layer.query_kernel, bias("query"), [0, 2, 1, 3])   # (B, H, Tq, K)
    k = _heads(g, key, layer.key_kernel, bias("key"), [0, 2, 3, 1])         # (B, H, K, Tv)
    v = _heads(g, value, layer.value_kernel, bias("value"), [0, 2, 1, 3])   # (B, H, Tv, V)
    s = g.op("Mul", [g.op("MatMul", [q, k]), g.const(1.0 / np.sqrt(layer.key_dim))])
    if kwargs.get("use_causal_mask"):
        shape = g.op("Shape", [s])
        tq_tv = g.op("Slice", [shape, g.ints([2]), g.ints([4])])
        ones = g.op("ConstantOfShape", [tq_tv], value=g.helper.make_tensor("one", 7, [1], [1]))  # int64
        tq = g.op("Slice", [shape, g.ints([2]), g.ints([3])])
        tv = g.op("Slice", [shape, g.ints([3]), g.ints([4])])
        diag = g.op("Squeeze", [g.op("Sub", [tv, tq]), g.ints([0])])
        keep = g.op("Trilu", [ones, diag], upper=0)
        s = g.op("Where", [g.op("Cast", [keep], to=9), s, g.const(np.array(-np.inf))])
    p = g.op("Softmax", [s], axis=-1)
    o = g.op("Transpose", [g.op("MatMul", [p, v])], perm=[0, 2, 1, 3])
    H, V = layer.num_heads, layer.value_dim
    o = g.op("Reshape", [o, g.ints([0, 0, H * V])])
    out = g.op("MatMul", [o, g.const(_w(layer.output_kernel).reshape(H * V, -1), "kernel")])
    if layer.use_bias:
        out = g.op("Add", [out, g.const(_w(layer.output_bias), "bias")])
    return [out, p] if kwargs.get("return_attention_scores") else out


def bidirectional(g, layer, args, kwargs):
    """Both directions (each its own converter), the backward sequence flipped back to
    input order, then merged as ``merge_mode`` says."""
    from .onnx_layers import convert
    if layer.return_state:
        raise _unsupported(layer, "return_state=True")
    f = convert(g, layer.forward_layer, args, kwargs, None)
    b = convert(g, layer.backward_layer, args, kwargs, None)
    if layer.return_sequences:
        b = g.op("Slice", [b, g.ints([-1]), g.ints([-(2 ** 62)]), g.ints([1]), g.ints([-1])])
    mode = layer.merge_mode
    if mode == "concat":
        return g.op("Concat", [f, b], axis=-1)
    if mode == "sum":
        return g.op("Add", [f, b])
    if mode == "mul":
        return g.op("Mul", [f, b])
    if mode == "ave":
        return g.op("Mul", [g.op("Add", [f, b]), g.const(0.5)])
    return [f, b]
