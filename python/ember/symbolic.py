"""Symbolic tensors for the functional model API (``ember.Input`` / ``ember.Model``).

``ember.Input(shape=(784,))`` returns a :class:`SymbolicTensor` (batch dimension None).
Calling a layer on symbolic tensors (``Layer.__call__`` routes here) records a
:class:`Node` and returns symbolic outputs whose shapes come from running the layer on
small zero batches under ``no_grad`` (twice, with different sizes for the unknown
dimensions, so dimensions that follow an unknown one stay None). ``ember.Model(inputs,
outputs)`` replays the recorded nodes in topological order.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np


class SymbolicTensor:
    """A placeholder for a tensor in a functional model graph: a shape (None for unknown
    dimensions, always the batch), a dtype, and the node that produces it."""

    def __init__(self, shape, dtype="float32", node: Optional["Node"] = None, index: int = 0,
                 layer=None, name: Optional[str] = None):
        self.shape = tuple(None if s is None else int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.node = node          # the Node that produced it (None for a model input)
        self.index = index        # position among the node's outputs
        self.layer = layer        # the InputLayer for a model input
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype.name}" + (f" name={self.name!r}>" if self.name else ">")

    def __len__(self):
        raise TypeError("len() of a symbolic tensor: its batch size is not known until the model runs")


class Node:
    """One call of a layer in a functional graph."""

    def __init__(self, layer, inputs, args: tuple, kwargs: dict, outputs):
        self.layer = layer
        self.inputs, self.args, self.kwargs = inputs, args, kwargs
        self.outputs = outputs
        self.parents: List[SymbolicTensor] = flatten((inputs, args, kwargs))

    def __repr__(self) -> str:
        return f"<Node {self.layer.name}>"


def flatten(structure) -> List[SymbolicTensor]:
    """The symbolic tensors in a nested list / tuple / dict structure, in order."""
    out: List[SymbolicTensor] = []

    def walk(s):
        if isinstance(s, SymbolicTensor):
            out.append(s)
        elif isinstance(s, (list, tuple)):
            for v in s:
                walk(v)
        elif isinstance(s, dict):
            for v in s.values():
                walk(v)
    walk(structure)
    return out


def map_structure(fn: Callable, structure, leaf=SymbolicTensor):
    """``structure`` with every ``leaf`` instance replaced by ``fn(leaf)``."""
    if isinstance(structure, leaf):
        return fn(structure)
    if isinstance(structure, list):
        return [map_structure(fn, v, leaf) for v in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, v, leaf) for v in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v, leaf) for k, v in structure.items()}
    return structure


def _concrete(st: SymbolicTensor, fill: int):
    from .tensor import Tensor
    shape = tuple(fill if s is None else s for s in st.shape)
    if st.dtype.kind == "f":
        return Tensor(np.zeros(shape, dtype=st.dtype))
    return np.zeros(shape, dtype=st.dtype)


def _run(layer, inputs, args, kwargs, fill: int):
    from .tensor import no_grad
    sub = lambda s: _concrete(s, fill)  # noqa: E731
    with no_grad():
        return layer(map_structure(sub, inputs), *map_structure(sub, args), **map_structure(sub, kwargs))


def call_symbolic(layer, inputs, args, kwargs):
    """Record ``layer(inputs, *args, **kwargs)`` on symbolic tensors; return symbolic outputs."""
    from .tensor import Tensor
    kwargs = dict(kwargs)
    run_kwargs = {k: v for k, v in kwargs.items() if not (k in ("training", "mask") and v is None)}
    run_kwargs["training"] = False
    if isinstance(inputs, tuple):
        inputs = list(inputs)
    try:
        out_a = _run(layer, inputs, args, run_kwargs, 2)
        has_unknown = any(s is None for st in flatten((inputs, args, kwargs)) for s in st.shape[1:])
        out_b = _run(layer, inputs, args, run_kwargs, 3) if has_unknown else None
    except (ValueError, TypeError) as e:
        shapes = [st.shape for st in flatten(inputs)]
        raise type(e)(f"{e}\n(while calling layer '{layer.name}' on symbolic inputs of shape "
                      f"{shapes[0] if len(shapes) == 1 else shapes})") from None
    flat_a = _flat_tensors(out_a)
    flat_b = _flat_tensors(out_b) if out_b is not None else None
    syms = []
    for i, t in enumerate(flat_a):
        shape = list(t.shape)
        if shape:
            shape[0] = None  # the batch
        if flat_b is not None:
            shape = [None if (s is None or s != flat_b[i].shape[j]) else s for j, s in enumerate(shape)]
        syms.append(SymbolicTensor(shape, t.dtype if isinstance(t, Tensor) or hasattr(t, "dtype") else "float32",
                                   index=i, name=f"{layer.name}/out{i}"))
    it = iter(syms)
    outputs = _rebuild(out_a, it)
    node = Node(layer, inputs, tuple(args), kwargs, outputs)
    for s in syms:
        s.node = node
    return outputs


def _flat_tensors(out) -> list:
    from .tensor import Tensor
    if isinstance(out, (Tensor, np.ndarray)):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flat_tensors(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flat_tensors(o)]
    raise TypeError(f"a layer returned {type(out).__name__}; expected Tensors (or lists / tuples / dicts of them)")


def _rebuild(out, it):
    from .tensor import Tensor
    if isinstance(out, (Tensor, np.ndarray)):
        return next(it)
    if isinstance(out, list):
        return [_rebuild(o, it) for o in out]
    if isinstance(out, tuple):
        return tuple(_rebuild(o, it) for o in out)
    return {k: _rebuild(v, it) for k, v in out.items()}


def topological_nodes(inputs: Sequence[SymbolicTensor], outputs: Sequence[SymbolicTensor]) -> List[Node]:
    """The nodes between ``inputs`` and ``outputs``, each after the nodes it consumes.
    Raises ValueError when an output depends on a symbolic input that is not in ``inputs``."""
    input_ids = {id(t) for t in inputs}
    order: List[Node] = []
    seen = set()
    stack: List[Tuple[Any, bool]] = [(t, False) for t in reversed(list(outputs))]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if isinstance(t, Node):
            continue
        if id(t) in input_ids:
            continue
        node = t.node
        if node is None:
            raise ValueError(f"Graph disconnected: the model's outputs depend on the input {t!r}, which is not "
                             "among the model's inputs")
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for p in reversed(node.parents):
            if id(p) not in input_ids and (p.node is None or id(p.node) not in seen):
                stack.append((p, False))
    return order


def run_graph(nodes: List[Node], inputs: Sequence[SymbolicTensor], values: Sequence, outputs,
              training: bool = False):
    """Evaluate the recorded ``nodes`` on concrete ``values`` of ``inputs``; returns the
    concrete ``outputs`` structure."""
    env: Dict[int, Any] = {id(s): v for s, v in zip(inputs, values)}
    get = env.__getitem__
    for node in nodes:
        sub = lambda s: get(id(s))  # noqa: E731
        kw = map_structure(sub, node.kwargs)
        if kw.get("training") is None:
            kw["training"] = training
        if kw.get("mask", 0) is None:
            del kw["mask"]
        res = node.layer(map_structure(sub, node.inputs), *map_structure(sub, node.args), **kw)
        for s, t in zip(flatten(node.outputs), _flat_tensors(res)):
            env[id(s)] = t
    return map_structure(lambda s: get(id(s)), outputs)
