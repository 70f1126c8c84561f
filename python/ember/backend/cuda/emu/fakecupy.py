"""A stand-in for the ``cupy`` module in emulation mode: NumPy's API over ``EmuArray``.

Every NumPy function and ufunc is reachable under its CuPy name (``fakecupy.exp``,
``fakecupy.matmul``, ``fakecupy.zeros_like`` ...): arguments are unwrapped, a plain
``numpy.ndarray`` among them is refused (``TypeError``, as CuPy refuses host arrays), results
come back as ``EmuArray`` (NumPy scalars as 0-d arrays, as CuPy's reductions). The explicit
transfers are ``asarray`` / ``array`` (host -> device, always a copy of a host array) and
``asnumpy`` / ``EmuArray.get`` (device -> host). ``random``, ``cuda`` (streams, events,
pinned memory: emulated launches are synchronous), ``RawModule`` / ``RawKernel`` (the CPU
emulator) complete the subset of CuPy that ember's GPU backend uses.
"""
from __future__ import annotations

import sys
import types

import numpy as _np

from . import _cupy_names
from .array import (IMPLICIT, SIZE_FROM_DATA, Device, EmuArray, count_transfer, transfer_count, unwrap,
                    unwrap_call, wrap)
from .memory import allocate

ndarray = EmuArray
__version__ = "emulated"
is_emulated = True

# Host-side NumPy names that would read or write host memory behind the caller's back.
_NOT_DEVICE = frozenset({"save", "savez", "savez_compressed", "load", "loadtxt", "savetxt",
                         "genfromtxt", "fromfile", "frombuffer", "fromstring", "memmap",
                         "asarray_chkfinite", "require", "ctypeslib", "lib",
                         "testing", "char", "rec", "ma", "polynomial", "typing"})


def _wrap_function(fn, name=None):
    def wrapped(*args, **kwargs):
        return unwrap_call(fn, args, kwargs)
    wrapped.__name__ = name or getattr(fn, "__name__", "function")
    wrapped.__doc__ = f"Emulated cupy.{wrapped.__name__} (NumPy's, on EmuArray)."
    return wrapped


def _counted(fn):
    """A function whose output size depends on the data: CuPy reads a count back to size it
    (a synchronisation), counted as a device -> host transfer."""
    def counted(*args, **kwargs):
        count_transfer()
        return fn(*args, **kwargs)
    counted.__name__, counted.__doc__ = fn.__name__, fn.__doc__
    return counted


class _Ufunc:
    """A NumPy ufunc over device arrays (call, reduce, accumulate, outer, at)."""

    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__

    def __call__(self, *args, **kwargs):
        return unwrap_call(self._uf, args, kwargs)

    def __getattr__(self, name):
        attr = getattr(self._uf, name)
        if callable(attr):
            return lambda *args, **kwargs: unwrap_call(attr, args, kwargs)
        return attr

    def __repr__(self):
        return f"<emulated ufunc {self.__name__!r}>"


class _WrappedModule(types.ModuleType):
    """A NumPy submodule (linalg, fft) whose functions take and return device arrays."""

    def __init__(self, name, np_module, names):
        super().__init__(name)
        self._np = np_module
        self._names = names

    def __getattr__(self, name):
        if name not in self._names:
            raise AttributeError(f"{self.__name__}: CuPy has no {name!r}")
        attr = getattr(self._np, name)
        value = _wrap_function(attr, name) if callable(attr) and not isinstance(attr, type) else attr
        setattr(self, name, value)
        return value


def __getattr__(name):
    if name not in _cupy_names.TOP or name in _NOT_DEVICE:
        raise AttributeError(f"module 'fakecupy' (emulated cupy) has no attribute {name!r}"
                             + ("" if name.startswith("__") else
                                " (CuPy has no such name, or it reads host memory)"))
    attr = getattr(_np, name)
    if isinstance(attr, _np.ufunc):
        value = _Ufunc(attr)
    elif isinstance(attr, (type, _np.dtype)) or not callable(attr):
        value = attr  # dtypes and scalar types (float32 ...), constants (pi, inf, newaxis)
    elif name in SIZE_FROM_DATA:
        value = _counted(_wrap_function(attr, name))
    else:
        value = _wrap_function(attr, name)
    globals()[name] = value
    return value


# ---- explicit transfers and allocation ---------------------------------------------------------
def asarray(a, dtype=None, order=None, *, blocking=True):
    """A device array of ``a``: an EmuArray itself (cast if ``dtype`` differs), anything else
    copied to the device (so later writes to the host array do not reach it, as on a GPU)."""
    if isinstance(a, EmuArray):
        if dtype is None or _np.dtype(dtype) == a.dtype:
            return a
        return _copy_in(a._a, dtype)
    return _copy_in(_np.asarray(a, dtype=dtype), None)


def _copy_in(host: _np.ndarray, dtype) -> EmuArray:
    out = allocate(host.shape, host.dtype if dtype is None else dtype, garbage=False)
    _np.copyto(out._a, host, casting="unsafe")
    return out


