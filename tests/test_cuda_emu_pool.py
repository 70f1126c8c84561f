"""CUDA max / average pooling (NHWC), emulated, against backend.cpu on odd shapes."""
import numpy as np
import pytest

from _cuda_emu import *  # noqa: F401,F403  (the emulation fixture, dev/host/close, cpu)
from ember.backend.cuda import pool as cu

# (x shape, pool, strides, pads (t, b, l, r))
CASES = [
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0, 0, 0)),
    ((2, 6, 4, 3), (2, 2), (2, 2), (0, 0, 0, 0)),      # tiling windows
    ((1, 7, 5, 5), (3, 3), (1, 1), (1, 1, 1, 1)),      # overlapping, "same" padding
    ((3, 5, 7, 2), (3, 2), (2, 3), (2, 0, 1, 1)),      # odd strides and pads, a window past the edge
    ((1, 9, 3, 3), (5, 3), (2, 1), (0, 4, 2, 0)),      # tall windows, a 4-row bottom pad
]
IDS = [f"case{i}" for i in range(len(CASES))]


def _x(shape, dtype, seed, ties=False, nan=False):
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values: many ties, the first maximum must win
        return rng.integers(-2, 3, size=shape).astype(dtype)
    return rand(rng, shape, dtype, nan_at=[1, 17] if nan else None)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("kind", ["plain", "ties", "nan"])
def test_max_pool2d(dtype, case, kind):
    shape, pool, st, pd = case
    x = _x(shape, dtype, 0, ties=kind == "ties", nan=kind == "nan")
    y, idx = cpu.max_pool2d(x, pool, st, pd)
    gy, gidx = cu.max_pool2d(dev(x), pool, st, pd)
    close(gy, y, dtype)
    gi = host(gidx)
    assert gi.dtype == np.int32
    np.testing.assert_array_equal(gi, idx)
    dy = rand(np.random.default_rng(1), y.shape, dtype)
    want = cpu.max_pool2d_backward(dy, idx, shape, pool, st, pd)
    close(cu.max_pool2d_backward(dev(dy), gidx, shape, pool, st, pd), want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("count_pad", [False, True])
def test_avg_pool2d(dtype, case, count_pad):
    shape, pool, st, pd = case
    x = _x(shape, dtype, 2, nan=True)
    close(cu.avg_pool2d(dev(x), pool, st, pd, count_pad), cpu.avg_pool2d(x, pool, st, pd, count_pad), dtype)
    y = cpu.avg_pool2d(x, pool, st, pd, count_pad)
    dy = rand(np.random.default_rng(3), y.shape, dtype, nan_at=[2])
    want = cpu.avg_pool2d_backward(dy, shape, pool, st, pd, count_pad)
    close(cu.avg_pool2d_backward(dev(dy), shape, pool, st, pd, count_pad), want, dtype)


def test_pool_same_bits_across_launches():
    shape, pool, st, pd = CASES[3]
    x = _x(shape, np.float32, 4)
    dy = rand(np.random.default_rng(5), cpu.avg_pool2d(x, pool, st, pd).shape, np.float32)

    def run():
        y, idx = cu.max_pool2d(dev(x), pool, st, pd)
        return (y, idx, cu.max_pool2d_backward(dev(dy), idx, shape, pool, st, pd),
                cu.avg_pool2d(dev(x), pool, st, pd, True), cu.avg_pool2d_backward(dev(dy), shape, pool, st, pd))

    same_bits_across_launches(run)


def test_pool_errors():
    x = dev(np.zeros((1, 4, 4, 2), np.float32))
    with pytest.raises(ValueError, match="max_pool2d: padding must be smaller than the pool window"):
        cu.max_pool2d(x, (2, 2), (1, 1), (2, 0, 0, 0))
    with pytest.raises(ValueError, match="avg_pool2d: pool_size must be two integers >= 1"):
        cu.avg_pool2d(x, (0, 2), (1, 1), (0, 0, 0, 0))
    with pytest.raises(ValueError, match=r"'dy' must have shape \(1, 2, 2, 2\)"):
        cu.avg_pool2d_backward(dev(np.zeros((1, 3, 2, 2), np.float32)), (1, 4, 4, 2), (2, 2), (2, 2), (0, 0, 0, 0))
    dy = dev(np.zeros((1, 2, 2, 2), np.float32))
    with pytest.raises(TypeError, match="'idx' must be an int32 array"):
        cu.max_pool2d_backward(dy, dev(np.zeros((1, 2, 2, 2), np.int64)), (1, 4, 4, 2), (2, 2), (2, 2), (0, 0, 0, 0))


def test_non_contiguous_input():
    x = _x((2, 7, 10, 3), np.float32, 6)
    view = x[:, :, ::2]
    y, idx = cu.max_pool2d(dev(x)[:, :, ::2], (2, 2), (2, 2), (0, 0, 0, 0))
    want_y, want_idx = cpu.max_pool2d(view, (2, 2), (2, 2), (0, 0, 0, 0))
    close(y, want_y, np.float32)
    np.testing.assert_array_equal(host(idx), want_idx)
