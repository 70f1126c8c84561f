"""CUDA conv2d (im2col / col2im gathers + GEMM), emulated, against backend.cpu on odd shapes."""
import numpy as np
import pytest

from _cuda_emu import *  # noqa: F401,F403  (the emulation fixture, dev/host/close, cpu)
from ember.backend.cuda import conv as cu

# (N, H, W, C, KH, KW, OC, strides, pads (t, b, l, r), dilation, groups, act, bias)
CASES = [
    (1, 1, 1, 1, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, 0, True),    # the smallest
    (2, 5, 7, 3, 3, 3, 5, (1, 1), (1, 1, 1, 1), (1, 1), 1, 0, True),    # "same" 3x3
    (2, 7, 6, 4, 2, 3, 6, (2, 1), (0, 1, 2, 0), (2, 1), 2, 1, True),    # strides, odd pads, dilation, groups, relu
    (1, 5, 3, 3, 1, 1, 4, (1, 1), (0, 0, 0, 0), (1, 1), 1, 1, False),   # 1x1: x is the patch matrix
    (3, 8, 5, 3, 3, 2, 6, (3, 2), (2, 0, 1, 1), (2, 3), 3, 0, False),   # depthwise x2, large strides / dilation
    (1, 11, 2, 2, 5, 1, 3, (2, 1), (2, 2, 0, 0), (1, 1), 1, 1, True),   # a tall kernel on a thin image
    (2, 12, 13, 2, 3, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, 1, True),  # 312 output rows: 2 blocks of db sums
]
IDS = [f"case{i}" for i in range(len(CASES))]


