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

from .array import IMPLICIT, Device, EmuArray, _garbage, unwrap, unwrap_call, wrap

ndarray = EmuArray
__version__ = "emulated"
is_emulated = True

# Host-side NumPy names that would read or write host memory behind the caller's back.
_NOT_DEVICE = frozenset({"save", "savez", "savez_compressed", "load", "loadtxt", "savetxt",
                         "genfromtxt", "fromfile", "frombuffer", "fromstring", "memmap",
                         "asanyarray", "asarray_chkfinite", "require", "ctypeslib", "lib",
                         "testing", "char", "rec", "ma", "polynomial", "typing"})


def _wrap_function(fn, name=None):
    def wrapped(*args, **kwargs):
        return unwrap_call(fn, args, kwargs)
    wrapped.__name__ = name or getattr(fn, "__name__", "function")
    wrapped.__doc__ = f"Emulated cupy.{wrapped.__name__} (NumPy's, on EmuArray)."
    return wrapped


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

    def __init__(self, name, np_module):
        super().__init__(name)
        self._np = np_module

    def __getattr__(self, name):
        attr = getattr(self._np, name)
        value = _wrap_function(attr, name) if callable(attr) and not isinstance(attr, type) else attr
        setattr(self, name, value)
        return value


def __getattr__(name):
    if name.startswith("__") or name in _NOT_DEVICE:
        raise AttributeError(f"module 'fakecupy' (emulated cupy) has no attribute {name!r}")
    attr = getattr(_np, name)  # AttributeError for names NumPy lacks
    if isinstance(attr, _np.ufunc):
        value = _Ufunc(attr)
    elif isinstance(attr, (type, _np.dtype)) or not callable(attr):
        value = attr  # dtypes and scalar types (float32 ...), constants (pi, inf, newaxis)
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
        return EmuArray._from_numpy(a._a.astype(dtype))
    return EmuArray._from_numpy(_np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=True):
    if isinstance(obj, EmuArray):
        out = _np.array(obj._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin)
    else:
        out = _np.array(unwrap(obj) if isinstance(obj, (list, tuple)) else obj, dtype=dtype,
                        copy=True, order=order, ndmin=ndmin)
    return EmuArray._from_numpy(out)


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    """A NumPy array of ``a`` (device arrays copied to the host; host data passed through)."""
    if isinstance(a, EmuArray):
        return a.get(order=order, out=out)
    return _np.asarray(a, order=order)


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, EmuArray):
        raise TypeError(f"{IMPLICIT} (ascontiguousarray of a {type(a).__name__}: use asarray)")
    return EmuArray._from_numpy(_np.ascontiguousarray(a._a, dtype=dtype))


def get_array_module(*args):
    """This module if any argument is a device array, else numpy (as cupy.get_array_module)."""
    return sys.modules[__name__] if any(isinstance(a, EmuArray) for a in args) else _np


def empty(shape, dtype=float, order="C"):
    """Uninitialised device memory: filled with NaN (floats) / all-ones bytes (integers) so
    that code reading it before writing gives visibly wrong results instead of lucky zeros."""
    return EmuArray._from_numpy(_garbage(_np.empty(shape, dtype=dtype, order=order)))


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    if not isinstance(prototype, EmuArray):
        raise TypeError(f"{IMPLICIT} (empty_like of a {type(prototype).__name__})")
    return EmuArray._from_numpy(_garbage(_np.empty_like(prototype._a, dtype=dtype, order=order,
                                                        shape=shape)))


from . import _cuda as cuda  # noqa: E402  (streams, events, pinned memory, devices)
from . import _random as random  # noqa: E402

linalg = _WrappedModule("fakecupy.linalg", _np.linalg)
fft = _WrappedModule("fakecupy.fft", _np.fft)


def RawModule(code=None, *, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
              enable_cooperative_groups=False, name_expressions=None, jitify=False):
    """The emulated cupy.RawModule (compiled with g++ for the CPU)."""
    from .module import EmuModule
    return EmuModule(code, path=path, options=options)


def RawKernel(code, name, options=(), backend="nvrtc", translate_cucomplex=False,
              enable_cooperative_groups=False, jitify=False):
    """The emulated cupy.RawKernel."""
    return RawModule(code, options=options).get_function(name)


__all__ = ["ndarray", "asarray", "array", "asnumpy", "ascontiguousarray", "get_array_module",
           "empty", "empty_like", "cuda", "random", "linalg", "fft", "RawModule", "RawKernel",
           "Device"]