asanyarray = asarray


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=True):
    if isinstance(obj, EmuArray):
        return EmuArray._from_numpy(_np.array(obj._a, dtype=dtype, copy=copy, order=order,
                                              ndmin=ndmin))
    host = _np.array(unwrap(obj) if isinstance(obj, (list, tuple)) else obj, dtype=dtype,
                     copy=False if isinstance(obj, _np.ndarray) else None, ndmin=ndmin)
    return _copy_in(host, None)


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    """A NumPy array of ``a`` (device arrays copied to the host; host data passed through)."""
    if isinstance(a, EmuArray):
        return a.get(order=order, out=out)
    return _np.asarray(a, order=order)


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, EmuArray):
        raise TypeError(f"{IMPLICIT} (ascontiguousarray of a {type(a).__name__}: use asarray)")
    if a._a.flags.c_contiguous and (dtype is None or _np.dtype(dtype) == a.dtype):
        return a
    return _copy_in(a._a, dtype)


class transfer_stats:
    """Counts device -> host transfers (each a synchronisation on a GPU): ``.get()``,
    ``asnumpy``, a 0-d array's ``float`` / ``int`` / ``bool`` / ``item`` / ``__index__``, and
    the reads CuPy does itself to size a result (``nonzero``, ``flatnonzero``, ``argwhere``,
    ``unique``, ``extract``, ``compress``, indexing with a boolean mask)::

        with fakecupy.transfer_stats() as t:
            model.fit(x, y, verbose=0)
        t.count  # transfers made inside the block (live while it runs)
    """

    def __enter__(self):
        self._start, self._end = transfer_count(), None
        return self

    def __exit__(self, *exc):
        self._end = transfer_count()
        return False

    @property
    def count(self) -> int:
        return (transfer_count() if self._end is None else self._end) - self._start


def get_array_module(*args):
    """This module if any argument is a device array, else numpy (as cupy.get_array_module)."""
    return sys.modules[__name__] if any(isinstance(a, EmuArray) for a in args) else _np


# Allocation: guarded buffers (memory.py), so kernels writing out of bounds are caught.
def empty(shape, dtype=float, order="C"):
    """Uninitialised device memory: filled with NaN (floats) / all-ones bytes (integers) so
    that code reading it before writing gives visibly wrong results instead of lucky zeros."""
    return allocate(shape, dtype, order)


def zeros(shape, dtype=float, order="C"):
    out = allocate(shape, dtype, order, garbage=False)
    out._a.fill(0)
    return out


def ones(shape, dtype=float, order="C"):
    out = allocate(shape, dtype, order, garbage=False)
    out._a.fill(1)
    return out


def full(shape, fill_value, dtype=None, order="C"):
    fill = unwrap(fill_value)
    out = allocate(shape, _np.result_type(fill) if dtype is None else dtype, order, garbage=False)
    out._a[...] = fill
    return out


def _like(prototype, dtype, shape, name):
    if not isinstance(prototype, EmuArray):
        raise TypeError(f"{IMPLICIT} ({name} of a {type(prototype).__name__})")
    return (prototype.shape if shape is None else shape), (prototype.dtype if dtype is None else dtype)


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    return empty(*_like(prototype, dtype, shape, "empty_like"))


def zeros_like(prototype, dtype=None, order="K", subok=None, shape=None):
    return zeros(*_like(prototype, dtype, shape, "zeros_like"))


def ones_like(prototype, dtype=None, order="K", subok=None, shape=None):
    return ones(*_like(prototype, dtype, shape, "ones_like"))


def full_like(a, fill_value, dtype=None, order="K", subok=None, shape=None):
    shape, dtype = _like(a, dtype, shape, "full_like")
    return full(shape, fill_value, dtype)


class _MemoryPool:
    """cupy.get_default_memory_pool() subset (emulated memory is NumPy's)."""

    def used_bytes(self) -> int:
        return 0

    def total_bytes(self) -> int:
        return 0

    def free_all_blocks(self, stream=None) -> None:
        return None

    def set_limit(self, size=None, fraction=None) -> None:
        return None


_pool, _pinned_pool = _MemoryPool(), _MemoryPool()


def get_default_memory_pool():
    return _pool


def get_default_pinned_memory_pool():
    return _pinned_pool


from . import _cuda as cuda  # noqa: E402  (streams, events, pinned memory, devices)
from . import _random as random  # noqa: E402

linalg = _WrappedModule("fakecupy.linalg", _np.linalg, _cupy_names.LINALG)
fft = _WrappedModule("fakecupy.fft", _np.fft, _cupy_names.FFT)


def RawModule(code=None, *, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
              enable_cooperative_groups=False, name_expressions=None, jitify=False):
    """The emulated cupy.RawModule (compiled with g++ for the CPU)."""
    from .module import EmuModule
    return EmuModule(code, path=path, options=options)


def RawKernel(code, name, options=(), backend="nvrtc", translate_cucomplex=False,
              enable_cooperative_groups=False, jitify=False):
    """The emulated cupy.RawKernel."""
    return RawModule(code, options=options).get_function(name)


__all__ = ["ndarray", "asarray", "array", "asnumpy", "transfer_stats", "transfer_count", "ascontiguousarray", "get_array_module",
           "empty", "zeros", "ones", "full", "empty_like", "zeros_like", "ones_like", "full_like",
           "get_default_memory_pool", "get_default_pinned_memory_pool", "cuda", "random", "linalg", "fft", "RawModule", "RawKernel",
           "Device"]
