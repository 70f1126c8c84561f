"""ONNX export: ``model.export("m.onnx", format="onnx")``.

The ``onnx`` package builds the graph (``pip install ember[onnx]``); nothing here runs
it. The model's layers are walked in graph order and each becomes a few ONNX operators
(``onnx_layers``), at opset 17 (LayerNormalization's first opset), inference semantics
(dropout and noise layers become identities, BatchNormalization uses its moving
statistics). The batch dimension is dynamic ("batch"); other unknown dimensions get their
own names. Layers or options without a converter raise NotImplementedError naming them:
the exported graph computes what ember computes or is not written."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

OPSET = 17


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'ember[onnx]' (or pip install onnx)") from None
    return onnx


class Graph:
    """The ONNX nodes and constants of one export, with fresh names for every value."""

    def __init__(self, onnx, dtype: np.dtype):
        self.onnx, self.helper = onnx, onnx.helper
        self.dtype = np.dtype(dtype)
        self.nodes: list = []
        self.initializers: list = []
        self._n = 0
        self.used: set = set()

    def name(self, hint: str) -> str:
        self._n += 1
        name = f"{hint}_{self._n}"
        self.used.add(name)
        return name

    def const(self, value, hint: str = "const", dtype=None) -> str:
        """A constant (float constants take the model's float dtype unless ``dtype`` says)."""
        a = np.asarray(value)
        if dtype is not None:
            a = a.astype(dtype)
        elif a.dtype.kind == "f":
            a = a.astype(self.dtype)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(a), name))
        return name

    def ints(self, values, hint: str = "shape") -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint, np.int64)

    def op(self, op_type: str, inputs: List[str], hint: Optional[str] = None, outputs: int = 1, **attrs):
        """Add one node; returns its output name (or the list of names when ``outputs`` > 1)."""
        names = [self.name(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names


def _value_info(onnx, name: str, shape, dtype, batch: str = "batch"):
    dims = [batch if i == 0 and s is None else (f"{name}_dim{i}" if s is None else int(s)) for i, s in enumerate(shape)]
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return onnx.helper.make_tensor_value_info(name, elem, dims)


def _trace_sequential(model, g: Graph, convert):
    shape, dtype = model._input_spec
    name = model._input_layer.name if model._input_layer is not None else "input"
    inputs = [(name, shape, dtype)]
    x = name
    for layer, out_shape in zip(model.layers, model._shapes):
        x = convert(g, layer, [x], {}, out_shape)
    return inputs, [(x, model._shapes[-1], "output")]


def _trace_functional(model, g: Graph, convert):
    from ..symbolic import SymbolicTensor, flatten
    names: Dict[int, str] = {}
    inputs = []
    for t in model._inputs:
        names[id(t)] = t.layer.name
        inputs.append((t.layer.name, t.shape, t.dtype))

    def enc(v):
        if isinstance(v, SymbolicTensor):
            return names[id(v)]
        if isinstance(v, (list, tuple)):
            return [enc(e) for e in v]
        if isinstance(v, dict):
            return {k: enc(e) for k, e in v.items()}
        return v

    for node in model._nodes:
        outs = flatten(node.outputs)
        args = [enc(node.inputs)] + [enc(a) for a in node.args]
        kwargs = {k: enc(v) for k, v in node.kwargs.items() if v is not None and k not in ("training",)}
        res = convert(g, node.layer, args, kwargs, outs[0].shape if len(outs) == 1 else [o.shape for o in outs])
        res = res if isinstance(res, list) else [res]
        if len(res) != len(outs):
            raise NotImplementedError(f"ONNX export: layer '{node.layer.name}' returns {len(outs)} outputs here; "
                                      "the converter gives one")
        for t, r in zip(outs, res):
            names[id(t)] = r
    outputs = [(names[id(t)], t.shape, t.node.layer.name if t.node is not None else t.layer.name)
               for t in model._outputs]
    return inputs, outputs


def to_onnx(model):
    """The ``onnx.ModelProto`` of a built Sequential or functional ember model."""
    onnx = _onnx()
    from ..models.saving import _is_functional
    from ..models.sequential import Sequential
    from . import onnx_layers
    if isinstance(model, Sequential):
        if not model.built or model._input_spec is None:
            raise ValueError("export: the model is not built yet (give it an input shape or call it once)")
        trace = _trace_sequential
    elif _is_functional(model):
        trace = _trace_functional
    else:
        raise NotImplementedError(f"export: {type(model).__name__} is a subclassed model; ONNX export covers "
                                  "Sequential and functional models")
    dtypes = {w.dtype for w in model.weights} or {np.dtype("float32")}
    g = Graph(onnx, max(dtypes, key=lambda d: d.itemsize))
    inputs, outputs = trace(model, g, onnx_layers.convert)
    # graph outputs get stable names: rename through Identity
    out_infos, used = [], set()
    for value, shape, hint in outputs:
        name = hint
        while name in used or name in g.used or any(name == i[0] for i in inputs):
            name += "_out"
        used.add(name)
        g.nodes.append(onnx.helper.make_node("Identity", [value], [name]))
        out_infos.append(_value_info(onnx, name, shape, g.dtype))
    graph = onnx.helper.make_graph(g.nodes, model.name, [_value_info(onnx, n, s, d) for n, s, d in inputs],
                                   out_infos, g.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="ember")
    proto.ir_version = 8  # opset 17 needs IR 8; older runtimes refuse newer IR versions
    onnx.checker.check_model(proto)
    return proto


def export_onnx(model, path) -> None:
    """Write ``model`` as an ONNX file at ``path`` (atomically)."""
    from ..fileio import atomic_write
    data = to_onnx(model).SerializeToString()
    atomic_write(str(path), lambda f: f.write(data))
