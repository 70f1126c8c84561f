"""CUDA fused conv2d (+ bias, + ReLU) + max pooling, emulated, against the CPU's fused kernel:
same pooled output, the same argmax (-1 at ReLU zeros) and the same gradients."""
import numpy as np
import pytest

from _cuda_emu import *  # noqa: F401,F403  (the emulation fixture, dev/host/close, cpu)
from ember.backend.cuda import conv_pool as cu

# (x shape, w shape, strides, pads, dilation, groups, pool, pool strides, pool pads)
CASES = [
    ((2, 7, 7, 1), (3, 3, 1, 5), (1, 1), (0, 0, 0, 0), (1, 1), 1, (2, 2), (2, 2), (0, 0, 0, 0)),   # the MNIST block
    ((1, 9, 8, 3), (2, 3, 3, 4), (2, 1), (1, 0, 1, 1), (1, 1), 1, (3, 2), (2, 2), (1, 1, 0, 0)),   # odd, padded
    ((3, 6, 5, 4), (3, 1, 2, 6), (1, 1), (1, 1, 0, 0), (2, 1), 2, (2, 2), (1, 1), (0, 0, 0, 0)),   # groups, dilation
]
IDS = ["mnist", "odd", "groups"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", [0, 1])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv2d_max_pool2d_matches_the_cpu_kernel(dtype, act, case):
    xs, ws, st, pd, dil, g, pool, pst, ppd = case
    rng = np.random.default_rng(3)
    x, w = rand(rng, xs, dtype), rand(rng, ws, dtype)
    b = rand(rng, (ws[3],), dtype)
    y, idx = cpu.conv2d_max_pool2d(x, w, b, st, pd, dil, g, act, pool, pst, ppd)
    gy, gidx = cu.conv2d_max_pool2d(dev(x), dev(w), dev(b), st, pd, dil, g, act, pool, pst, ppd)
    close(gy, y, dtype)
    np.testing.assert_array_equal(host(gidx), idx)
    if act:
        assert (idx == -1).any(), "the case must exercise the ReLU mask"
    dy = rand(rng, y.shape, dtype)
    want = cpu.conv2d_max_pool2d_backward(x, w, dy, idx, st, pd, dil, g, pool, pst, ppd, True, True, True)
    got = cu.conv2d_max_pool2d_backward(dev(x), dev(w), dev(dy), gidx, st, pd, dil, g, pool, pst, ppd,
                                        True, True, True)
    for gg, ww in zip(got, want):
        close(gg, ww, dtype)
    nodx = cu.conv2d_max_pool2d_backward(dev(x), dev(w), dev(dy), gidx, st, pd, dil, g, pool, pst, ppd,
                                         False, True, False)
    assert nodx[0] is None and nodx[2] is None
    close(nodx[1], want[1], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_passes_the_relu_mask_as_on_the_cpu(dtype):
    xs, ws, st, pd, dil, g, pool, pst, ppd = CASES[0]
    rng = np.random.default_rng(5)
    x, w = rand(rng, xs, dtype, nan_at=[10]), rand(rng, ws, dtype)
    y, idx = cpu.conv2d_max_pool2d(x, w, None, st, pd, dil, g, 1, pool, pst, ppd)
    gy, gidx = cu.conv2d_max_pool2d(dev(x), dev(w), None, st, pd, dil, g, 1, pool, pst, ppd)
    assert np.isnan(y).any()
    close(gy, y, dtype)
    np.testing.assert_array_equal(host(gidx), idx)
