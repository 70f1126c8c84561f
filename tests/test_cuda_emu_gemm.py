"""CUDA gemm / matmul (cuBLAS through the array module's matmul), emulated, against backend.cpu."""
import importlib

import numpy as np
import pytest

from _cuda_emu import *  # noqa: F401,F403  (the emulation fixture, dev/host/close, cpu)
# the family module (ember.backend.cuda re-exports its function ``gemm`` under the same name)
cu = importlib.import_module("ember.backend.cuda.gemm")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("mnk", [(1, 1, 1), (7, 5, 3), (13, 1, 17)])
def test_gemm(dtype, ta, tb, mnk):
    M, N, K = mnk
    rng = np.random.default_rng(0)
    a = rand(rng, (K, M) if ta else (M, K), dtype)
    b = rand(rng, (N, K) if tb else (K, N), dtype)
    close(cu.gemm(dev(a), dev(b), ta, tb), cpu.gemm(a, b, ta, tb), dtype)


def test_gemm_out_and_transposed_views():
    rng = np.random.default_rng(1)
    a, b = rand(rng, (5, 3), np.float64), rand(rng, (5, 4), np.float64)
    out = dev(np.zeros((3, 4)))
    r = cu.gemm(dev(a).T, dev(b), False, False, out=out)
    assert r is out
    close(out, a.T @ b, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", [((3, 5, 4), (4, 2)), ((2, 1, 3, 4), (5, 4, 7)), ((1, 6), (6, 1)),
                                   ((4, 1, 1, 2), (3, 2, 5))])
def test_matmul_broadcasting(dtype, sa, sb):
    rng = np.random.default_rng(2)
    a, b = rand(rng, sa, dtype), rand(rng, sb, dtype)
    close(cu.matmul(dev(a), dev(b)), cpu.matmul(a, b), dtype)


def test_matmul_transposed_stack_and_as_rows():
    rng = np.random.default_rng(3)
    a, b = rand(rng, (2, 4, 3), np.float32), rand(rng, (2, 4, 5), np.float32)
    close(cu.matmul(dev(a).transpose(0, 2, 1), dev(b)), cpu.matmul(a.transpose(0, 2, 1), b), np.float32)
    x = rand(rng, (2, 3, 4), np.float32)
    close(cu._as_rows(dev(x)), x.reshape(6, 4), np.float32)
    assert host(cu._as_rows(dev(np.zeros((0, 3, 4))))).shape == (0, 4)
