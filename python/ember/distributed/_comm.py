"""The communicator behind ember.distributed: MPI's world communicator (mpi4py, imported
on first use), or a one-process stand-in when mpi4py is not installed.

Everything that carries numbers uses MPI's buffer calls (uppercase ``Allreduce``, ``Bcast``,
``Allgatherv``): pickled lowercase calls cost 300-650 ms for 40 MB where a buffer call
takes ~51 ms (2 ranks, MPICH). Pickling is kept for a few small Python objects.
"""
from __future__ import annotations

import os
import sys
import time
import numpy as np


class SelfComm:
    """A communicator of one process (no MPI): every collective returns its input."""

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def Allreduce(self, sendbuf, recvbuf, op=None) -> None:
        if not isinstance(sendbuf, int) and sendbuf is not recvbuf:  # MPI.IN_PLACE is an int sentinel here
            np.copyto(recvbuf, sendbuf)

    def Bcast(self, buf, root: int = 0) -> None:
        pass

    def bcast(self, obj, root: int = 0):
        return obj

    def allgather(self, obj) -> list:
        return [obj]

    def Allgatherv(self, sendbuf, recvbuf) -> None:
        np.copyto(recvbuf[0][:sendbuf.size], sendbuf.reshape(-1))

    def Barrier(self) -> None:
        pass

    def Abort(self, errorcode: int = 1) -> None:
        os._exit(errorcode)


IN_PLACE_SELF = 0  # SelfComm's stand-in for MPI.IN_PLACE

_comm = None
_mpi = None  # the mpi4py.MPI module when MPI is in use
_local = (0, 1)  # (rank, size) among the processes of this machine


def comm():
    """The world communicator, initialising MPI on first use."""
    if _comm is None:
        init()
    return _comm


def mpi():
    """mpi4py.MPI, or None when ember runs without MPI."""
    comm()
    return _mpi


def init() -> None:
    """Initialise MPI (once; later calls do nothing). Without mpi4py ember runs as one
    process of size 1. With several ranks: an uncaught exception on any rank aborts the
    whole job (``MPI_Abort``) instead of leaving the others waiting in a collective, and
    when neither OMP_NUM_THREADS nor ember.set_num_threads chose a thread count, each
    rank gets its share of this machine's cores (ranks on one machine would otherwise
    each start a thread per core and fight over them)."""
    global _comm, _mpi, _local
    if _comm is not None:
        return
    try:
        from mpi4py import MPI
    except ImportError:
        _comm = SelfComm()
        return
    _mpi, _comm = MPI, MPI.COMM_WORLD
    if _comm.Get_size() > 1:
        node = _comm.Split_type(MPI.COMM_TYPE_SHARED)
        _local = (node.Get_rank(), node.Get_size())
        node.Free()
        _install_abort_hook()
        _share_cores(_local[1])


def local() -> tuple:
    comm()
    return _local


def in_place():
    return _mpi.IN_PLACE if _mpi is not None else IN_PLACE_SELF


def op(name: str):
    """The MPI reduction for "sum", "max" or "min" (None without MPI)."""
    if _mpi is None:
        return None
    return {"sum": _mpi.SUM, "max": _mpi.MAX, "min": _mpi.MIN}[name]


def _install_abort_hook() -> None:
    previous = sys.excepthook

    def abort_on_exception(tp, value, tb):
        # Print first (the user needs the traceback), then end every rank: the others may
        # be blocked in a collective this rank will never join.
        try:
            previous(tp, value, tb)
            sys.stderr.write(f"ember.distributed: rank {_comm.Get_rank()} raised {tp.__name__}; aborting the job\n")
            sys.stderr.flush()
            sys.stdout.flush()
            # MPI_Abort tears the job down at once, launcher included: text still in flight
            # from this rank's pipes to mpiexec's output is lost with it (seen: tracebacks
            # cut before their last line). A moment lets the launcher forward it.
            time.sleep(0.5)
        finally:
            _comm.Abort(1)

    sys.excepthook = abort_on_exception


def _share_cores(ranks_here: int) -> None:
    from .. import _C
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    if "OMP_NUM_THREADS" in os.environ or _C.get_num_threads() != cores:
        return  # the user chose (ember.set_num_threads changes the count from its default)
    _C.set_num_threads(max(1, cores // max(1, ranks_here)))
