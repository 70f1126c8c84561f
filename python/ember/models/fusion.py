"""Layer fusion inside a model: a ``Conv2D`` whose output only a ``MaxPooling2D`` reads runs
with it as one op (:func:`ember.ops.conv_pool.conv2d_max_pool2d`), so the full-size conv
output is never written. Only the model's execution changes: the two layer objects, their
weights, ``summary()``, ``get_config`` and saving are the same, and the values and gradients
equal the layers run one by one (within float rounding). Anything the fused op does not
cover (another activation, channels_first, an activity regularizer, a mask, a subclass with
its own ``call``, an input the layers would reject) runs the layers as before.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from ..layers.conv import Conv2D
from ..layers.pooling import MaxPooling2D
from ..ops.conv import padding_amounts
from ..ops.conv_pool import OP, conv2d_max_pool2d
from ..tensor import Tensor

# Tests switch this off to get the layer-by-layer results to compare with.
ENABLED = True


def _linear(conv: Conv2D) -> bool:
    name = conv.activation_name
    return conv.activation is None or (isinstance(name, str) and name.lower() == "linear")


def fusable(conv, pool) -> bool:
    """Whether the layer pair (conv, pool) may run as one op (on the layers alone; the input is
    checked by :func:`run_pair`)."""
    return (ENABLED and type(conv) is Conv2D and type(pool) is MaxPooling2D and conv.built
            and conv.data_format == "channels_last" and pool.data_format == "channels_last"
            and (conv._fused or _linear(conv))
            and getattr(conv, "activity_regularizer", None) is None
            and getattr(pool, "activity_regularizer", None) is None)


def run_pair(conv: Conv2D, pool: MaxPooling2D, x) -> Optional[Tensor]:
    """The output of ``pool(conv(x))`` through the fused op, or None when ``x`` needs the
    layers' own path (not a 4-D Tensor of the channels conv was built for, a mask, a conv or
    pool output that would be empty: the layers then raise their usual errors)."""
    if not isinstance(x, Tensor) or x.ndim != 4 or getattr(x, "_mask", None) is not None:
        return None
    if x.shape[3] != conv.kernel.shape[2] * conv.groups:
        return None
    _, oh, ow, _ = conv.compute_output_shape(x.shape)
    if oh is None or ow is None or oh < 1 or ow < 1:
        return None
    ppads = padding_amounts(pool.padding, (oh, ow), pool.pool_size, pool.strides)
    if pool.pool_size[0] > oh + ppads[0] + ppads[1] or pool.pool_size[1] > ow + ppads[2] + ppads[3]:
        return None
    return conv2d_max_pool2d(x, conv.kernel, conv.bias, conv.strides, conv.padding, conv.dilation_rate, conv.groups,
                             "relu" if conv._fused else None, pool.pool_size, pool.strides, pool.padding,
                             name=f"{OP}: {type(conv).__name__} layer '{conv.name}' + "
                                  f"{type(pool).__name__} layer '{pool.name}'")


def try_pair(conv, pool, x) -> Optional[Tensor]:
    """A functional graph's conv + pool nodes on x: the fused output, or None (then the graph
    runs the two nodes)."""
    return run_pair(conv, pool, x) if fusable(conv, pool) else None


def run_sequence(layers: List, x, training: bool):
    """Sequential's forward: each layer in turn, fusable pairs as one op."""
    i, n = 0, len(layers)
    while i < n:
        layer = layers[i]
        if i + 1 < n and fusable(layer, layers[i + 1]):
            y = run_pair(layer, layers[i + 1], x)
            if y is not None:
                x, i = y, i + 2
                continue
        x = layer(x, training=training)
        i += 1
    return x


def _plain(node) -> bool:
    """A node called on one symbolic tensor with no other argument (mask and training unset)."""
    from ..symbolic import SymbolicTensor
    kw = {k: v for k, v in node.kwargs.items() if v is not None}
    return isinstance(node.inputs, SymbolicTensor) and not node.args and not kw \
        and isinstance(node.outputs, SymbolicTensor)


def graph_pairs(nodes: List, outputs) -> Dict[int, int]:
    """{index of a conv node: index of its pool node} for the functional graph ``nodes``: the
    pool node's only input is the conv node's output, which nothing else reads and which is
    not a model output."""
    from ..symbolic import flatten
    readers: Dict[int, int] = {}
    for node in nodes:
        for t in node.parents:
            readers[id(t)] = readers.get(id(t), 0) + 1
    for t in flatten(outputs):
        readers[id(t)] = readers.get(id(t), 0) + 1
    by_input = {id(n.inputs): i for i, n in enumerate(nodes) if _plain(n)}
    pairs = {}
    for i, node in enumerate(nodes):
        if not (_plain(node) and type(node.layer) is Conv2D and readers.get(id(node.outputs)) == 1):
            continue
        j = by_input.get(id(node.outputs))
        if j is not None and type(nodes[j].layer) is MaxPooling2D:
            pairs[i] = j
    return pairs
