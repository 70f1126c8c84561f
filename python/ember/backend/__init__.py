"""Array backends: the seam between ember's ops and where arrays live.

The CPU backend (``cpu``) uses NumPy arrays and ember's C++ kernels. Ops ask
``backend.xp(array)`` for the array module of their data and ``backend.ops(array)`` for
the kernel set, so a CuPy backend can slot in beside ``cpu`` without touching the ops.
"""
from __future__ import annotations

import numpy as np

from . import cpu


def is_array(x) -> bool:
    """True for an array of a known backend (NumPy; CuPy when a GPU backend is added)."""
    return isinstance(x, np.ndarray)


def xp(array):
    """The array module (numpy-compatible) that holds ``array``."""
    return np


def ops(array):
    """The kernel module for ``array``'s device."""
    return cpu


def to_numpy(array) -> np.ndarray:
    """A NumPy array with the values of ``array`` (no copy on the CPU)."""
    return np.asarray(array)
