"""CUDA layer normalization kernels, emulated, against backend.cpu."""
import numpy as np
import pytest

from ember.backend.cuda import layernorm as cuda_ln

from _cuda_emu_seq import DTYPES, close, cpu, dev, emulation, host, rand  # noqa: F401


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 131), (2, 3, 5), (17,), (67, 3)])  # 67 rows: 3 partial-sum blocks
def test_layernorm_forward_backward(dtype, shape):
    rng = np.random.default_rng(0)
    x, dy = rand(rng, shape, dtype, 3) + 1, rand(rng, shape, dtype)
    n = shape[-1]
    g, b = rand(rng, (n,), dtype) + 1, rand(rng, (n,), dtype)
    y, mu, rs = cpu.layernorm_forward(x, g, b, 1e-3)
    dyd, dmu, drs = cuda_ln.layernorm_forward(dev(x), dev(g), dev(b), 1e-3)
    close(dyd, y, dtype)
    close(dmu, mu, dtype)
    close(drs, rs, dtype)
    want = cpu.layernorm_backward(dy, x, g, mu, rs)
    got = cuda_ln.layernorm_backward(dev(dy), dev(x), dev(g), dmu, drs)
    for a, e in zip(got, want):
        close(a, e, dtype, norm=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layernorm_nan_and_inf_rows(dtype):
    x = np.random.default_rng(1).standard_normal((4, 6)).astype(dtype)
    x[1, 2] = np.nan
    x[2, 0] = np.inf
    g, b = np.ones(6, dtype), np.zeros(6, dtype)
    with np.errstate(invalid="ignore"):
        y, mu, rs = cpu.layernorm_forward(x, g, b, 1e-5)
        dy = np.ones_like(x)
        want = cpu.layernorm_backward(dy, x, g, mu, rs)
    got_y, got_mu, got_rs = cuda_ln.layernorm_forward(dev(x), dev(g), dev(b), 1e-5)
    close(got_y, y, dtype)
    close(got_mu, mu, dtype)
    close(got_rs, rs, dtype)
    for a, e in zip(cuda_ln.layernorm_backward(dev(dy), dev(x), dev(g), got_mu, got_rs), want):
        close(a, e, dtype)


def test_layernorm_empty_batch():
    x = np.zeros((0, 5), np.float64)
    g, b = np.ones(5), np.zeros(5)
    y, mu, rs = cuda_ln.layernorm_forward(dev(x), dev(g), dev(b), 1e-5)
    assert host(y).shape == (0, 5) and host(mu).shape == (0,)
    dx, dg, db = cuda_ln.layernorm_backward(dev(x), dev(x), dev(g), mu, rs)
    np.testing.assert_array_equal(host(dg), np.zeros(5))
    np.testing.assert_array_equal(host(db), np.zeros(5))


def test_layernorm_shape_errors():
    with pytest.raises(ValueError, match="'gamma' must have shape"):
        cuda_ln.layernorm_forward(dev(np.zeros((2, 3))), dev(np.ones(4)), dev(np.zeros(3)), 1e-5)
