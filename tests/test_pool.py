"""Pooling: forward vs a NumPy reference on odd shapes, float64 gradchecks, layers, errors."""
import numpy as np
import pytest

import ember
from ember import _C
from ember import functional as F
from ember.layers import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                          GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from ember.ops.conv import padding_amounts
from ember.testing import gradcheck


def ref_pool(x, pool, strides, pads, kind):
    N, H, W, C = x.shape
    OH = (H + pads[0] + pads[1] - pool[0]) // strides[0] + 1
    OW = (W + pads[2] + pads[3] - pool[1]) // strides[1] + 1
    y = np.zeros((N, OH, OW, C))
    for i in range(OH):
        for j in range(OW):
            h0, w0 = i * strides[0] - pads[0], j * strides[1] - pads[2]
            win = x[:, max(h0, 0):min(h0 + pool[0], H), max(w0, 0):min(w0 + pool[1], W)]
            y[:, i, j] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return y


CASES = [((2, 2), None, "valid"), ((3, 2), (2, 1), "same"), ((2, 3), (1, 2), "valid"), ((3, 3), (2, 2), "same"),
         ((1, 1), (2, 2), "valid")]


@pytest.mark.parametrize("pool,strides,padding", CASES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_forward_and_grad(pool, strides, padding, kind):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 9, 3))
    st = pool if strides is None else strides
    pads = padding_amounts(padding, (7, 9), pool, st)
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    for dt in (np.float32, np.float64):
        got = fn(x.astype(dt), pool, strides, padding).numpy()
        assert got.dtype == dt
        np.testing.assert_allclose(got, ref_pool(x.astype(dt).astype(np.float64), pool, st, pads, kind),
                                   rtol=1e-5, atol=1e-6)
    gradcheck(lambda x: fn(x, pool, strides, padding), [x])


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_channels_first_and_non_contiguous(kind):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 8))
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    y = fn(x, 2, None, "valid", "channels_first").numpy()
    np.testing.assert_allclose(y, ref_pool(x.transpose(0, 2, 3, 1), (2, 2), (2, 2), (0,) * 4, kind).transpose(0, 3, 1, 2))
    gradcheck(lambda x: fn(x, (2, 3), (1, 2), "same", "channels_first"), [x])
    xs = rng.standard_normal((2, 6, 16, 3))[:, :, ::2]
    np.testing.assert_allclose(fn(xs, 2).numpy(), ref_pool(np.ascontiguousarray(xs), (2, 2), (2, 2), (0,) * 4, kind))


def test_max_pool_ties_and_overlap_gradient():
    x = np.zeros((1, 3, 3, 1))  # all ties: the first cell of each window wins
    t = ember.Tensor(x, requires_grad=True)
    F.max_pool2d(t, 2, 1).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy()[0, :, :, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_global_pooling():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 3, 4))
    np.testing.assert_allclose(F.global_avg_pool2d(x).numpy(), x.mean(axis=(1, 2)))
    np.testing.assert_allclose(F.global_max_pool2d(x).numpy(), x.max(axis=(1, 2)))
    gradcheck(lambda x: F.global_avg_pool2d(x), [x])
    gradcheck(lambda x: F.global_max_pool2d(x, keepdims=True), [x])
    assert GlobalAveragePooling2D()(x.astype(np.float32)).shape == (2, 4)
    assert GlobalMaxPooling2D(keepdims=True)(x.astype(np.float32)).shape == (2, 1, 1, 4)
    assert GlobalMaxPooling2D(data_format="channels_first")(x.astype(np.float32)).shape == (2, 5)
    x1 = rng.standard_normal((2, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(GlobalAveragePooling1D()(x1).numpy(), x1.mean(1), rtol=1e-6)
    np.testing.assert_allclose(GlobalMaxPooling1D()(x1).numpy(), x1.max(1))


def test_layers():
    x = np.random.default_rng(3).standard_normal((2, 26, 26, 32)).astype(np.float32)
    m = MaxPooling2D((2, 2))
    assert m(x).shape == (2, 13, 13, 32) == m.compute_output_shape((2, 26, 26, 32))
    a = AveragePooling2D(3, strides=2, padding="same")
    assert a(x).shape == (2, 13, 13, 32) == a.compute_output_shape((2, 26, 26, 32))
    x1 = x[:, :, 0, :]
    assert MaxPooling1D(2)(x1).shape == (2, 13, 32)
    assert AveragePooling1D(3, strides=1, padding="same")(x1).shape == (2, 26, 32)
    gradcheck(lambda x: F.max_pool1d(x, 3, 2, "same"), [np.random.default_rng(4).standard_normal((2, 8, 3))])


def test_errors():
    with pytest.raises(ValueError, match=r"MaxPooling2D layer 'mp' expects a 4-D input .*shape=\(28, 28\)"):
        MaxPooling2D(name="mp")(np.zeros((28, 28), np.float32))
    with pytest.raises(ValueError, match=r"pool_size"):
        MaxPooling2D((0, 2))
    with pytest.raises(ValueError, match=r"strides"):
        AveragePooling2D(2, strides=-1)
    with pytest.raises(ValueError, match=r"larger than the padded input"):
        MaxPooling2D((5, 5))(np.zeros((1, 3, 3, 1), np.float32))


@pytest.fixture(params=["auto", "portable"])
def kernel_path(request):
    """Run on the AVX2 kernels (where the CPU has them) and on the portable path."""
    _C.set_kernel_path(request.param)
    yield request.param
    _C.set_kernel_path("auto")

@pytest.mark.parametrize("pool", [(2, 2), (3, 2), (1, 3)])
@pytest.mark.parametrize("C", [8, 32, 40])
def test_max_pool_tiled_float32_matches_float64(pool, C, kernel_path):
    # non-overlapping windows, float32, C % 8 == 0: the AVX2 kernels (elsewhere the generic
    # path); odd H / W leave cells outside every window; small integers make many ties
    rng = np.random.default_rng(21)
    x = rng.integers(-2, 3, size=(3, 11, 9, C)).astype(np.float64)
    x[0, 0, 0, :3] = [np.nan, -np.inf, np.inf]
    Z = (0, 0, 0, 0)
    y64, i64 = _C.max_pool2d_forward(x, pool, pool, Z)
    y32, i32 = _C.max_pool2d_forward(x.astype(np.float32), pool, pool, Z)
    np.testing.assert_array_equal(y32, y64.astype(np.float32))
    np.testing.assert_array_equal(i32, i64)
    g = rng.standard_normal(y64.shape)
    d64 = _C.max_pool2d_backward(g, i64, x.shape, pool, pool, Z)
    d32 = _C.max_pool2d_backward(g.astype(np.float32), i32, x.shape, pool, pool, Z)
    np.testing.assert_array_equal(d32, d64.astype(np.float32))
    np.testing.assert_allclose(y64[1:], ref_pool(x[1:], pool, pool, Z, "max"))
