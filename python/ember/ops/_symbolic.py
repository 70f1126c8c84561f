"""``ember.ops`` functions that also take symbolic tensors (``ember.Input``), as Keras 3's
``keras.ops`` do while a functional model is built: given one, a function records a graph
node (an ``OpLayer`` naming the op, see ``ember.layers.op_layer``) instead of computing.

The check wraps each public function once, in the ``ember.ops`` namespace only: the
function in the module that defines it (``ember.ops.core.exp``, which Tensor operators and
layers call) stays unwrapped, so the eager hot path pays nothing for the check (about
0.85 us a call). ``ember.ops.exp.__wrapped__ is ember.ops.core.exp``: one definition."""
from __future__ import annotations

import functools
import inspect

from ..symbolic import has_symbolic, record_op

# these answer from a symbolic tensor's static description (or refuse) instead of recording
_NOT_RECORDED = frozenset({"shape", "ndim", "size", "is_tensor", "convert_to_numpy"})


def _recording(name: str, fn):
    @functools.wraps(fn)
    def op(*args, **kwargs):
        if has_symbolic(args, kwargs):
            return record_op(name, args, kwargs)
        return fn(*args, **kwargs)
    return op


def install(namespace: dict) -> None:
    """Wrap the public op functions of ``namespace`` (``ember.ops``' globals) in place; an
    alias (``divide`` / ``true_divide``) shares its function's wrapper, which records the
    first public name (any public name loads the same function)."""
    wrapped = {}
    for name, fn in list(namespace.items()):
        if name.startswith("_") or name in _NOT_RECORDED or not inspect.isfunction(fn):
            continue
        if not (fn.__module__ or "").startswith("ember.ops") or hasattr(fn, "__wrapped__"):
            continue
        if id(fn) not in wrapped:
            wrapped[id(fn)] = _recording(name, fn)
        namespace[name] = wrapped[id(fn)]
