"""Every kernel of the backend interface on the CUDA backend against the CPU backend, on
small odd shapes and on shapes past the launch geometry (tests/gpu/kernel_cases.py):
float64 to 1e-10 relative, float32 to 1e-4; backward kernels on their own forward's saved
values; in-place optimizer and running-statistics updates compared after the call."""
from __future__ import annotations

import numpy as np
import pytest

from ember.backend import cpu

import kernel_cases  # beside this file

DTYPES = [pytest.param(np.float64, 1e-10, 1e-12, id="float64"), pytest.param(np.float32, 1e-4, 1e-5, id="float32")]


@pytest.mark.parametrize("big", [False, True], ids=["small", "big"])
@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("case", sorted(kernel_cases.CASES))
def test_every_kernel_matches_the_cpu(cuda_backend, to_dev, to_host, case, dtype, rtol, atol, big):
    kernel_cases.check_case(case, dtype, cpu, cuda_backend, to_dev, to_host, rtol, atol, big=big)


def test_the_tables_cover_the_interface():
    from ember.backend.interface import KERNEL_FUNCTIONS
    assert kernel_cases.covered(False) == set(KERNEL_FUNCTIONS) == kernel_cases.covered(True)


def test_kernels_return_device_arrays_and_leave_inputs_alone(cuda_backend, xp, to_dev):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 11)).astype(np.float32)
    d = to_dev(x)
    y = cuda_backend.softmax_lastaxis(d)
    assert isinstance(y, xp.ndarray) and y is not d
    np.testing.assert_array_equal(d.get(), x)


def test_repeated_launches_give_the_same_bits(cuda_backend, to_dev, to_host):
    """No atomics: a reduction summed twice gives the same bits."""
    rng = np.random.default_rng(1)
    dy, x = (to_dev(rng.standard_normal((4099, 33)).astype(np.float32)) for _ in range(2))
    gamma = to_dev(rng.standard_normal(33).astype(np.float32))
    _, mean, invstd = cuda_backend.batch_norm_train(x, gamma, gamma, to_dev(np.zeros(33, np.float32)),
                                                    to_dev(np.ones(33, np.float32)), 1e-3, 0.9)
    a = [to_host(r) for r in cuda_backend.batch_norm_backward(dy, x, gamma, mean, invstd)]
    b = [to_host(r) for r in cuda_backend.batch_norm_backward(dy, x, gamma, mean, invstd)]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
