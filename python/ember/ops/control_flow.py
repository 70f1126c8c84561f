"""``keras.ops``' control flow, run eagerly: ``cond``, ``fori_loop``, ``while_loop``,
``scan``, ``map``, ``vectorized_map``. ember executes eagerly, so these are Python loops
whose bodies record the graph as any other code does (gradients flow through them)."""
from __future__ import annotations

from typing import Callable, Optional

from ..tensor import Tensor
from . import core


def _truth(pred, op: str) -> bool:
    if isinstance(pred, Tensor):
        if pred.size != 1:
            raise ValueError(f"{op}: the condition must be a scalar. Received: shape={pred.shape}")
        return bool(pred.data.reshape(()))
    return bool(pred)


def cond(pred, true_fn: Callable, false_fn: Callable):
    """``true_fn()`` if ``pred`` else ``false_fn()`` (only one branch runs)."""
    if isinstance(pred, Tensor) and pred.size != 1:
        raise ValueError(f"cond: pred must be a scalar. Received: shape={pred.shape}")
    return true_fn() if _truth(pred, "cond") else false_fn()


def fori_loop(lower: int, upper: int, body_fun: Callable, init_val):
    """``val = body_fun(i, val)`` for i in [lower, upper); returns the last ``val``."""
    val = init_val
    for i in range(int(lower), int(upper)):
        val = body_fun(i, val)
    return val


def while_loop(cond: Callable, body: Callable, loop_vars, maximum_iterations: Optional[int] = None):  # noqa: F811
    """``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` (at most
    ``maximum_iterations`` times). A tuple or list of loop variables is unpacked into
    ``cond`` and ``body``, as Keras does; the result has the same structure."""
    packed = isinstance(loop_vars, (tuple, list))
    vars_ = tuple(loop_vars) if packed else (loop_vars,)
    n = 0
    while (maximum_iterations is None or n < maximum_iterations) and _truth(cond(*vars_), "while_loop"):
        out = body(*vars_)
        vars_ = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        n += 1
    if not packed:
        return vars_[0]
    return list(vars_) if isinstance(loop_vars, list) else vars_


def _stack(items, op: str):
    if not items:
        raise ValueError(f"{op}: nothing to stack (an empty sequence)")
    first = items[0]
    if isinstance(first, (tuple, list)):
        return type(first)(_stack([it[k] for it in items], op) for k in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([it[k] for it in items], op) for k in first}
    return core.stack(items)


def _slices(xs, length: Optional[int], op: str):
    if xs is None:
        if length is None:
            raise ValueError(f"{op}: give xs or length")
        return [None] * int(length)
    xs = core._operand(xs)
    if xs.ndim == 0:
        raise ValueError(f"{op}: xs must have a leading axis to loop over. Received: shape={xs.shape}")
    return [xs[i] for i in range(xs.shape[0])]


def scan(f: Callable, init, xs=None, length: Optional[int] = None, reverse: bool = False, unroll: int = 1):
    """``carry, y = f(carry, x)`` over the leading axis of ``xs``; returns the last carry
    and the stacked ``y`` values (``jax.lax.scan``)."""
    items = _slices(xs, length, "scan")
    order = range(len(items) - 1, -1, -1) if reverse else range(len(items))
    carry, ys = init, [None] * len(items)
    for i in order:
        carry, ys[i] = f(carry, items[i])
    return carry, (_stack(ys, "scan") if ys and ys[0] is not None else None)


def map(f: Callable, xs):  # noqa: A001
    """``f`` applied to each slice of ``xs`` along its leading axis, results stacked."""
    return _stack([f(x) for x in _slices(xs, None, "map")], "map")


def vectorized_map(function: Callable, elements):
    """``function`` applied to each element along the leading axis (a loop here), stacked."""
    if isinstance(elements, (tuple, list)):
        cols = [_slices(e, None, "vectorized_map") for e in elements]
        return _stack([function(type(elements)(c)) for c in zip(*cols)], "vectorized_map")
    return map(function, elements)
