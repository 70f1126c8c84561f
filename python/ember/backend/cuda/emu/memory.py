"""Emulated device allocations with guard bytes, so an out-of-bounds kernel write is caught.

``allocate`` returns an ``EmuArray`` whose buffer sits between two 64-byte guard zones filled
with a fixed pattern; after every launch ``check_guards`` verifies the zones of the arrays
passed to the kernel and names the parameter a kernel wrote past (on a GPU that write would
corrupt a neighbouring allocation silently). Fresh memory is filled with NaN (floats) or
all-ones bytes (integers), so reading ``empty()`` before writing it gives visibly wrong results.
"""
from __future__ import annotations

import weakref

import numpy as np

from .array import EmuArray

GUARD = 64
_PATTERN = 0xA5
_PATTERN_BYTES = bytes([_PATTERN]) * GUARD
# id(raw buffer) -> weak reference to it, for every live guarded allocation: any view of one
# (reshape, slice, transpose) has the raw buffer as its NumPy base, so launches through views
# are checked too.
_GUARDED: dict = {}


def _forget(key):
    return lambda _ref: _GUARDED.pop(key, None)


def guard_of(a: np.ndarray):
    """The guarded raw buffer under ``a``, or None."""
    base = a.base
    if base is None:
        return None
    ref = _GUARDED.get(id(base))
    return base if ref is not None and ref() is base else None


def fill_garbage(a: np.ndarray) -> np.ndarray:
    """Fill "uninitialised" memory: NaN for floats, all-ones bytes for everything else."""
    if a.dtype.kind in "fc":
        a.fill(np.nan)
    elif a.size:
        a.reshape(-1).view(np.uint8).fill(0xFF)
    return a


def allocate(shape, dtype=float, order="C", garbage=True) -> EmuArray:
    """A new guarded device array (uninitialised-looking unless ``garbage`` is False)."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if order not in ("C", "K", "A", None) or dtype.hasobject:
        a = np.empty(shape, dtype=dtype, order=order)
        return EmuArray._from_numpy(fill_garbage(a) if garbage else a)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + 2 * GUARD, dtype=np.uint8)
    raw[:GUARD] = _PATTERN
    raw[GUARD + nbytes:] = _PATTERN
    a = raw[GUARD:GUARD + nbytes].view(dtype).reshape(shape)
    if garbage:
        fill_garbage(a)
    _GUARDED[id(raw)] = weakref.ref(raw, _forget(id(raw)))
    return EmuArray._from_numpy(a)


def check_guards(kernel: str, params, args) -> None:
    """Raise if the launch of ``kernel`` wrote into the guard zone of an argument."""
    for p, a in zip(params, args):
        raw = guard_of(a._a) if p.pointer else None
        if raw is None:
            continue
        before, after = raw[:GUARD], raw[-GUARD:]
        if before.tobytes() == _PATTERN_BYTES and after.tobytes() == _PATTERN_BYTES:
            continue
        side = "after the end" if after.tobytes() != _PATTERN_BYTES else "before the start"
        before[:] = _PATTERN
        after[:] = _PATTERN
        from .module import EmuLaunchError
        raise EmuLaunchError(
            f"kernel {kernel} (emulated) wrote outside parameter {p.describe()}: bytes {side} of "
            f"its buffer (shape {a.shape}, dtype {a.dtype}) changed. On a GPU this corrupts "
            "another allocation silently")
