"""Data-parallel training across processes and machines on MPI (mpi4py).

Launch the same script on N ranks (``mpiexec -n 4 python train.py``, or ``srun`` on a
Slurm cluster) and train with ``model.fit(..., distribute=True)`` (or set
``ember.distributed.set_distribution(ember.distributed.DataParallel())`` once, Keras
style). Each rank holds the whole dataset; ``batch_size`` is the global batch, split into
contiguous per-rank slices; the gradients, losses and metric states of a step travel in
one ``Allreduce`` of one packed buffer, so N ranks train as one process would (see
:class:`DataParallel`).

For custom loops, Horovod style: :func:`broadcast_variables` once, then
:class:`DistributedOptimizer` averages the gradients before each update;
``callbacks.BroadcastGlobalVariablesCallback(0)`` does the broadcast in a plain ``fit``.

mpi4py is imported on first use (``pip install "ember[mpi]"``); without it every
function works as a job of one process (rank 0, size 1).
"""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from ..tensor import Tensor
from . import _comm
from . import callbacks  # noqa: F401
from ._data_parallel import DataParallel
from ._optimizer import DistributedOptimizer

__all__ = ["init", "rank", "size", "local_rank", "local_size", "barrier", "allreduce", "broadcast",
           "broadcast_variables", "DistributedOptimizer", "DataParallel", "set_distribution", "distribution",
           "callbacks"]

_OPS = ("sum", "average", "max", "min")


def init() -> None:
    """Initialise MPI (the other functions do it on first use). With several ranks, an
    uncaught exception on one rank aborts the whole job instead of leaving it hanging."""
    _comm.init()


def rank() -> int:
    """This process's rank in the job (0 without MPI)."""
    return _comm.comm().Get_rank()


def size() -> int:
    """The number of processes in the job (1 without MPI)."""
    return _comm.comm().Get_size()


def local_rank() -> int:
    """This process's rank among the job's processes on this machine."""
    return _comm.local()[0]


def local_size() -> int:
    """The number of the job's processes on this machine."""
    return _comm.local()[1]


def barrier() -> None:
    """Wait until every rank reaches this call."""
    _comm.comm().Barrier()


def _array(value, who: str) -> np.ndarray:
    a = value.data if isinstance(value, Tensor) else np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{who}: expected numbers (an array, a Tensor or a scalar). Received: dtype {a.dtype}")
    return a


def allreduce(value, op: str = "average"):
    """``value`` (array, Tensor or number) reduced over every rank with ``op`` ("average"
    (Horovod's default), "sum", "max", "min"); every rank gets the result, of the input's
    type. Every rank must pass the same shape and dtype."""
    if op not in _OPS:
        raise ValueError(f"allreduce: op must be one of {_OPS}. Received: {op!r}")
    a = _array(value, "allreduce")
    out = np.ascontiguousarray(a, dtype=np.float64 if op == "average" and a.dtype.kind in "biu" else a.dtype).copy()
    c = _comm.comm()
    c.Allreduce(_comm.in_place(), out, op=_comm.op("sum" if op == "average" else op))
    if op == "average":
        out /= out.dtype.type(c.Get_size())
    if isinstance(value, Tensor):
        return Tensor(out)
    return out if isinstance(value, np.ndarray) else out.reshape(()).item() if out.ndim == 0 else out


def broadcast(value, root: int = 0):
    """``value`` as rank ``root`` has it, on every rank: arrays and Tensors travel as
    buffers (their shape and dtype are sent first), other objects pickled."""
    c = _comm.comm()
    _check_root(root, c, "broadcast")
    if isinstance(value, (np.ndarray, Tensor)):
        a = np.ascontiguousarray(value.data if isinstance(value, Tensor) else value)
        shape, dtype = c.bcast((a.shape, a.dtype.str), root=root)
        buf = a.copy() if c.Get_rank() == root else np.empty(shape, dtype=np.dtype(dtype))
        c.Bcast(buf, root=root)
        return Tensor(buf) if isinstance(value, Tensor) else buf
    return c.bcast(value, root=root)


def broadcast_variables(variables: Iterable, root: int = 0) -> None:
    """Overwrite ``variables`` (Tensors or arrays, e.g. ``model.weights``) in place with
    rank ``root``'s values: one ``Bcast`` per dtype of one packed buffer. Every rank must
    pass the same list (shapes and dtypes)."""
    c = _comm.comm()
    _check_root(root, c, "broadcast_variables")
    arrays = [v.data if isinstance(v, Tensor) else v for v in variables]
    for a in arrays:
        if not isinstance(a, np.ndarray):
            raise TypeError(f"broadcast_variables: expected Tensors or NumPy arrays. Received: {type(a).__name__}")
    if c.Get_size() == 1:
        return
    for dt in sorted({a.dtype.str for a in arrays}):
        group = [a for a in arrays if a.dtype.str == dt]
        buf = np.concatenate([a.reshape(-1) for a in group]) if group else np.empty(0, dt)
        c.Bcast(buf, root=root)
        off = 0
        for a in group:
            a[...] = buf[off:off + a.size].reshape(a.shape)
            off += a.size


def _check_root(root: int, c, who: str) -> None:
    if not 0 <= int(root) < c.Get_size():
        raise ValueError(f"{who}: root must be a rank in [0, {c.Get_size()}). Received: {root}")


_distribution: Optional[DataParallel] = None


def set_distribution(value: Optional[DataParallel]) -> None:
    """Make ``value`` (a :class:`DataParallel`, or None to stop) the distribution every
    ``fit`` / ``evaluate`` / ``predict`` uses when not told otherwise (Keras'
    ``keras.distribution.set_distribution``)."""
    global _distribution
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution: expected a DataParallel or None. Received: {type(value).__name__}")
    _distribution = value


def distribution() -> Optional[DataParallel]:
    """The distribution set by :func:`set_distribution` (None: single process)."""
    return _distribution


def resolve(distribute) -> Optional[DataParallel]:
    """What a ``distribute=`` argument means: None (the global distribution), False (none),
    True (a DataParallel), or a DataParallel."""
    if distribute is None:
        return _distribution
    if distribute is False:
        return None
    if distribute is True:
        return DataParallel()
    if isinstance(distribute, DataParallel):
        return distribute
    raise TypeError("distribute must be None, True, False or an ember.distributed.DataParallel. "
                    f"Received: {distribute!r}")
