"""The real-GPU parity table (tests/gpu/kernel_cases.py) run against the emulated CUDA
backend: every kernel of the interface is called, and the emulated results match the CPU
backend (so the table the GPU machine runs is itself exercised in CI)."""
import shutil

import numpy as np
import pytest

from ember.backend import cpu

if shutil.which("g++") is None:
    pytest.skip("the CUDA emulator needs g++", allow_module_level=True)
runtime = pytest.importorskip("ember.backend.cuda.runtime", reason="the CUDA backend runtime is not installed")
from gpu import kernel_cases, training_run  # noqa: E402  (tests/gpu, a namespace package beside this file)


@pytest.fixture
def cuda():
    import ember.backend.cuda as cuda_backend
    with runtime.emulation():
        yield cuda_backend


def _dev(a):
    return runtime.xp().asarray(a) if isinstance(a, np.ndarray) else a


def _host(a):
    assert isinstance(a, runtime.xp().ndarray), f"the CUDA backend returned a {type(a).__name__}, not a device array"
    return a.get()


@pytest.mark.parametrize("case", sorted(kernel_cases.CASES))
@pytest.mark.parametrize("dtype,rtol,atol", [(np.float64, 1e-10, 1e-12), (np.float32, 1e-4, 1e-5)])
def test_every_kernel_matches_the_cpu_emulated(cuda, case, dtype, rtol, atol):
    kernel_cases.check_case(case, dtype, cpu, cuda, _dev, _host, rtol, atol)


def test_the_table_covers_the_interface():
    from ember.backend.interface import KERNEL_FUNCTIONS
    assert kernel_cases.covered() == set(KERNEL_FUNCTIONS)


def test_the_gpu_training_run_passes_emulated(cuda):
    training_run.seed_cnn_run(n=256, epochs=1)
