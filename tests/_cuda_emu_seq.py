"""Shared helpers of the emulated CUDA sequence-kernel tests (softmax, layer norm, attention,
recurrent cells): device arrays are the emulator's EmuArrays, so any host leak raises."""
import numpy as np
import pytest

from ember.backend import cpu
from ember.backend.cuda import runtime

#: (rtol, atol) per dtype for kernel-vs-CPU comparisons (the summation orders differ)
TOL = {np.float32: (2e-5, 2e-6), np.float64: (1e-12, 1e-13)}
DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def emulation():
    """Every test runs the CUDA backend in emulation (the previous setting is put back)."""
    with runtime.emulation():
        yield


def dev(a):
    """A host array (or None) on the emulated device."""
    return None if a is None else runtime.xp().asarray(a)


def host(a):
    """A device result back on the host; fails when it is not a device array (a host leak)."""
    assert isinstance(a, runtime.xp().ndarray), f"expected a device array, got {type(a).__name__}"
    return a.get()


def close(got, want, dtype, scale=1.0, norm=False):
    """Device result ``got`` equals the CPU's ``want`` to the dtype's tolerance (NaN where NaN).

    ``norm``: the absolute tolerance also grows with the array's largest finite magnitude, for
    results of long sums (GEMMs over time steps) whose small elements come from cancellation:
    there both backends' float32 rounding is relative to the terms, not to the result.
    """
    rtol, atol = TOL[np.dtype(dtype).type]
    g, want = host(got), np.asarray(want)
    assert g.dtype == want.dtype and g.shape == want.shape, (g.dtype, g.shape)
    atol = atol * scale
    if norm and want.size and np.isfinite(want).any():
        atol += rtol * float(np.abs(want[np.isfinite(want)]).max())
    np.testing.assert_allclose(g, want, rtol=rtol, atol=atol, equal_nan=True)


def rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


__all__ = ["TOL", "DTYPES", "emulation", "dev", "host", "close", "rand", "cpu"]
