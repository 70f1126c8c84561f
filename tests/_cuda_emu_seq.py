"""Helpers of the emulated CUDA sequence-kernel tests (softmax, layer norm, attention,
recurrent cells): the shared ones of tests/_cuda_emu.py (the emulation fixture, dev / host /
close, the tolerances), plus normally distributed inputs."""
from _cuda_emu import DTYPES, TOL, close, cpu, dev, emulation, host  # noqa: F401  (re-exported)


def rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


__all__ = ["TOL", "DTYPES", "emulation", "dev", "host", "close", "rand", "cpu"]
