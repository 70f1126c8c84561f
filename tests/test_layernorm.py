"""Fused layer normalization: reference, gradients, layer."""
import numpy as np
import pytest

import ember
import ember.functional as F
from ember import layers
from ember.testing import check_op, gradcheck


def ref_ln(x, g, b, eps=1e-3):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 5, 13), (9, 257)])
def test_matches_reference_and_gradcheck(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 3 + 1
    g, b = rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1])
    check_op(lambda *a: F.layer_norm(*a, epsilon=1e-3), ref_ln, [x, g, b], gradients=False)
    if x.size <= 100:
        gradcheck(lambda *a: F.layer_norm(*a, epsilon=1e-3), [x, g, b])


def test_non_contiguous_input():
    x = np.random.default_rng(1).standard_normal((6, 4))
    xt = x.T
    got = F.layer_norm(ember.Tensor(xt, dtype="float64"), np.ones(6), np.zeros(6)).numpy()
    np.testing.assert_allclose(got, ref_ln(xt, 1, 0), atol=1e-12)


def test_layer_defaults_and_other_axes():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 5)).astype(np.float32)
    ln = layers.LayerNormalization()
    y = ln(x).numpy()
    np.testing.assert_allclose(y, ref_ln(x.astype(np.float64), 1, 0), atol=1e-5)
    assert ln.epsilon == 1e-3 and ln.gamma.shape == (5,) and ln.beta.shape == (5,)
    ln2 = layers.LayerNormalization(axis=[1, 2], dtype="float64")
    xd = x.astype(np.float64)
    m = xd.mean((1, 2), keepdims=True)
    v = xd.var((1, 2), keepdims=True)
    np.testing.assert_allclose(ln2(xd).numpy(), (xd - m) / np.sqrt(v + 1e-3), atol=1e-10)
    gradcheck(lambda t: layers.LayerNormalization(dtype="float64")(t), [rng.standard_normal((3, 4))])


def test_empty_and_constant_rows():
    z = ember.Tensor(np.zeros((0, 4), np.float32), requires_grad=True)
    assert F.layer_norm(z).shape == (0, 4)
    c = ember.Tensor(np.full((2, 4), 7.0, np.float32), requires_grad=True)
    y = F.layer_norm(c)
    assert np.all(np.isfinite(y.numpy())) and np.allclose(y.numpy(), 0)
    y.sum().backward()
    assert np.all(np.isfinite(c.grad.numpy()))


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 10)).astype(np.float32)
    g, b = rng.standard_normal(10).astype(np.float32), rng.standard_normal(10).astype(np.float32)
    want = torch.nn.functional.layer_norm(torch.from_numpy(x), (10,), torch.from_numpy(g), torch.from_numpy(b), 1e-5)
    np.testing.assert_allclose(F.layer_norm(x, g, b, 1e-5).numpy(), want.numpy(), atol=1e-5)
