"""One ember layer as ONNX operators (inference semantics), for ``export.onnx``.

Each converter takes the graph, the layer, the ONNX names of its call arguments (``args[0]``
the inputs) and its keyword arguments, and returns the name(s) of its output(s). Layouts
ONNX defines differently are converted here: convolutions and pooling run channels-first
in ONNX (inputs are transposed around them), kernels become (out, in, *spatial), and the
recurrent weights are transposed and their gates reordered (ember/Keras LSTM i, f, c, o ->
ONNX i, o, f, c; GRU z, r, h is the same in both, reset_after = linear_before_reset)."""
from __future__ import annotations

import numpy as np

_IDENTITY = {"Dropout", "GaussianNoise", "GaussianDropout", "SpatialDropout1D", "SpatialDropout2D",
             "SpatialDropout3D", "Identity", "InputLayer"}


def _unsupported(layer, what: str) -> NotImplementedError:
    return NotImplementedError(f"ONNX export: layer '{layer.name}' ({type(layer).__name__}): {what} has no ONNX "
                               "converter")


def activation(g, x: str, name, layer) -> str:
    """``x`` through the Keras activation ``name`` ("linear" / None: unchanged)."""
    name = "linear" if name is None else name
    if not isinstance(name, str):
        raise _unsupported(layer, f"the activation {name!r} (a callable)")
    name = name.lower()
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "selu": "Selu", "softplus": "Softplus",
              "softsign": "Softsign"}
    if name == "linear":
        return x
    if name in simple:
        return g.op(simple[name], [x])
    if name == "softmax":
        return g.op("Softmax", [x], axis=-1)
    if name == "log_softmax":
        return g.op("LogSoftmax", [x], axis=-1)
    if name == "elu":
        return g.op("Elu", [x], alpha=1.0)
    if name == "leaky_relu":
        return g.op("LeakyRelu", [x], alpha=0.2)
    if name in ("silu", "swish"):
        return g.op("Mul", [x, g.op("Sigmoid", [x])])
    if name == "gelu":  # exact: x * (1 + erf(x / sqrt(2))) / 2
        e = g.op("Erf", [g.op("Mul", [x, g.const(1 / np.sqrt(2.0))])])
        return g.op("Mul", [g.op("Mul", [x, g.const(0.5)]), g.op("Add", [e, g.const(1.0)])])
    raise _unsupported(layer, f"the activation {name!r}")


def _w(t) -> np.ndarray:
    return np.asarray(t.numpy())


def _channels_first(g, x: str, rank: int) -> str:
    return g.op("Transpose", [x], perm=[0, rank + 1] + list(range(1, rank + 1)))


def _channels_last(g, x: str, rank: int) -> str:
    return g.op("Transpose", [x], perm=[0] + list(range(2, rank + 2)) + [1])


def _padding(layer, rank: int) -> dict:
    if layer.padding == "valid":
        return {"pads": [0] * (2 * rank)}
    if layer.padding == "same":
        return {"auto_pad": "SAME_UPPER"}  # Keras / TF "same": the odd pixel goes at the end
    if layer.padding == "causal":
        left = (layer.kernel_size[0] - 1) * layer.dilation_rate[0]
        return {"pads": [left, 0]}
    raise _unsupported(layer, f"padding={layer.padding!r}")


def _spatial(g, layer, x: str, rank: int, make) -> str:
    """Run ``make(x_channels_first)`` in ONNX's channels-first layout."""
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return make(x)
    return _channels_last(g, make(_channels_first(g, x, rank)), rank)


def conv(g, layer, args, kwargs):
    rank = 2 if type(layer).__name__ == "Conv2D" else 1
    k = _w(layer.kernel)  # (*spatial, in / groups, out)
    w = g.const(np.transpose(k, (rank + 1, rank) + tuple(range(rank))), "kernel")
    ins = [w] + ([g.const(_w(layer.bias), "bias")] if layer.bias is not None else [])

    def make(x):
        return g.op("Conv", [x] + ins, kernel_shape=list(k.shape[:rank]), strides=list(layer.strides),
                    dilations=list(layer.dilation_rate), group=layer.groups, **_padding(layer, rank))
    if layer.activation is not None and layer.activation_name is None:
        raise _unsupported(layer, f"the activation {layer.activation!r} (a callable)")
    y = _spatial(g, layer, args[0], rank, make)
    return activation(g, y, layer.activation_name, layer)


def pool(g, layer, args, kwargs):
    cls = type(layer).__name__
    rank = 2 if cls.endswith("2D") else 1
    op = "MaxPool" if cls.startswith("Max") else "AveragePool"
    sizes = [int(v) for v in np.atleast_1d(layer.pool_size)]
    strides = [int(v) for v in np.atleast_1d(layer.strides)]
    attrs = dict(kernel_shape=sizes, strides=strides, **_padding(layer, rank))
    if op == "AveragePool":
        attrs["count_include_pad"] = 0  # Keras averages over the real pixels only
    return _spatial(g, layer, args[0], rank, lambda x: g.op(op, [x], **attrs))


def global_pool(g, layer, args, kwargs, shape):
    cls = type(layer).__name__
    rank = 2 if cls.endswith("2D") else 1
    cl = layer.data_format == "channels_last"
    axes = list(range(1, rank + 1)) if cl else list(range(2, rank + 2))
    op = "ReduceMean" if "Average" in cls else "ReduceMax"
    return g.op(op, [args[0]], axes=axes, keepdims=int(layer.keepdims))


