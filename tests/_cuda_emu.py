"""Shared helpers of the emulated CUDA kernel tests (tests/test_cuda_emu_*.py).

The CUDA sources run on the CPU through the emulator (ember.backend.cuda.runtime in
emulation mode); inputs go in as device arrays (EmuArray), and every output must come back
as one (a host array would be a leak). Results are compared with backend.cpu.
"""
from __future__ import annotations

import contextlib
import shutil

import numpy as np
import pytest

from ember.backend import cpu

if shutil.which("g++") is None:
    pytest.skip("the CUDA emulator needs g++", allow_module_level=True)

runtime = pytest.importorskip("ember.backend.cuda.runtime", reason="the CUDA backend runtime is not installed")
from ember.backend.cuda import _launch  # noqa: E402

#: rtol per dtype: float32 kernels differ from the CPU's in summation order and libm only
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def emulation():
    """Every test of these modules runs the kernels emulated (the flag is put back after)."""
    with runtime.emulation():
        yield


def dev(a):
    """A device copy of a NumPy array (None stays None)."""
    return None if a is None else runtime.xp().asarray(np.ascontiguousarray(a))


def host(a):
    """The NumPy copy of a device result; fails when the backend returned a host array."""
    assert isinstance(a, runtime.xp().ndarray), f"expected a device array, got {type(a).__name__}"
    return a.get()


def close(got, want, dtype, scale=1.0, norm=False) -> None:
    """``got`` (device) matches ``want`` (NumPy) to the dtype's tolerance, NaN where NaN.

    ``scale`` multiplies the absolute tolerance. ``norm``: the absolute tolerance also grows
    with the array's largest finite magnitude, for results of long sums (GEMMs over time
    steps) whose small elements come from cancellation: there both backends' float32
    rounding is relative to the terms, not to the result.
    """
    g, want = host(got), np.asarray(want)
    assert g.dtype == want.dtype and g.shape == want.shape, (g.dtype, g.shape, want.dtype, want.shape)
    tol = TOL[np.dtype(dtype).type]
    rtol, atol = tol["rtol"], tol["atol"] * scale
    if norm and want.size and np.isfinite(want).any():
        atol += rtol * float(np.abs(want[np.isfinite(want)]).max())
    np.testing.assert_allclose(g, want, rtol=rtol, atol=atol, equal_nan=True)


def rand(rng, shape, dtype, nan_at=None):
    """Uniform values in [-2, 2); NaN at the flat positions ``nan_at``."""
    a = rng.uniform(-2.0, 2.0, size=shape).astype(dtype)
    if nan_at is not None and a.size:
        a.reshape(-1)[np.asarray(nan_at) % a.size] = np.nan
    return a


@contextlib.contextmanager
def launch_config(**cfg):
    """Run kernels with another launch geometry (block size, grid cap, reduction block)."""
    old = dict(_launch.LAUNCH)
    _launch.LAUNCH.update(cfg)
    try:
        yield
    finally:
        _launch.LAUNCH.clear()
        _launch.LAUNCH.update(old)


#: a small block and a capped grid (blocks stride over the rest), 64-bit index arithmetic:
#: against the default geometry with 32-bit indices
SMALL_LAUNCH = dict(block=32, max_blocks=3, reduce_block=32, index32=False)


def same_bits_across_launches(fn):
    """Runs ``fn()`` (-> tuple of device arrays / None) under the default and the small launch
    geometry and checks the results are bit-identical (NaN compared as NaN)."""
    a = fn()
    with launch_config(**SMALL_LAUNCH):
        b = fn()
    for x, y in zip(a, b):
        if x is None:
            assert y is None
            continue
        np.testing.assert_array_equal(host(x), host(y))


__all__ = ["emulation", "cpu", "runtime", "TOL", "DTYPES", "dev", "host", "close", "rand", "launch_config", "SMALL_LAUNCH",
           "same_bits_across_launches"]
