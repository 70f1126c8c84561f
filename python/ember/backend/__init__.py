"""Array backends: the seam between ember's ops and where arrays live.

The array type is the device: NumPy arrays live on the CPU (``backend.cpu``: NumPy +
ember's C++ kernels), CuPy arrays on a GPU (``backend.cuda``: CuPy + .cu kernels; in the
test mode ``EMBER_CUDA_EMULATION=1`` the device arrays are ``EmuArray`` and the kernels
run emulated on the host). Ops ask ``xp(array)`` for the array module of their data and
``ops(array)`` for its kernel set (``interface.KernelBackend``); nothing else decides.

CuPy is imported only when the CUDA backend is first needed (``set_device("cuda")``,
``to_device(a, "cuda")``, or a CuPy array handed to ember), never at ``import ember``.
Until then the dispatch is one ``isinstance`` check against an empty tuple.
"""
from __future__ import annotations

import os

import numpy as np

from . import cpu

DEVICES = ("cpu", "cuda")

# Device array types (cupy.ndarray or EmuArray) once the CUDA backend is loaded; empty
# before, so the CPU path pays one isinstance check against () per dispatch.
_DEVICE_TYPES: tuple = ()
_cuda = None      # ember.backend.cuda once loaded
_cuda_xp = None   # cupy or the emulator's fakecupy
_cuda_mode = None  # whether _cuda was checked in emulation (True) or on a real GPU (False)


def _load_cuda():
    """Import the CUDA backend (and CuPy or the emulator), check it can run (a clear
    RuntimeError when CuPy or a GPU is missing) and register its array type."""
    global _DEVICE_TYPES, _cuda, _cuda_xp, _cuda_mode
    try:
        from . import cuda as cuda_backend
    except ImportError as e:
        raise RuntimeError(f"ember's CUDA device is not available: the CUDA backend could not be imported ({e}); "
                           "install ember's CUDA extra: pip install \"ember[cuda]\"") from e
    mode = cuda_backend.runtime.emulating()
    if _cuda is not None and mode == _cuda_mode:
        return _cuda  # checked already (the per-batch and per-weight calls stay cheap)
    cuda_backend.require_available()
    xp_mod = cuda_backend.runtime.xp()  # cupy, or the emulator's fakecupy
    if xp_mod.ndarray not in _DEVICE_TYPES:
        _DEVICE_TYPES = _DEVICE_TYPES + (xp_mod.ndarray,)
    _cuda, _cuda_xp, _cuda_mode = cuda_backend, xp_mod, mode
    return _cuda


def _is_foreign_device_array(x) -> bool:
    """A CuPy array (or the emulator's) handed to ember before the CUDA backend was loaded."""
    mod = type(x).__module__ or ""
    if not (mod.startswith("cupy") or mod.startswith("ember.backend.cuda")):
        return False
    _load_cuda()
    return isinstance(x, _DEVICE_TYPES)


def is_array(x) -> bool:
    """True for an array of a known backend (NumPy, or the CUDA backend's device arrays)."""
    if isinstance(x, np.ndarray) or (_DEVICE_TYPES and isinstance(x, _DEVICE_TYPES)):
        return True
    return _is_foreign_device_array(x)


def is_device_array(x) -> bool:
    """True for an array that lives on a GPU (or the emulated one)."""
    return bool(_DEVICE_TYPES) and isinstance(x, _DEVICE_TYPES)


def xp(*arrays):
    """The array module (numpy-compatible) of the arrays: ``numpy`` for host data, ``cupy``
    (or the emulator's ``fakecupy``) when any of them is a device array."""
    if _DEVICE_TYPES:
        for a in arrays:
            if isinstance(a, _DEVICE_TYPES):
                return _cuda_xp
    return np


def ops(*arrays):
    """The kernel module (an ``interface.KernelBackend``) for the arrays' device."""
    if _DEVICE_TYPES:
        for a in arrays:
            if isinstance(a, _DEVICE_TYPES):
                return _cuda
    return cpu


def device_of(array) -> str:
    """"cuda" for a device array, else "cpu"."""
    return "cuda" if _DEVICE_TYPES and isinstance(array, _DEVICE_TYPES) else "cpu"


def to_numpy(array) -> np.ndarray:
    """A NumPy array with the values of ``array`` (no copy on the CPU; a device-to-host copy
    for a device array)."""
    if isinstance(array, np.ndarray):
        return array
    if _DEVICE_TYPES and isinstance(array, _DEVICE_TYPES):
        return array.get()
    if _is_foreign_device_array(array):
        return array.get()
    return np.asarray(array)


def to_device(array, device: str = None):
    """``array`` on ``device`` ("cpu" or "cuda"; default: the current device). No copy when it
    is already there."""
    if device is None:
        device = _current if _current is not None else get_device()
        if device == "cpu" and type(array) is np.ndarray:  # the CPU's fast path (per weight and batch)
            return array
    device = check_device(device)
    if device == "cpu":
        return to_numpy(array)
    _load_cuda()
    if isinstance(array, _DEVICE_TYPES):
        return array
    return _cuda_xp.asarray(to_numpy(array))


def require_host(op: str, *arrays) -> None:
    """Raise for an op that has no GPU implementation when given device arrays: a clear
    NotImplementedError naming the op and the device, never a silent copy through the host."""
    if _DEVICE_TYPES and any(isinstance(a, _DEVICE_TYPES) for a in arrays):
        raise NotImplementedError(f"{op}: no CUDA implementation; it runs on the CPU only. Received: arrays on "
                                  "device 'cuda' (move them with Tensor.to('cpu') or ember.set_device('cpu'))")


# ---------------------------------------------------------------------------------------
# The current device (where layers create weights and fit/evaluate/predict put batches)
# ---------------------------------------------------------------------------------------

def check_device(device) -> str:
    name = str(device).lower()
    if name.startswith("cuda:"):  # a single-GPU backend: cuda:0 is the one device
        name = "cuda" if name == "cuda:0" else name
    if name == "gpu":
        name = "cuda"
    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES} (or 'cuda:0', 'gpu'). Received: device={device!r}")
    return name


def _env_device() -> str:
    raw = os.environ.get("EMBER_DEVICE", "").strip()
    if not raw:
        return "cpu"
    try:
        return check_device(raw)
    except ValueError as e:
        raise ValueError(f"EMBER_DEVICE: {e}") from None


_current = None  # resolved from EMBER_DEVICE on first use (so import ember never loads CuPy)


def get_device() -> str:
    """The current device: "cpu" (default) or "cuda" (``set_device`` or env EMBER_DEVICE)."""
    global _current
    if _current is None:
        _current = _env_device()
    return _current


def set_device(device: str) -> None:
    """Make ``device`` ("cpu" or "cuda") current: new weights are created there and
    fit / evaluate / predict run there. "cuda" needs CuPy and a GPU (or the emulation mode)
    and raises a clear RuntimeError otherwise."""
    global _current
    name = check_device(device)
    if name == "cuda":
        _load_cuda()
    _current = name


def current_xp():
    """The array module of the current device (loads the CUDA backend when it is current)."""
    if get_device() == "cpu":
        return np
    _load_cuda()
    return _cuda_xp
