"""GEMM kernels (ember._C.gemm / gemm_batched) against NumPy in float64.

Error bound: any summation order (with or without FMA) satisfies
|C - C_exact| <= gamma_{K+2} * (|alpha| |A| |B| + |beta| |C0|), gamma_n ~ n * eps,
so the tests use that bound (times 2) rather than an arbitrary tolerance.
"""
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember import _C

DTYPES = [np.float32, np.float64]
# Every kernel path this CPU can run: "auto" is the best one (AVX-512 where the CPU has it);
# "avx2" is tested on its own where AVX-512 would otherwise hide it.
PATHS = ["auto", "portable"] + (["avx2"] if "avx512" in _C.kernel_paths() else [])
SIMD_PATHS = [p for p in PATHS if p != "portable"]


@pytest.fixture(autouse=True, scope="module")
def _single_threaded_numpy():
    """NumPy's OpenBLAS threads spin after each reference product and would compete with
    ember's OpenMP team for the same cores; the references are small, so use one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _ref(a, b, ta, tb, alpha=1.0, beta=0.0, c0=None):
    a64 = np.asarray(a, np.float64)
    b64 = np.asarray(b, np.float64)
    a64 = a64.T if ta else a64
    b64 = b64.T if tb else b64
    ref = alpha * (a64 @ b64)
    bound = abs(alpha) * (np.abs(a64) @ np.abs(b64))
    if beta != 0.0:
        ref = ref + beta * c0.astype(np.float64)
        bound = bound + abs(beta) * np.abs(c0.astype(np.float64))
    return ref, bound


def _check(c, a, b, ta=False, tb=False, alpha=1.0, beta=0.0, c0=None):
    ref, bound = _ref(a, b, ta, tb, alpha, beta, c0)
    k = (a.shape[0] if ta else a.shape[-1])
    eps = np.finfo(c.dtype).eps
    tol = 2 * (k + 2) * eps * bound + np.finfo(c.dtype).tiny
    err = np.abs(c.astype(np.float64) - ref)
    assert np.all(err <= tol), f"max err {err.max()} (tol at argmax {tol.flat[np.argmax(err - tol)]})"


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture
def portable():
    _C.set_kernel_path("portable")
    try:
        yield
    finally:
        _C.set_kernel_path("auto")


@pytest.fixture
def threads():
    old = ember.get_num_threads()
    yield
    ember.set_num_threads(old)


def _all_small(dtype, sizes):
    rng = np.random.default_rng(1)
    for m, n, k in itertools.product(sizes, repeat=3):
        for ta, tb in itertools.product([False, True], repeat=2):
            a = _rand(rng, (k, m) if ta else (m, k), dtype)
            b = _rand(rng, (n, k) if tb else (k, n), dtype)
            _check(_C.gemm(a, b, ta, tb), a, b, ta, tb)


@pytest.fixture
def kernel_path(request):
    _C.set_kernel_path(request.param)
    try:
        yield request.param
    finally:
        _C.set_kernel_path("auto")


@pytest.mark.parametrize("kernel_path", SIMD_PATHS, indirect=True)
@pytest.mark.parametrize("dtype", DTYPES)
def test_small_shapes_all_transposes(dtype, kernel_path):
    _all_small(dtype, [1, 2, 3, 5, 6, 7, 8, 9, 11, 13, 16, 17])


@pytest.mark.parametrize("kernel_path", SIMD_PATHS, indirect=True)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_edge_tile(dtype, kernel_path):
    """Every row count of a tile (1..8 for the AVX-512 8 x 32 tile, 1..6 for AVX2's 6 x 16)
    against column counts on both sides of the one- and two-vector tile widths, with short,
    odd and KC-crossing K, alpha and beta."""
    rng = np.random.default_rng(2)
    for m in list(range(1, 18)) + [23, 24, 25]:
        for n in [17, 24, 31, 32, 33, 40, 48, 63, 65, 97]:
            for k in [1, 7, 64, 300]:
                for ta, tb in itertools.product([False, True], repeat=2):
                    a = _rand(rng, (k, m) if ta else (m, k), dtype)
                    b = _rand(rng, (n, k) if tb else (k, n), dtype)
                    _check(_C.gemm(a, b, ta, tb), a, b, ta, tb)
                c0 = _rand(rng, (m, n), dtype)
                a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
                c = c0.copy()
                _C.gemm(a, b, alpha=-1.5, beta=0.75, out=c)
                _check(c, a, b, alpha=-1.5, beta=0.75, c0=c0)


@pytest.mark.parametrize("kernel_path", PATHS, indirect=True)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_vector_products(dtype, kernel_path, threads):
    """M == 1 or N == 1 (a batch of one, a Dense(1) head and its gradients) take the
    matrix-vector kernels: every transpose, vector lengths on both sides of the vector
    widths, strided (non-contiguous) operands, alpha/beta, and the same bits with 1 and 2
    threads."""
    rng = np.random.default_rng(4)
    for other in [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 100, 129, 1031, 3000]:
        for k in [1, 3, 15, 16, 17, 31, 32, 33, 48, 100, 784, 1001, 20011]:
            if other * k > 4_000_000:
                continue
            for (m, n), ta, tb in itertools.product([(1, other), (other, 1)], [False, True],
                                                    [False, True]):
                a = _rand(rng, (k, m) if ta else (m, k), dtype)
                b = _rand(rng, (n, k) if tb else (k, n), dtype)
                out = []
                for nt in (1, 2):
                    ember.set_num_threads(nt)
                    out.append(_C.gemm(a, b, ta, tb))
                assert np.array_equal(out[0], out[1]), (m, n, k, ta, tb)
                _check(out[0], a, b, ta, tb)
    big = _rand(rng, (400, 300), dtype)
    for a, b in [(big[3:4, ::2], big[:300:2, 5:6]),     # row x column, both strided
                 (big[::3, 7:8].T, big[:134, ::2]),      # strided row vector
                 (big[::2, ::3], big[10:110, 9:10]),     # strided matrix, column vector
                 (big[:1, :150], big[:300:2, :150].T)]:  # B^T read by rows
        _check(_C.gemm(a, b), a, b)
        c0 = _rand(rng, (a.shape[0], b.shape[1]), dtype)
        c = c0.copy()
        _C.gemm(a, b, alpha=-0.5, beta=2.0, out=c)
        _check(c, a, b, alpha=-0.5, beta=2.0, c0=c0)
        c[:] = np.nan
        _C.gemm(a, b, alpha=3.0, beta=0.0, out=c)
        _check(c, a, b, alpha=3.0)


def test_kernel_paths_listed_and_selectable():
    paths = _C.kernel_paths()
    assert paths[0] == "portable"
    assert _C.kernel_path() == paths[-1]
    try:
        for p in paths:
            _C.set_kernel_path(p)
            assert _C.kernel_path() == p
    finally:
        _C.set_kernel_path("auto")
    with pytest.raises(ValueError, match="set_kernel_path"):
        _C.set_kernel_path("sse9")


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_shapes_portable(dtype, portable):
    assert _C.kernel_path() == "portable"
    _all_small(dtype, [1, 3, 4, 5, 8, 9, 17])


_LARGE = [(97, 101, 103), (1009, 37, 263), (31, 1013, 257), (300, 1031, 1000), (9, 32, 20011), (3, 5, 9001),
          (20011, 9, 32), (5000, 32, 9), (129, 10, 128), (1001, 9, 700), (2003, 11, 33)]
# The portable path runs the same shapes but the biggest ones (they cost seconds there and
# exercise nothing the smaller ones do not).
_CASES = [(p, s) for p in SIMD_PATHS for s in _LARGE] + [
    ("portable", s) for s in _LARGE if s[0] * s[1] * s[2] <= 5e7 and s[2] <= 10000]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path,mnk", _CASES, ids=[f"{p}-{m}x{n}x{k}" for p, (m, n, k) in _CASES])
def test_larger_and_primes(dtype, path, mnk):
    m, n, k = mnk
    rng = np.random.default_rng(m + n + k)
    _C.set_kernel_path(path)
    try:
        for ta, tb in itertools.product([False, True], repeat=2):
            a = _rand(rng, (k, m) if ta else (m, k), dtype)
            b = _rand(rng, (n, k) if tb else (k, n), dtype)
            _check(_C.gemm(a, b, ta, tb), a, b, ta, tb)
    finally:
        _C.set_kernel_path("auto")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (-2.5, 0.0), (1.0, 1.0), (0.5, -1.5),
                                        (0.0, 2.0), (3.0, 1e-3)])
def test_alpha_beta(dtype, path, alpha, beta):
    rng = np.random.default_rng(7)
    _C.set_kernel_path(path)
    try:
        for m, n, k in [(7, 5, 3), (64, 48, 300), (131, 77, 530), (6, 16, 8), (12, 33, 5000),
                        (301, 9, 600), (50, 10, 7)]:
            for ta, tb in [(False, False), (True, True), (False, True)]:
                a = _rand(rng, (k, m) if ta else (m, k), dtype)
                b = _rand(rng, (n, k) if tb else (k, n), dtype)
                c0 = _rand(rng, (m, n), dtype)
                c = c0.copy()
                r = _C.gemm(a, b, ta, tb, alpha, beta, out=c)
                assert r is c or np.shares_memory(r, c)
                _check(c, a, b, ta, tb, alpha, beta, c0)
    finally:
        _C.set_kernel_path("auto")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", PATHS)
def test_beta_zero_ignores_nan_in_c(dtype, path):
    rng = np.random.default_rng(3)
    _C.set_kernel_path(path)
    try:
        for m, n, k in [(6, 16, 4), (13, 17, 300), (200, 150, 40), (9, 32, 9000)]:
            a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
            c = np.full((m, n), np.nan, dtype)
            _C.gemm(a, b, alpha=2.0, beta=0.0, out=c)
            assert np.isfinite(c).all()
            _check(c, a, b, alpha=2.0)
    finally:
        _C.set_kernel_path("auto")


@pytest.mark.parametrize("dtype", DTYPES)
def test_k_zero_scales_c(dtype):
    a, b = np.zeros((4, 0), dtype), np.zeros((0, 5), dtype)
    c = np.ones((4, 5), dtype)
    _C.gemm(a, b, alpha=1.0, beta=3.0, out=c)
    assert np.all(c == 3.0)
    c[:] = np.nan
    _C.gemm(a, b, out=c)
    assert np.all(c == 0.0)
    assert _C.gemm(np.zeros((0, 3), dtype), np.zeros((3, 4), dtype)).shape == (0, 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", PATHS)
def test_non_contiguous_inputs(dtype, path):
    rng = np.random.default_rng(11)
    big = _rand(rng, (300, 260), dtype)
    other = _rand(rng, (260, 300), dtype)
    views_a = [big[::2, :101], big[:57, 3:200], big.T[:70, ::3], big[::-1, 5:90],
               big[10:11, :], big[:, 7:8].T, big.T[5:150, 20:77]]
    _C.set_kernel_path(path)
    try:
        for a in views_a:
            k = a.shape[1]
            for b in [other[:k, :33], other[::2, ::3][:k], other.T[:k, 1:45], big[:k, 100:102]]:
                if b.shape[0] != k:
                    continue
                _check(_C.gemm(a, b), a, b)
                _check(_C.gemm(b.T, a.T), b.T, a.T)
                _check(_C.gemm(a.T, b, trans_a=True), a.T, b, True, False)
    finally:
        _C.set_kernel_path("auto")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", PATHS)
def test_batched(dtype, path):
    rng = np.random.default_rng(5)
    _C.set_kernel_path(path)
    try:
        for bs, m, k, n in [(3, 7, 5, 9), (64, 33, 16, 31), (5, 129, 70, 65), (2, 300, 40, 200)]:
            a = _rand(rng, (bs, m, k), dtype)
            b = _rand(rng, (bs, k, n), dtype)
            bt = np.ascontiguousarray(b.transpose(0, 2, 1))
            for aa, bb, ta, tb in [(a, b, False, False), (a, bt, False, True),
                                   (np.ascontiguousarray(a.transpose(0, 2, 1)), b, True, False),
                                   (a[:1], b, False, False), (a, b[:1], False, False),
                                   (a, bt.transpose(0, 2, 1), False, False)]:
                c = _C.gemm_batched(aa, bb, ta, tb)
                ea = aa.transpose(0, 2, 1) if ta else aa
                eb = bb.transpose(0, 2, 1) if tb else bb
                for i in range(c.shape[0]):
                    _check(c[i], ea[min(i, ea.shape[0] - 1)], eb[min(i, eb.shape[0] - 1)])
            c = np.full((bs, m, n), np.nan, dtype)
            _C.gemm_batched(a, b, alpha=-0.5, out=c)
            for i in range(bs):
                _check(c[i], a[i], b[i], alpha=-0.5)
    finally:
        _C.set_kernel_path("auto")


@pytest.mark.parametrize("kernel_path", SIMD_PATHS, indirect=True)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bit_identical_across_thread_counts(dtype, threads, kernel_path):
    rng = np.random.default_rng(9)
    cases = [((700, 900), (900, 650), False, False), ((1000, 333), (1000, 517), True, False),
             ((257, 3000), (401, 3000), False, True), ((40000, 9), (40000, 32), True, False),
             ((86528 // 8, 32), (9, 32), False, True), ((130, 9), (9, 700), False, False),
             # A read in place or packed depending on the rows per thread; narrow last panel
             ((300, 200), (200, 43), False, False), ((128, 2100), (130, 2100), False, True),
             ((131, 128), (128, 128), False, False),
             # A^T read in place (short K, lda spreading over the cache sets)
             ((100, 701), (100, 41), True, False), ((128, 5408), (128, 130), True, False),
             # row and column counts that leave edge tiles of every width at thread borders
             ((203, 300), (300, 20), False, False), ((77, 1200), (1200, 45), False, False),
             ((1003, 64), (64, 97), False, False)]
    for sa, sb, ta, tb in cases:
        a, b = _rand(rng, sa, dtype), _rand(rng, sb, dtype)
        out = []
        for nt in (1, 2):
            ember.set_num_threads(nt)
            out.append(_C.gemm(a, b, ta, tb))
        assert np.array_equal(out[0], out[1]), (sa, sb, ta, tb)
        _check(out[0], a, b, ta, tb)
    q, kk = _rand(rng, (16, 256, 64), dtype), _rand(rng, (16, 256, 64), dtype)
    out = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        out.append(_C.gemm_batched(q, kk, False, True))
    assert np.array_equal(out[0], out[1])


@pytest.mark.parametrize("var", ["EMBER_DISABLE_AVX2", "EMBER_DISABLE_AVX512"])
def test_env_var_caps_kernel_path(var):
    expect = "portable" if var == "EMBER_DISABLE_AVX2" or not _C.cpu_has_avx2_fma() else "avx2"
    code = (f"import numpy as np; from ember import _C; assert _C.kernel_path() == '{expect}', "
            "_C.kernel_path(); a = np.random.rand(37, 53).astype(np.float32); "
            "b = np.random.rand(53, 29).astype(np.float32); "
            "assert np.allclose(_C.gemm(a, b), a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)")
    env = dict(os.environ, **{var: "1"})
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def test_errors():
    a = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="inner dimensions"):
        _C.gemm(a, np.zeros((5, 2), np.float32))
    with pytest.raises(TypeError):
        _C.gemm(a, np.zeros((4, 2), np.float64))
    with pytest.raises(ValueError):
        _C.gemm(a, np.zeros((4, 2), np.float32), out=np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="batch"):
        _C.gemm_batched(np.zeros((2, 3, 4), np.float32), np.zeros((3, 4, 2), np.float32))
