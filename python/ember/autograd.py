"""Gradients without touching ``.grad``: ``ember.grad`` and Keras-style ``GradientTape``."""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import numpy as np

from .tensor import Tensor, _set_grad_enabled, as_array, run_backward


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def grad(outputs: Union[Tensor, Sequence[Tensor]], inputs: Union[Tensor, Sequence[Tensor]],
         grad_outputs=None, retain_graph: bool = False, allow_unused: bool = True) -> List[Optional[Tensor]]:
    """d(sum of outputs)/d(inputs), returned as a list of Tensors (None where unconnected).

    Nothing is written into ``.grad``. The graph is freed unless ``retain_graph``.

    >>> gx, = ember.grad((x * x).sum(), [x])
    """
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    if grad_outputs is None:
        gouts = []
        for o in outs:
            if o.data.size != 1:
                raise RuntimeError(f"grad: grad_outputs must be given for a non-scalar output of shape {o.shape}")
            gouts.append(np.ones_like(o.data))
    else:
        gouts = [as_array(g).astype(o.data.dtype, copy=False) for g, o in zip(_as_list(grad_outputs), outs)]
    for o in outs:
        if not o.requires_grad:
            raise RuntimeError("grad: an output does not require grad (no input requires grad, "
                               "or it was computed under ember.no_grad())")
    found = run_backward(outs, gouts, inputs=ins, retain_graph=retain_graph)
    if not allow_unused and any(g is None for g in found):
        raise RuntimeError("grad: an input is not connected to the outputs (allow_unused=False)")
    return [None if g is None else Tensor(g, dtype=t.data.dtype) for g, t in zip(found, ins)]


class GradientTape:
    """Record operations for automatic differentiation, as ``tf.GradientTape``.

    >>> with ember.GradientTape() as tape:
    ...     loss = loss_fn(y, model(x, training=True))
    >>> grads = tape.gradient(loss, model.trainable_variables)
    >>> optimizer.apply_gradients(zip(grads, model.trainable_variables))

    Trainable variables (Tensors with ``requires_grad=True``) are watched automatically;
    ``tape.watch(t)`` watches another tensor. A non-persistent tape gives one ``gradient``
    call; ``persistent=True`` keeps the graph for several.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = persistent
        self._used = False
        self._prev = None

    def __enter__(self) -> "GradientTape":
        self._prev = _set_grad_enabled(True)
        return self

    def __exit__(self, *exc) -> bool:
        _set_grad_enabled(self._prev)
        return False

    def watch(self, tensor) -> None:
        for t in _as_list(tensor):
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.watch: expected a Tensor. Received: {type(t).__name__}")
            t.requires_grad = True

    def gradient(self, target, sources, output_gradients=None):
        """Gradients of ``target`` with respect to ``sources`` (same nesting: one Tensor or a
        list); None for a source the target does not depend on."""
        if self._used and not self.persistent:
            raise RuntimeError("GradientTape.gradient can only be called once on a non-persistent tape")
        self._used = True
        single = isinstance(sources, Tensor)
        srcs = _as_list(sources) if not single else [sources]
        targets = _as_list(target)
        for t in targets:
            if not isinstance(t, Tensor) or not t.requires_grad:
                return None if single else [None] * len(srcs)
        res = grad(targets, srcs, grad_outputs=output_gradients, retain_graph=self.persistent)
        return res[0] if single else res
