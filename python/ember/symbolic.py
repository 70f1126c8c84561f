"""Symbolic tensors for the functional model API (``ember.Input`` / ``ember.Model``).

``ember.Input(shape=(784,))`` returns a :class:`SymbolicTensor` (batch dimension None).
Calling a layer on symbolic tensors (``Layer.__call__`` routes here) records a
:class:`Node` and returns symbolic outputs whose shapes come from running the layer on
small zero batches under ``no_grad`` (twice, with different sizes for the unknown
dimensions, so dimensions that follow an unknown one stay None: see ``_PROBE_SIZES``). ``ember.Model(inputs,
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
        # the rank of the mask the tensor carries at run time (Masking, Embedding(mask_zero),
        # a layer's compute_mask), None without one: probes of the next layer get a mask too
        self.mask_ndim: Optional[int] = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype.name}" + (f" name={self.name!r}>" if self.name else ">")

    def __len__(self):
        raise TypeError("len() of a symbolic tensor: its batch size is not known until the model runs")

    # Python operators record the same ember.ops call a Tensor's operator makes (Keras'
    # KerasTensor does the same), so ``ops.mean(x, axis=1) + 1.0`` builds a graph node.
    # NumPy must not broadcast over it: ``np.float32(2) * x`` comes to __rmul__.
    __array_ufunc__ = None

    def __add__(self, o): return record_op("add", (self, o), {})
    def __radd__(self, o): return record_op("add", (o, self), {})
    def __sub__(self, o): return record_op("subtract", (self, o), {})
    def __rsub__(self, o): return record_op("subtract", (o, self), {})
    def __mul__(self, o): return record_op("multiply", (self, o), {})
    def __rmul__(self, o): return record_op("multiply", (o, self), {})
    def __truediv__(self, o): return record_op("divide", (self, o), {})
    def __rtruediv__(self, o): return record_op("divide", (o, self), {})
    def __floordiv__(self, o): return record_op("floor_divide", (self, o), {})
    def __rfloordiv__(self, o): return record_op("floor_divide", (o, self), {})
    def __mod__(self, o): return record_op("mod", (self, o), {})
    def __rmod__(self, o): return record_op("mod", (o, self), {})
    def __pow__(self, o): return record_op("power", (self, o), {})
    def __rpow__(self, o): return record_op("power", (o, self), {})
    def __matmul__(self, o): return record_op("matmul", (self, o), {})
    def __rmatmul__(self, o): return record_op("matmul", (o, self), {})
    def __neg__(self): return record_op("negative", (self,), {})
    def __pos__(self): return self
    def __abs__(self): return record_op("abs", (self,), {})
    def __lt__(self, o): return record_op("less", (self, o), {})
    def __le__(self, o): return record_op("less_equal", (self, o), {})
    def __gt__(self, o): return record_op("greater", (self, o), {})
    def __ge__(self, o): return record_op("greater_equal", (self, o), {})
    def __getitem__(self, idx): return record_op("getitem", (self, idx), {})
    # == and != keep identity semantics: graph code compares and looks up symbolic tensors
    __hash__ = object.__hash__


# -- ember.ops on symbolic tensors --------------------------------------------------------
# The layer that holds a recorded op lives in ember.layers, which imports this module; it
# registers its recorder here at import, so this module never imports the layers (no cycle).
_op_recorder: Optional[Callable] = None


def set_op_recorder(fn: Callable) -> None:
    """``fn(op_name, args, kwargs) -> symbolic outputs`` (``ember.layers`` registers it)."""
    global _op_recorder
    _op_recorder = fn


def has_symbolic(args, kwargs) -> bool:
    """Whether a SymbolicTensor is among the arguments (in nested lists / tuples too)."""
    for a in args:
        if isinstance(a, SymbolicTensor) or (isinstance(a, (list, tuple)) and flatten(a)):
            return True
    for a in kwargs.values():
        if isinstance(a, SymbolicTensor) or (isinstance(a, (list, tuple)) and flatten(a)):
            return True
    return False


def record_op(name: str, args, kwargs):
    """Record ``ember.ops.<name>(*args, **kwargs)`` on symbolic tensors as a graph node."""
    if _op_recorder is None:
        raise RuntimeError(f"ops.{name} on symbolic tensors needs ember.layers imported (import ember)")
    return _op_recorder(name, tuple(args), dict(kwargs))


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


# Sizes given to the unknown non-batch dimensions when a layer is probed: two runs whose
# outputs differ along a dimension mark it None. Far enough apart that pooling or
# striding by up to 20 still tells them apart, and long enough for common kernel sizes;
# when a layer rejects them (a long kernel, a fixed-size reshape) the next pair is tried.
_PROBE_SIZES = ((16, 37), (64, 133), (2, 3))
_PROBE_BATCH = 2


def _concrete(st: SymbolicTensor, fill: int):
    from .tensor import Tensor
    from . import backend
    shape = tuple((_PROBE_BATCH if i == 0 else fill) if s is None else s for i, s in enumerate(st.shape))
    xp = backend.current_xp() if st.dtype.kind in "biuf" else np  # probes run where the weights live
    if st.dtype.kind == "f":
        t = Tensor(xp.zeros(shape, dtype=st.dtype))
        if st.mask_ndim is not None:  # nothing masked: a probe only needs a mask to be there
            t._mask = xp.ones(shape[:st.mask_ndim], dtype=bool)
        return t
    return xp.zeros(shape, dtype=st.dtype)


def _run(layer, inputs, args, kwargs, fill: int):
    from .tensor import no_grad
    sub = lambda s: _concrete(s, fill)  # noqa: E731
    try:
        # zeros can make a layer divide 0 by 0 (e.g. every step masked by Embedding(mask_zero));
        # only the shapes matter here, so no warnings
        with no_grad(), np.errstate(all="ignore"):
            return layer(map_structure(sub, inputs), *map_structure(sub, args), **map_structure(sub, kwargs))
    finally:
        layer._clear_losses()  # add_loss values of a probe are not the model's


def _probe(layer, inputs, args, run_kwargs, has_unknown: bool):
    """The layer's outputs for two fills of the unknown dimensions (one run when only the
    batch is unknown)."""
    if not has_unknown:
        return _run(layer, inputs, args, run_kwargs, 1), None
    first_error = None
    for a, b in _PROBE_SIZES:
        try:
            return _run(layer, inputs, args, run_kwargs, a), _run(layer, inputs, args, run_kwargs, b)
        except (ValueError, TypeError, IndexError) as e:
            first_error = first_error or e
    raise first_error


def infer_outputs(layer, inputs, args, kwargs):
    """Symbolic outputs (not yet tied to a Node) of ``layer(inputs, *args, **kwargs)`` on
    symbolic tensors, from probe runs: a dimension is None where the batch or an unknown
    input dimension shows through."""
    from .tensor import Tensor
    run_kwargs = {k: v for k, v in kwargs.items() if not (k in ("training", "mask") and v is None)}
    run_kwargs["training"] = False
    has_unknown = any(s is None for st in flatten((inputs, args, kwargs)) for s in st.shape[1:])
    try:
        out_a, out_b = _probe(layer, inputs, args, run_kwargs, has_unknown)
    except (ValueError, TypeError, IndexError) as e:
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
        sym = SymbolicTensor(shape, t.dtype if isinstance(t, Tensor) or hasattr(t, "dtype") else "float32",
                             index=i, name=f"{layer.name}/out{i}")
        mask = getattr(t, "_mask", None) if isinstance(t, Tensor) else None
        sym.mask_ndim = None if mask is None else np.ndim(mask)
        syms.append(sym)
    return _rebuild(out_a, iter(syms))


def call_symbolic(layer, inputs, args, kwargs):
    """Record ``layer(inputs, *args, **kwargs)`` on symbolic tensors; return symbolic outputs."""
    kwargs = dict(kwargs)
    if isinstance(inputs, tuple):
        inputs = list(inputs)
    outputs = infer_outputs(layer, inputs, args, kwargs)
    node = Node(layer, inputs, tuple(args), kwargs, outputs)
    for s in flatten(outputs):
        s.node = node
    layer._inbound_nodes = getattr(layer, "_inbound_nodes", []) + [node]
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
              training: bool = False, fused: Optional[Dict[int, int]] = None, fuse: Optional[Callable] = None):
    """Evaluate the recorded ``nodes`` on concrete ``values`` of ``inputs``; returns the
    concrete ``outputs`` structure. ``fused`` maps the index i of a node to the index j of the
    node that alone reads its output: ``fuse(layer_i, layer_j, x)`` gives node j's output from
    node i's input in one step, or None (then both nodes run)."""
    env: Dict[int, Any] = {id(s): v for s, v in zip(inputs, values)}
    get = env.__getitem__
    skip = set()
    for i, node in enumerate(nodes):
        if i in skip:
            continue
        if fused and i in fused:
            j = fused[i]
            y = fuse(node.layer, nodes[j].layer, get(id(node.inputs)))
            if y is not None:
                env[id(nodes[j].outputs)] = y
                skip.add(j)
                continue
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
