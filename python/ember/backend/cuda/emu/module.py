"""EmuModule / EmuKernel: CuPy's RawModule / RawKernel interface over the CPU emulator.

``EmuModule(code=src, options=(...)).get_function(name)`` returns an ``EmuKernel`` called as
CuPy's ``RawKernel``: ``kernel(grid, block, args, shared_mem=0)``. Unlike CuPy, every argument
is checked against the kernel's C signature before launch, so the emulated test runs catch what
would be silent corruption on a GPU: a host (NumPy) array or Python number passed to a kernel, a
float64 array given to a ``float*``, a Python int for an ``int`` (CuPy passes it as 64 bits).
"""
from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

from .array import EmuArray
from .memory import check_guards
from .build import POINTEE, SCALARS, EmuCompileError, Param, build

__all__ = ["EmuModule", "EmuKernel", "EmuLaunchError", "EmuCompileError"]

MAX_THREADS_PER_BLOCK = 1024
MAX_BLOCK = (1024, 1024, 64)
MAX_GRID = (2**31 - 1, 65535, 65535)
DEFAULT_MAX_DYNAMIC_SHARED = 48 * 1024


class EmuLaunchError(RuntimeError):
    """A launch the GPU would reject (bad configuration) or a kernel fault found by the emulator."""


class _Config(ctypes.Structure):
    _fields_ = [("grid", ctypes.c_uint * 3), ("block", ctypes.c_uint * 3),
                ("shared_bytes", ctypes.c_ulonglong)]


_ERRLEN = 1024


def _dims(kernel: str, what: str, value, limits) -> tuple[int, int, int]:
    if type(value) is int and 1 <= value <= limits[0]:
        return (value, 1, 1)
    dims = (value,) if isinstance(value, (int, np.integer)) else value
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if not 1 <= len(dims) <= 3 or not all(isinstance(d, (int, np.integer)) for d in dims):
        raise EmuLaunchError(f"kernel {kernel}: {what} must be an int or a tuple of 1-3 ints. "
                             f"Received: {value!r}")
    dims = tuple(int(d) for d in dims) + (1,) * (3 - len(dims))
    if any(d < 1 or d > lim for d, lim in zip(dims, limits)):
        raise EmuLaunchError(f"kernel {kernel}: {what} {dims} outside the CUDA limits "
                             f"(1..{limits} per dimension). Received: {value!r}")
    return dims