def _data(case, dtype, seed=0, nan=False):
    N, H, W, C, KH, KW, OC, st, pd, dl, G, act, bias = case
    rng = np.random.default_rng(seed)
    x = rand(rng, (N, H, W, C), dtype, nan_at=[5] if nan else None)
    w = rand(rng, (KH, KW, C // G, OC), dtype) * dtype(0.5)
    b = rand(rng, (OC,), dtype) if bias else None
    return x, w, b, (st, pd, dl, G, act)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv2d_forward(dtype, case):
    x, w, b, (st, pd, dl, G, act) = _data(case, dtype)
    want = cpu.conv2d(x, w, b, st, pd, dl, G, act)
    close(cu.conv2d(dev(x), dev(w), dev(b), st, pd, dl, G, act), want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv2d_backward(dtype, case):
    x, w, b, (st, pd, dl, G, act) = _data(case, dtype, seed=1)
    y = cpu.conv2d(x, w, b, st, pd, dl, G, act)
    dy = rand(np.random.default_rng(2), y.shape, dtype)
    want = cpu.conv2d_backward(x, w, dy, y if act else None, st, pd, dl, G, act, True, True, True)
    got = cu.conv2d_backward(dev(x), dev(w), dev(dy), dev(y) if act else None, st, pd, dl, G, act, True, True, True)
    for g_, w_ in zip(got, want):
        close(g_, w_, dtype)


@pytest.mark.parametrize("need", [(True, False, False), (False, True, False), (False, False, True)])
def test_conv2d_backward_only_what_is_needed(need):
    x, w, b, (st, pd, dl, G, act) = _data(CASES[2], np.float64, seed=3)
    y = cpu.conv2d(x, w, b, st, pd, dl, G, act)
    dy = rand(np.random.default_rng(4), y.shape, np.float64)
    want = cpu.conv2d_backward(x, w, dy, y, st, pd, dl, G, act, *need)
    got = cu.conv2d_backward(dev(x), dev(w), dev(dy), dev(y), st, pd, dl, G, act, *need)
    for g_, w_, n in zip(got, want, need):
        assert (g_ is None) == (not n)
        if n:
            close(g_, w_, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_nan_propagates(dtype):
    """A NaN in x reaches every output whose window reads it, and the same gradients."""
    case = CASES[2]
    x, w, b, (st, pd, dl, G, act) = _data(case, dtype, seed=5, nan=True)
    y = cpu.conv2d(x, w, b, st, pd, dl, G, 0)
    gy = cu.conv2d(dev(x), dev(w), dev(b), st, pd, dl, G, 0)
    assert np.isnan(y).any()
    close(gy, y, dtype)
    dy = rand(np.random.default_rng(6), y.shape, dtype, nan_at=[7])
    want = cpu.conv2d_backward(x, w, dy, None, st, pd, dl, G, 0, True, True, True)
    got = cu.conv2d_backward(dev(x), dev(w), dev(dy), None, st, pd, dl, G, 0, True, True, True)
    for g_, w_ in zip(got, want):
        close(g_, w_, dtype)


def test_conv2d_relu_mask_nan_y_passes_dy():
    """The fused ReLU's backward masks dy with y <= 0 (a NaN y passes dy), as the CPU."""
    x, w, b, (st, pd, dl, G, act) = _data(CASES[1], np.float64, seed=7)
    y = cpu.conv2d(x, w, b, st, pd, dl, G, 1)
    y.reshape(-1)[[0, 3]] = np.nan
    dy = rand(np.random.default_rng(8), y.shape, np.float64)
    want = cpu.conv2d_backward(x, w, dy, y, st, pd, dl, G, 1, True, True, True)
    got = cu.conv2d_backward(dev(x), dev(w), dev(dy), dev(y), st, pd, dl, G, 1, True, True, True)
    for g_, w_ in zip(got, want):
        close(g_, w_, np.float64)


def test_conv2d_same_bits_across_launches():
    x, w, b, (st, pd, dl, G, act) = _data(CASES[6], np.float32, seed=9)
    y = cpu.conv2d(x, w, b, st, pd, dl, G, act)
    dy = rand(np.random.default_rng(10), y.shape, np.float32)
    same_bits_across_launches(lambda: (cu.conv2d(dev(x), dev(w), dev(b), st, pd, dl, G, act),
                                       *cu.conv2d_backward(dev(x), dev(w), dev(dy), dev(y), st, pd, dl, G, act,
                                                           True, True, True)))


def test_conv2d_empty_batch():
    x = np.zeros((0, 5, 5, 2), np.float32)
    w = np.ones((3, 3, 2, 4), np.float32)
    y = cu.conv2d(dev(x), dev(w), None, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    assert host(y).shape == (0, 3, 3, 4)
    dx, dw, db = cu.conv2d_backward(dev(x), dev(w), dev(np.zeros((0, 3, 3, 4), np.float32)), None, (1, 1),
                                    (0, 0, 0, 0), (1, 1), 1, 0, True, True, True)
    assert host(dx).shape == x.shape
    close(dw, np.zeros_like(w), np.float32)
    close(db, np.zeros(4, np.float32), np.float32)


def test_conv2d_errors():
    x, w = dev(np.zeros((1, 4, 4, 3), np.float32)), dev(np.zeros((3, 3, 3, 2), np.float32))
    with pytest.raises(ValueError, match="conv2d: groups must divide"):
        cu.conv2d(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 2)
    with pytest.raises(ValueError, match="conv2d: strides must be two integers >= 1"):
        cu.conv2d(x, w, None, (0, 1), (0, 0, 0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="larger than the padded input"):
        cu.conv2d(x, w, None, (1, 1), (0, 0, 0, 0), (3, 1), 1)
    with pytest.raises(TypeError, match="conv2d: 'w' has dtype float64"):
        cu.conv2d(x, dev(np.zeros((3, 3, 3, 2))), None, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="needs the forward output y"):
        cu.conv2d_backward(x, w, dev(np.zeros((1, 2, 2, 2), np.float32)), None, (1, 1), (0, 0, 0, 0), (1, 1), 1, 1,
                           True, True, True)


def test_conv2d_non_contiguous_operands():
    x, w, b, (st, pd, dl, G, act) = _data(CASES[1], np.float64, seed=11)
    xt = np.ascontiguousarray(x.transpose(0, 2, 1, 3))  # stored (N, W, H, C): a transposed view is x
    want = cpu.conv2d(x, w, b, st, pd, dl, G, act)
    close(cu.conv2d(dev(xt).transpose(0, 2, 1, 3), dev(w), dev(b), st, pd, dl, G, act), want, np.float64)
