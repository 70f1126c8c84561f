"""Fused softmax / log-softmax / softmax-cross-entropy kernels and ops."""
import numpy as np
import pytest

import ember
import ember.functional as F
from ember import _C
from ember.testing import check_op, gradcheck


def ref_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_log_softmax(x, axis=-1):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


@pytest.fixture(params=["auto"] + _C.kernel_paths())
def path(request):
    _C.set_kernel_path(request.param)
    yield request.param
    _C.set_kernel_path("auto")


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 5, 13), (4, 1000), (17,)])
def test_softmax_matches_reference(path, shape):
    x = np.random.default_rng(0).standard_normal(shape) * 4
    check_op(F.softmax, ref_softmax, [x], gradients=False)
    check_op(F.log_softmax, ref_log_softmax, [x], gradients=False)


def test_softmax_non_contiguous_and_other_axis():
    x = np.random.default_rng(1).standard_normal((6, 9))
    xt = x.T  # non-contiguous view
    np.testing.assert_allclose(F.softmax(ember.Tensor(xt, dtype="float64")).numpy(), ref_softmax(xt), rtol=1e-12)
    np.testing.assert_allclose(F.softmax(ember.Tensor(x, dtype="float64"), axis=0).numpy(), ref_softmax(x, 0), rtol=1e-12)


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_softmax_gradcheck(path, fn):
    x = np.random.default_rng(2).standard_normal((3, 5, 7))
    gradcheck(fn, [x])
    gradcheck(lambda t: fn(t, axis=1), [x])


def test_xent_matches_reference_and_gradcheck(path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 11)) * 3
    lab = rng.integers(0, 11, (4, 3))
    oh = np.eye(11)[lab]
    want = -np.take_along_axis(ref_log_softmax(x), lab[..., None], -1)[..., 0]
    for dt in ("float32", "float64"):
        got = F.sparse_softmax_cross_entropy(ember.Tensor(x, dtype=dt), lab).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5 if dt == "float32" else 1e-12, atol=1e-5)
        got = F.softmax_cross_entropy(ember.Tensor(x, dtype=dt), oh).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5 if dt == "float32" else 1e-12, atol=1e-5)
    gradcheck(lambda t: F.sparse_softmax_cross_entropy(t, lab), [x])
    soft = rng.random((4, 3, 11))
    gradcheck(lambda t, p: F.softmax_cross_entropy(t, p), [x, soft])


def test_xent_gradient_is_softmax_minus_onehot():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 9)).astype(np.float32)
    lab = rng.integers(0, 9, 5)
    t = ember.Tensor(x, requires_grad=True)
    F.sparse_softmax_cross_entropy(t, lab).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), ref_softmax(x.astype(np.float64)) - np.eye(9)[lab], atol=1e-6)


def test_extreme_logits_are_finite(path):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [3e4, 3e4, -3e4]], dtype=np.float32)
    lab = np.array([1, 0, 2])
    t = ember.Tensor(x, requires_grad=True)
    loss = F.sparse_softmax_cross_entropy(t, lab)
    assert np.all(np.isfinite(loss.numpy()))
    np.testing.assert_allclose(loss.numpy(), [2e4, np.log(3), 6e4 + np.log(2)], rtol=1e-6, atol=2e-3)
    loss.sum().backward()
    assert np.all(np.isfinite(t.grad.numpy()))
    for fn in (F.softmax, F.log_softmax):
        assert np.all(np.isfinite(fn(x).numpy()))
    np.testing.assert_allclose(F.softmax(x).numpy()[0], [1, 0, 0])


def test_fully_masked_row_softmax_is_zero():
    x = np.full((2, 4), -np.inf, dtype=np.float32)
    x[1] = [0, 1, 2, 3]
    y = F.softmax(x).numpy()
    assert np.all(y[0] == 0) and np.isclose(y[1].sum(), 1)


def test_empty_batches():
    for dt in ("float32", "float64"):
        z = ember.Tensor(np.zeros((0, 5)), dtype=dt, requires_grad=True)
        assert F.softmax(z).shape == (0, 5)
        loss = F.sparse_softmax_cross_entropy(z, np.zeros(0, dtype=np.int64))
        assert loss.shape == (0,)
        loss.sum().backward()


def test_bad_labels_raise():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        F.sparse_softmax_cross_entropy(x, np.array([0, 3]))
    with pytest.raises(ValueError):
        F.softmax_cross_entropy(x, np.zeros((2, 4)))
    with pytest.raises(TypeError):
        _C.softmax_forward(np.zeros((2, 3), np.int32))
    with pytest.raises(ValueError, match="2-D"):
        _C.softmax_forward(np.zeros(3, np.float32))


def test_keras_losses_through_fused_kernel():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 6)).astype(np.float32)
    y = rng.integers(0, 6, 8)
    z = ember.Tensor(x, requires_grad=True)
    loss = ember.losses.SparseCategoricalCrossentropy(from_logits=True)(y, z)
    want = np.mean(-ref_log_softmax(x.astype(np.float64))[np.arange(8), y])
    np.testing.assert_allclose(float(loss.data), want, rtol=1e-5)
    p = F.softmax(z)
    loss2 = ember.losses.SparseCategoricalCrossentropy()(y, p)
    np.testing.assert_allclose(float(loss2.data), want, rtol=1e-5)


def test_softmax_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(6).standard_normal((7, 33)).astype(np.float32) * 10
    np.testing.assert_allclose(F.softmax(x).numpy(), torch.softmax(torch.from_numpy(x), -1).numpy(), atol=1e-6)
    lab = np.arange(7) % 33
    want = torch.nn.functional.cross_entropy(torch.from_numpy(x), torch.from_numpy(lab), reduction="none").numpy()
    np.testing.assert_allclose(F.sparse_softmax_cross_entropy(x, lab).numpy(), want, rtol=1e-5, atol=1e-5)
