"""Horovod-style DistributedOptimizer for custom training loops."""
from __future__ import annotations

from typing import Callable, Iterable, List, Optional, Tuple

import numpy as np

from ..optimizers import Optimizer
from ..tensor import Tensor, as_array
from . import _comm


def pack(arrays: List[Optional[np.ndarray]], extra: int, dtype, buf: Optional[np.ndarray] = None) -> np.ndarray:
    """One flat buffer: the arrays (None as zeros) one after another, then ``extra`` free
    slots; ``buf`` is reused when it has the right size and dtype."""
    n = sum(a.size for a in arrays if a is not None)
    if buf is None or buf.size != n + extra or buf.dtype != dtype:
        buf = np.empty(n + extra, dtype=dtype)
    off = 0
    for a in arrays:
        if a is None:
            continue
        buf[off:off + a.size] = a.reshape(-1)
        off += a.size
    return buf


def unpack(buf: np.ndarray, like: List[Optional[np.ndarray]]) -> List[Optional[np.ndarray]]:
    """Views of ``buf`` shaped like ``like`` (None stays None)."""
    out, off = [], 0
    for a in like:
        if a is None:
            out.append(None)
            continue
        out.append(buf[off:off + a.size].reshape(a.shape))
        off += a.size
    return out


class DistributedOptimizer:
    """Wrap an optimizer so that ``apply_gradients`` first reduces the gradients over every
    rank (one ``Allreduce`` of one packed buffer; ``op="average"``, Horovod's default, or
    "sum"), then lets the wrapped optimizer clip and step, identically on every rank.

    >>> opt = ember.distributed.DistributedOptimizer(ember.optimizers.SGD(0.01))
    >>> opt.apply_gradients(zip(grads, model.trainable_variables))

    Averaging is exact when every rank's gradient is the mean over an equal number of
    samples; with uneven shards, pass ``op="sum"`` and gradients of the local loss sum
    divided by the global sample count (``fit(distribute=...)`` does this for you).
    Every other attribute (learning_rate, iterations, get_config, ...) is the wrapped one's.
    """

    def __init__(self, optimizer, op: str = "average"):
        from .. import optimizers
        if op not in ("average", "sum"):
            raise ValueError(f"DistributedOptimizer: op must be 'average' or 'sum'. Received: {op!r}")
        self.__dict__["optimizer"] = optimizers.get(optimizer)
        self.__dict__["op"] = op
        self.__dict__["_buf"] = None

    def __getattr__(self, name):
        return getattr(self.__dict__["optimizer"], name)

    def __setattr__(self, name, value):
        if name in self.__dict__:
            self.__dict__[name] = value
        else:
            setattr(self.optimizer, name, value)

    def apply_gradients(self, grads_and_vars: Iterable[Tuple[Optional[Tensor], Tensor]]) -> int:
        pairs = list(grads_and_vars)
        grads = [None if g is None else as_array(g) for g, _ in pairs]
        live = [g for g in grads if g is not None]
        if not live:
            return self.optimizer.iterations
        dtype = np.result_type(*live)
        c = _comm.comm()
        buf = pack(grads, 0, dtype, self._buf)
        self.__dict__["_buf"] = buf
        c.Allreduce(_comm.in_place(), buf, op=_comm.op("sum"))
        if self.op == "average" and c.Get_size() > 1:
            buf /= dtype.type(c.Get_size())
        reduced = unpack(buf, grads)
        return self.optimizer.apply_gradients(zip(reduced, [v for _, v in pairs]))

    def minimize(self, loss_fn: Callable[[], Tensor], var_list: List[Tensor]) -> Tensor:
        from ..autograd import grad
        loss = loss_fn()
        self.apply_gradients(zip(grad(loss, var_list), var_list))
        return loss


def inner(optimizer) -> Optimizer:
    """The optimizer that steps (a DistributedOptimizer's wrapped one)."""
    return optimizer.optimizer if isinstance(optimizer, DistributedOptimizer) else optimizer