class EmuKernel:
    """One emulated kernel; call like ``cupy.RawKernel``."""

    def __init__(self, module: "EmuModule", name: str, params: tuple[Param, ...]):
        self.module = module
        self.name = name
        self.params = params
        self.max_dynamic_shared_size_bytes = DEFAULT_MAX_DYNAMIC_SHARED
        fn = getattr(module._lib, f"ember_emu_launch_{name}")
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.POINTER(_Config), ctypes.c_char_p, ctypes.c_int] + [
            ctypes.c_void_p if p.pointer else getattr(ctypes, SCALARS[p.ctype][0]) for p in params]
        self._fn = fn
        self._want = tuple(np.dtype(POINTEE[p.ctype]) if p.pointer
                           else np.dtype(SCALARS[p.ctype][1]).type for p in params)

    def __repr__(self) -> str:
        sig = ", ".join(p.describe() for p in self.params)
        return f"<EmuKernel {self.name}({sig})>"

    def _convert(self, args) -> list:
        if not isinstance(args, tuple):
            raise TypeError(f"kernel {self.name}: args must be a tuple (as cupy.RawKernel). "
                            f"Received: {type(args).__name__}")
        if len(args) != len(self.params):
            raise TypeError(f"kernel {self.name} takes {len(self.params)} arguments "
                            f"({', '.join(p.describe() for p in self.params)}). "
                            f"Received: {len(args)}")
        values = []
        for p, want, a in zip(self.params, self._want, args):
            if p.pointer:
                arr = a._a if isinstance(a, EmuArray) else None
                if arr is None or arr.dtype != want or not arr.flags.c_contiguous or (
                        not p.const and not arr.flags.writeable):
                    self._reject(p, a)
                values.append(a.data.ptr if arr.size else None)
            else:
                if type(a) is not want:
                    self._reject(p, a)
                values.append(a.item())
        return values

    def _reject(self, p: Param, a):
        """Raise the TypeError that says why ``a`` cannot be passed as ``p``."""
        where = f"kernel {self.name}, parameter {p.describe()}"
        if not p.pointer:
            want = np.dtype(SCALARS[p.ctype][1]).type
            raise TypeError(f"{where}: expected a numpy.{want.__name__} scalar (CuPy passes "
                            f"Python numbers as 64-bit values whatever the C type). "
                            f"Received: {type(a).__name__} {a!r}")
        if not isinstance(a, EmuArray):
            kind = "a host NumPy array" if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"{where}: expected a device array of {POINTEE[p.ctype]}. "
                            f"Received: {kind}")
        arr = a._a
        if arr.dtype != np.dtype(POINTEE[p.ctype]):
            raise TypeError(f"{where}: expected a device array of {POINTEE[p.ctype]}. "
                            f"Received: an array of {arr.dtype}")
        if not arr.flags.c_contiguous:
            raise TypeError(f"{where}: the kernel indexes a raw pointer, the array must be "
                            f"C-contiguous. Received: shape {arr.shape}, strides {arr.strides}")
        raise TypeError(f"{where}: the kernel writes through this pointer; the array is read-only")

    def __call__(self, grid, block, args, *, shared_mem: int = 0, stream=None) -> None:
        grid = _dims(self.name, "grid", grid, MAX_GRID)
        block = _dims(self.name, "block", block, MAX_BLOCK)
        if block[0] * block[1] * block[2] > MAX_THREADS_PER_BLOCK:
            raise EmuLaunchError(f"kernel {self.name}: a block holds at most "
                                 f"{MAX_THREADS_PER_BLOCK} threads. Received: block {block}")
        shared_mem = int(shared_mem)
        if not 0 <= shared_mem <= self.max_dynamic_shared_size_bytes:
            raise EmuLaunchError(
                f"kernel {self.name}: shared_mem must be in [0, "
                f"{self.max_dynamic_shared_size_bytes}] bytes (raise "
                f"max_dynamic_shared_size_bytes for more). Received: {shared_mem}")
        values = self._convert(args)
        cfg = _Config((ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block), shared_mem)
        err = ctypes.create_string_buffer(_ERRLEN)
        rc = self._fn(ctypes.byref(cfg), err, _ERRLEN, *values)
        if rc != 0:
            raise EmuLaunchError(f"kernel {self.name} (emulated): {err.value.decode()}")
        check_guards(self.name, self.params, args)


class EmuModule:
    """Compiled (and cached) emulation of a CUDA source; like ``cupy.RawModule``."""

    _lock = threading.Lock()

    def __init__(self, code: str | None = None, *, path: str | None = None, options=(),
                 name: str = "module", backend=None, name_expressions=None, jitify=False):
        if (code is None) == (path is None):
            raise TypeError("EmuModule takes exactly one of code= and path=")
        if path is not None:
            with open(path, encoding="utf-8") as f:
                code = f.read()
        include_dirs = [os.path.abspath(o[2:]) for o in options if o.startswith("-I")]
        defines = [o[2:] for o in options if o.startswith("-D")]
        self.name = name
        self.code = code
        lib_path, self._signatures = build(code, include_dirs, name, defines)
        self._lib = ctypes.CDLL(str(lib_path))
        self._kernels: dict[str, EmuKernel] = {}

    def get_function(self, name: str) -> EmuKernel:
        with self._lock:
            k = self._kernels.get(name)
            if k is None:
                if name not in self._signatures:
                    raise RuntimeError(f"CUDA emulation: no kernel {name!r} in module "
                                       f"{self.name!r}; it has {sorted(self._signatures)}")
                k = self._kernels[name] = EmuKernel(self, name, self._signatures[name])
            return k

    @property
    def kernel_names(self) -> tuple[str, ...]:
        return tuple(self._signatures)
