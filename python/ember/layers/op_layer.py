"""``OpLayer``: an ``ember.ops`` call recorded on symbolic tensors in a functional graph
(``ops.mean(x, axis=1) + 1.0`` between ``ember.Input`` and ``ember.Model``), as Keras 3
records ``keras.ops`` calls on KerasTensors.

The layer keeps the op's public name and its non-tensor arguments as JSON-able data, with
a slot where each tensor argument goes (``{"__tensor__": i}``: the i-th of the layer's
inputs). ``call`` runs the same ``ember.ops`` function eagerly, so gradients, dtypes and
errors are the op's own; shapes come from probing like any layer. Loading looks the name up
in ``ember.ops`` only (never code from the file)."""
from __future__ import annotations

import inspect
from typing import Any, List

import numpy as np

from .. import backend
from ..symbolic import SymbolicTensor, set_op_recorder
from ..tensor import Tensor
from .base import Layer, auto_name


def _lookup(name) -> Any:
    """The ``ember.ops`` function called ``name`` ("getitem": indexing, as ``x[...]``)."""
    from .. import ops
    if name == "getitem":
        from ..ops.core import getitem
        return getitem
    fn = getattr(ops, name, None) if isinstance(name, str) and not name.startswith("_") else None
    if not inspect.isfunction(fn):
        raise ValueError(f"OpLayer: unknown op {name!r}: expected the name of a function in ember.ops")
    return fn


def _encode(op: str, v, inputs: List[SymbolicTensor]):
    """``v`` as JSON-able data; symbolic tensors go to ``inputs`` and leave a slot."""
    if isinstance(v, SymbolicTensor):
        inputs.append(v)
        return {"__tensor__": len(inputs) - 1}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list):
        return [_encode(op, e, inputs) for e in v]
    if isinstance(v, tuple):
        return {"__tuple__": [_encode(op, e, inputs) for e in v]}
    if isinstance(v, dict):
        return {"__dict__": [[str(k), _encode(op, e, inputs)] for k, e in v.items()]}
    if isinstance(v, slice):
        return {"__slice__": [_encode(op, e, inputs) for e in (v.start, v.stop, v.step)]}
    if v is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(v, np.dtype) or (isinstance(v, type) and issubclass(v, np.generic)):
        return {"__dtype__": np.dtype(v).name}
    if isinstance(v, Tensor) and v.requires_grad:
        raise TypeError(f"ops.{op}: a trainable Tensor ({v.name or 'unnamed'}) among symbolic arguments would be "
                        "frozen into the graph as a constant; create it in a layer with add_weight instead")
    if isinstance(v, (Tensor, np.ndarray)):
        arr = backend.to_numpy(v.data if isinstance(v, Tensor) else v)  # a device constant: copied for the config
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"ops.{op}: cannot record an array of dtype {arr.dtype} in a functional graph")
        return {"__array__": arr.tolist(), "dtype": arr.dtype.name}
    raise TypeError(f"ops.{op}: cannot record a call on symbolic tensors with an argument of type "
                    f"{type(v).__name__} ({v!r}); only tensors, numbers, strings, None, slices, dtypes and "
                    "lists / tuples of them can be part of a functional graph")


class _Slot:
    __slots__ = ("i",)

    def __init__(self, i: int):
        self.i = i


def _decode(v, n_inputs: int):
    if isinstance(v, list):
        return [_decode(e, n_inputs) for e in v]
    if not isinstance(v, dict):
        return v
    if "__tensor__" in v:
        i = v["__tensor__"]
        if not isinstance(i, int) or not 0 <= i < n_inputs:
            raise ValueError(f"OpLayer: tensor slot {i!r} out of range for {n_inputs} inputs")
        return _Slot(i)
    if "__tuple__" in v:
        return tuple(_decode(e, n_inputs) for e in v["__tuple__"])
    if "__dict__" in v:
        return {k: _decode(e, n_inputs) for k, e in v["__dict__"]}
    if "__slice__" in v:
        return slice(*(_decode(e, n_inputs) for e in v["__slice__"]))
    if "__ellipsis__" in v:
        return Ellipsis
    if "__dtype__" in v:
        return np.dtype(v["__dtype__"])
    if "__array__" in v:
        return np.asarray(v["__array__"], dtype=np.dtype(v["dtype"]))
    raise ValueError(f"OpLayer: unknown argument entry {v!r}")


def _fill(v, values):
    if isinstance(v, _Slot):
        return values[v.i]
    if isinstance(v, list):
        return [_fill(e, values) for e in v]
    if isinstance(v, tuple):
        return tuple(_fill(e, values) for e in v)
    if isinstance(v, dict):
        return {k: _fill(e, values) for k, e in v.items()}
    if isinstance(v, slice):
        return slice(_fill(v.start, values), _fill(v.stop, values), _fill(v.step, values))
    return v


def _count_slots(v) -> int:
    if isinstance(v, dict):
        return (1 if "__tensor__" in v else 0) + sum(_count_slots(e) for e in v.values())
    if isinstance(v, list):
        return sum(_count_slots(e) for e in v)
    return 0


class OpLayer(Layer):
    """The call ``ember.ops.<op>(*args, **kwargs)`` with the tensor arguments taken, in
    order, from the layer's inputs (a list). ``args`` / ``kwargs`` are the encoded form that
    ``get_config`` stores. Built by ``ember.ops`` functions on symbolic tensors; rarely made
    by hand."""

    def __init__(self, op: str, args=None, kwargs=None, **layer_kwargs):
        self._fn = _lookup(op)
        super().__init__(**layer_kwargs)
        self.op = op
        self._args_cfg = list(args or [])
        self._kwargs_cfg = dict(kwargs or {})
        self.n_inputs = _count_slots(self._args_cfg) + _count_slots(self._kwargs_cfg)
        try:
            self._args = _decode(self._args_cfg, self.n_inputs)
            self._kwargs = {str(k): _decode(v, self.n_inputs) for k, v in self._kwargs_cfg.items()}
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"OpLayer '{self.name}' (ops.{op}): malformed arguments: {e}") from None

    def call(self, inputs):
        values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(values) != self.n_inputs:
            raise ValueError(f"OpLayer '{self.name}' (ops.{self.op}): expected {self.n_inputs} input tensor(s). "
                             f"Received: {len(values)}")
        try:
            return self._fn(*_fill(self._args, values), **_fill(self._kwargs, values))
        except (ValueError, TypeError, IndexError) as e:
            raise type(e)(f"ops.{self.op} (layer '{self.name}'): {e}") from None

    def get_config(self) -> dict:
        return dict(super().get_config(), op=self.op, args=self._args_cfg, kwargs=self._kwargs_cfg)


def _record(op: str, args: tuple, kwargs: dict):
    _lookup(op)  # a name ember.ops cannot load again is a bug here, not in the user's model
    inputs: List[SymbolicTensor] = []
    args_cfg = [_encode(op, a, inputs) for a in args]
    kwargs_cfg = {str(k): _encode(op, v, inputs) for k, v in kwargs.items()}
    return OpLayer(op, args_cfg, kwargs_cfg, name=auto_name(op))(inputs)


set_op_recorder(_record)