def dense(g, layer, args, kwargs):
    y = g.op("MatMul", [args[0], g.const(_w(layer.kernel), "kernel")])
    if layer.bias is not None:
        y = g.op("Add", [y, g.const(_w(layer.bias), "bias")])
    return activation(g, y, layer.activation, layer)


def batch_norm(g, layer, args, kwargs, shape):
    mean, var = _w(layer.moving_mean).astype(np.float64), _w(layer.moving_variance).astype(np.float64)
    gamma = _w(layer.gamma).astype(np.float64) if layer.gamma is not None else 1.0
    beta = _w(layer.beta).astype(np.float64) if layer.beta is not None else 0.0
    inv = 1.0 / np.sqrt(var + layer.epsilon)
    nd = len(shape)
    ax = layer.axis % nd
    bshape = [1] * (nd - 1)
    bshape[ax - 1] = mean.shape[0]
    # y = (x - mean) * inv * gamma + beta, in the same order of operations as the kernel
    y = g.op("Sub", [args[0], g.const(mean.reshape(bshape))])
    y = g.op("Mul", [y, g.const((inv * gamma).reshape(bshape))])
    return g.op("Add", [y, g.const(np.broadcast_to(beta, mean.shape).reshape(bshape))])


def layer_norm(g, layer, args, kwargs, shape):
    axes = layer._axes
    if tuple(axes) != (len(shape) - 1,):
        raise _unsupported(layer, f"axis={layer.axis} (only the last axis exports)")
    d = shape[-1]
    gamma = _w(layer.gamma) if layer.gamma is not None else np.ones(d)
    beta = _w(layer.beta) if layer.beta is not None else np.zeros(d)
    return g.op("LayerNormalization", [args[0], g.const(gamma, "gamma"), g.const(beta, "beta")], axis=-1,
                epsilon=float(layer.epsilon))


def embedding(g, layer, args, kwargs):
    if layer.mask_zero:
        raise _unsupported(layer, "mask_zero=True (masks do not export)")
    return g.op("Gather", [g.const(_w(layer.embeddings), "embeddings"), args[0]], axis=0)


def merge(g, layer, args, kwargs):
    cls, xs = type(layer).__name__, list(args[0])
    if cls == "Concatenate":
        return g.op("Concat", xs, axis=layer.axis)
    if cls == "Subtract":
        return g.op("Sub", xs)
    op = {"Add": "Add", "Multiply": "Mul", "Maximum": "Max", "Average": "Add"}[cls]
    y = xs[0]
    for x in xs[1:]:
        y = g.op("Max" if op == "Max" else op, [y, x])
    return g.op("Mul", [y, g.const(1.0 / len(xs))]) if cls == "Average" else y


def relu_layer(g, layer, args, kwargs):
    if layer.threshold != 0.0:
        raise _unsupported(layer, f"threshold={layer.threshold}")
    x = args[0]
    y = g.op("LeakyRelu", [x], alpha=layer.negative_slope) if layer.negative_slope else g.op("Relu", [x])
    if layer.max_value is not None:
        y = g.op("Min", [y, g.const(float(layer.max_value))])
    return y


def reshape(g, layer, args, kwargs, shape):
    return g.op("Reshape", [args[0], g.ints([-1] + [int(s) for s in shape[1:]])])


def repeat_vector(g, layer, args, kwargs, shape):
    x = g.op("Unsqueeze", [args[0], g.ints([1])])
    return g.op("Tile", [x, g.ints([1, layer.n, 1])])


def convert(g, layer, args, kwargs, shape):
    """The ONNX output name(s) of ``layer`` called on ``args`` / ``kwargs`` (names)."""
    from . import onnx_recurrent
    cls = type(layer).__name__
    if kwargs.get("mask") is not None:
        raise _unsupported(layer, "an explicit mask argument")
    table = {"Dense": dense, "Conv1D": conv, "Conv2D": conv, "Embedding": embedding,
             "Add": merge, "Subtract": merge, "Multiply": merge, "Average": merge, "Maximum": merge,
             "Concatenate": merge, "ReLU": relu_layer,
             "MaxPooling1D": pool, "MaxPooling2D": pool, "AveragePooling1D": pool, "AveragePooling2D": pool,
             "LSTM": onnx_recurrent.lstm, "GRU": onnx_recurrent.gru, "SimpleRNN": onnx_recurrent.simple_rnn,
             "MultiHeadAttention": onnx_recurrent.multi_head_attention, "Bidirectional": onnx_recurrent.bidirectional}
    with_shape = {"BatchNormalization": batch_norm, "LayerNormalization": layer_norm, "Reshape": reshape,
                  "RepeatVector": repeat_vector, "GlobalAveragePooling1D": global_pool,
                  "GlobalAveragePooling2D": global_pool, "GlobalMaxPooling1D": global_pool,
                  "GlobalMaxPooling2D": global_pool}
    x = args[0]
    if cls in _IDENTITY:
        return g.op("Identity", [x])
    if cls in table:
        return table[cls](g, layer, args, kwargs)
    if cls in with_shape:
        return with_shape[cls](g, layer, args, kwargs, shape)  # the output shape (= the input's where it matters)
    if cls == "Activation":
        return activation(g, x, layer.activation, layer)
    if cls == "Softmax":
        return g.op("Softmax", [x], axis=layer.axis)
    if cls == "LeakyReLU":
        return g.op("LeakyRelu", [x], alpha=layer.negative_slope)
    if cls == "ELU":
        return g.op("Elu", [x], alpha=layer.alpha)
    if cls == "Flatten":
        return g.op("Flatten", [x], axis=1)
    if cls == "Permute":
        return g.op("Transpose", [x], perm=[0] + list(layer.dims))
    raise _unsupported(layer, "this layer")
