"""CUDA batch normalisation (per-channel shared-memory reductions), emulated, against backend.cpu."""
import numpy as np
import pytest

from _cuda_emu import *  # noqa: F401,F403  (the emulation fixture, dev/host/close, cpu)
from ember.backend.cuda import batchnorm as cu

SHAPES = [(1, 1), (7, 5), (300, 3)]  # 300 rows: more rows than the 256 reduction lanes


@pytest.fixture(autouse=True)
def small_reduce_block():
    """A 64-thread reduction block keeps the emulation quick (each thread is a host thread);
    test_same_bits_across_launches checks the default block gives the same bits."""
    with launch_config(reduce_block=64):
        yield


def _params(rng, C, dtype, affine):
    g = rand(rng, (C,), dtype) if affine else None
    b = rand(rng, (C,), dtype) if affine else None
    return g, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("running", [True, False])
def test_batch_norm_train(dtype, shape, affine, running):
    rng = np.random.default_rng(0)
    x = rand(rng, shape, dtype) * dtype(3) + dtype(1)
    g, b = _params(rng, shape[1], dtype, affine)
    rm = rand(rng, shape[1:], dtype) if running else None
    rv = np.abs(rand(rng, shape[1:], dtype)) if running else None
    drm, drv = dev(rm), dev(rv)
    want = cpu.batch_norm_train(x, g, b, rm, rv, 1e-3, 0.9)
    got = cu.batch_norm_train(dev(x), dev(g), dev(b), drm, drv, 1e-3, 0.9)
    for g_, w_ in zip(got, want):
        close(g_, w_, dtype)
    if running:
        close(drm, rm, dtype)
        close(drv, rv, dtype)


def test_batch_norm_train_nan_channel_and_empty_batch():
    rng = np.random.default_rng(1)
    x = rand(rng, (9, 4), np.float64)
    x[3, 2] = np.nan  # poisons channel 2 only
    rm, rv = np.zeros(4), np.ones(4)
    drm, drv = dev(rm), dev(rv)
    want = cpu.batch_norm_train(x, None, None, rm, rv, 1e-5, 0.5)
    got = cu.batch_norm_train(dev(x), None, None, drm, drv, 1e-5, 0.5)
    for g_, w_ in zip(got, want):
        close(g_, w_, np.float64)
    close(drm, rm, np.float64)
    assert np.isnan(host(drv)[2]) and not np.isnan(host(drv)[[0, 1, 3]]).any()
    e = np.zeros((0, 4))
    y, mean, inv = cu.batch_norm_train(dev(e), None, None, drm, drv, 1e-5, 0.5)
    close(drm, rm, np.float64)  # an empty batch leaves the running statistics alone
    close(drv, rv, np.float64)
    assert host(y).shape == (0, 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_infer(dtype, shape, affine):
    rng = np.random.default_rng(2)
    x = rand(rng, shape, dtype, nan_at=[4])
    g, b = _params(rng, shape[1], dtype, affine)
    rm, rv = rand(rng, shape[1:], dtype), np.abs(rand(rng, shape[1:], dtype))
    close(cu.batch_norm_infer(dev(x), dev(g), dev(b), dev(rm), dev(rv), 1e-3),
          cpu.batch_norm_infer(x, g, b, rm, rv, 1e-3), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("need_dx", [True, False])
def test_batch_norm_backward(dtype, shape, affine, need_dx):
    rng = np.random.default_rng(3)
    x = rand(rng, shape, dtype)
    g, b = _params(rng, shape[1], dtype, affine)
    _, mean, inv = cpu.batch_norm_train(x, g, b, None, None, 1e-3, 0.9)
    dy = rand(rng, shape, dtype, nan_at=[5])  # NaN reaches its channel's sums and dx
    want = cpu.batch_norm_backward(dy, x, g, mean, inv, need_dx)
    got = cu.batch_norm_backward(dev(dy), dev(x), dev(g), dev(mean), dev(inv), need_dx)
    assert (got[0] is None) == (not need_dx)
    for g_, w_ in zip(got, want):
        if w_ is not None:
            close(g_, w_, dtype)


def test_batch_norm_same_bits_across_launches():
    rng = np.random.default_rng(4)
    x, dy = rand(rng, (301, 3), np.float32), rand(rng, (301, 3), np.float32)
    g, b = _params(rng, 3, np.float32, True)

    def run():
        y, mean, inv = cu.batch_norm_train(dev(x), dev(g), dev(b), None, None, 1e-3, 0.9)
        return (y, mean, inv, *cu.batch_norm_backward(dev(dy), dev(x), dev(g), mean, inv, True))

    with launch_config(reduce_block=256):
        same_bits_across_launches(run)  # 256 threads vs 32 threads and a grid of 3 blocks


def test_batch_norm_errors():
    x = dev(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"batch_norm: 'gamma' must have shape \(3,\)"):
        cu.batch_norm_train(x, dev(np.ones(2, np.float32)), None, None, None, 1e-3, 0.9)
    with pytest.raises(TypeError, match="'running_mean' has dtype float64"):
        cu.batch_norm_train(x, None, None, dev(np.zeros(3)), None, 1e-3, 0.9)
    with pytest.raises(ValueError, match="'x' must be 2-D"):
        cu.batch_norm_infer(dev(np.zeros(3, np.float32)), None, None, x, x, 1e-3)
