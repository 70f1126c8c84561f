"""CUDA backend: CuPy arrays, cuBLAS for GEMM, every other kernel of
``ember.backend.interface.KernelBackend`` a .cu kernel (``kernels/``) compiled by NVRTC
through ``cupy.RawModule`` on first use.

``runtime`` is the one place that knows whether the device is real (CuPy) or emulated
(``EMBER_CUDA_EMULATION=1``: ``EmuArray`` device arrays, the .cu sources compiled for the
host). The kernel functions live one family per module beside this file (same names,
parameters and returns as ``backend.cpu``); this package re-exports them all, so
``backend.ops(a)`` for a device array is this module.
"""
from __future__ import annotations

import importlib
import os
import pkgutil

from . import runtime  # imports no CuPy by itself

_NOT_FAMILIES = {"runtime", "emu", "kernels"}

#: public functions of this package that are not kernels (tests/test_backend_interface.py)
NON_KERNEL_API = ("is_available", "require_available")


def _missing_reason():
    """None when the CUDA backend can run here (a GPU through CuPy, or the emulation mode),
    else why not (for the error message)."""
    if runtime.emulating():
        return None
    return runtime.unavailable_reason()


def is_available() -> bool:
    """True when ember can run on a GPU here: CuPy imports and sees a device (or the
    emulation mode is on)."""
    return _missing_reason() is None


def require_available() -> None:
    """Raise a RuntimeError saying what is missing when the CUDA backend cannot run."""
    why = _missing_reason()
    if why is not None:
        raise RuntimeError(f"ember's CUDA device is not available: {why}. Use ember.set_device('cpu'), or set "
                           "EMBER_CUDA_EMULATION=1 to run the CUDA backend emulated on the CPU (tests only).")


def _families():
    here = os.path.dirname(__file__)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if m.name not in _NOT_FAMILIES
                  and not m.name.startswith("_"))


def _export_families():
    names = {}
    for fam in _families():
        mod = importlib.import_module(f"{__name__}.{fam}")
        for n in getattr(mod, "__all__", [n for n in vars(mod) if not n.startswith("_")]):
            obj = getattr(mod, n)
            if callable(obj) and getattr(obj, "__module__", "") == mod.__name__:
                if n in names:
                    raise ImportError(f"ember.backend.cuda: {n} is defined by both {names[n]} and {fam}")
                names[n] = fam
                globals()[n] = obj
    return names


#: kernel function name -> the family module that defines it
FAMILY_OF = _export_families()


def __getattr__(name):
    # An interface kernel no family defines yet: a clear error, never a host fallback.
    from ..interface import KERNEL_FUNCTIONS
    if name in KERNEL_FUNCTIONS:
        raise NotImplementedError(f"{name}: no CUDA implementation in ember.backend.cuda (device 'cuda'); "
                                  "it runs on the CPU only")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
