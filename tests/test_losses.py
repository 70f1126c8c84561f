"""Losses: values vs NumPy references (Keras formulas), gradients, stability, errors."""
import numpy as np
import pytest

import ember
from ember import losses as L
from ember.ops import losses as LO
from ember.testing import gradcheck


def np_log_softmax(z):
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


rng = np.random.default_rng(0)


# ---- ops -------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (2, 3, 7)])
def test_softmax_cross_entropy_op(shape):
    z = rng.standard_normal(shape)
    t = rng.random(shape)
    out = LO.softmax_cross_entropy(ember.Tensor(z), t).numpy()
    np.testing.assert_allclose(out, -(t * np_log_softmax(z)).sum(-1), rtol=1e-12)
    gradcheck(LO.softmax_cross_entropy, [z, t])


@pytest.mark.parametrize("shape", [(1, 2), (7, 5), (2, 3, 4)])
def test_sparse_softmax_cross_entropy_op(shape):
    z = rng.standard_normal(shape)
    lab = rng.integers(0, shape[-1], shape[:-1])
    out = LO.sparse_softmax_cross_entropy(ember.Tensor(z), lab).numpy()
    want = -np.take_along_axis(np_log_softmax(z), lab[..., None], -1)[..., 0]
    np.testing.assert_allclose(out, want, rtol=1e-12)
    gradcheck(lambda z: LO.sparse_softmax_cross_entropy(z, lab), [z])
    with pytest.raises(ValueError, match="labels must be in"):
        LO.sparse_softmax_cross_entropy(ember.Tensor(z), np.full(shape[:-1], shape[-1]))


def test_sigmoid_bce_and_prob_ops():
    z = rng.standard_normal((4, 3))
    t = rng.random((4, 3))
    p = 1 / (1 + np.exp(-z))
    want = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose(LO.sigmoid_binary_cross_entropy(ember.Tensor(z), t).numpy(), want, rtol=1e-10)
    gradcheck(LO.sigmoid_binary_cross_entropy, [z, t])
    np.testing.assert_allclose(LO.binary_cross_entropy_probs(ember.Tensor(p), t).numpy(), want, rtol=1e-6)
    gradcheck(LO.binary_cross_entropy_probs, [p, t])
    q = rng.random((3, 5)) + 0.1
    oh = np.eye(5)[rng.integers(0, 5, 3)]
    gradcheck(LO.categorical_cross_entropy_probs, [q, oh])


# ---- loss classes --------------------------------------------------------------------

def test_mse_mae_huber_values_and_grads():
    yt, yp = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    assert np.isclose(L.MeanSquaredError()(yt, yp).item(), np.mean((yt - yp) ** 2))
    assert np.isclose(L.MeanAbsoluteError()(yt, yp).item(), np.mean(np.abs(yt - yp)))
    d = np.abs(yt - yp)
    hub = np.where(d <= 1, 0.5 * d * d, d - 0.5)
    assert np.isclose(L.Huber()(yt, yp).item(), hub.mean())
    for loss in [L.MeanSquaredError(), L.MeanAbsoluteError(), L.Huber()]:
        gradcheck(lambda p, loss=loss: loss(yt, p), [yp])
    # (N,) targets against (N, 1) predictions, as Keras squeezes/expands
    assert np.isclose(L.get("mse")(yt[:, 0], yp[:, :1]).item(), np.mean((yt[:, 0] - yp[:, 0]) ** 2))


def test_sample_weight_and_reductions():
    yt, yp = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    sw = np.array([1.0, 0.0, 2.0, 0.5])
    per = ((yt - yp) ** 2).mean(-1)
    assert np.isclose(L.MeanSquaredError()(yt, yp, sample_weight=sw).item(), (per * sw).sum() / 4)
    assert np.isclose(L.MeanSquaredError(reduction="sum")(yt, yp).item(), per.sum())
    assert L.MeanSquaredError(reduction="none")(yt, yp).shape == (4,)


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("ls", [0.0, 0.1])
def test_categorical_crossentropy(from_logits, ls):
    z = rng.standard_normal((5, 4))
    oh = np.eye(4)[rng.integers(0, 4, 5)]
    p = np.exp(np_log_softmax(z))
    t = oh * (1 - ls) + ls / 4
    want = -(t * np_log_softmax(z)).sum(-1).mean()
    loss = L.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=ls)
    got = loss(oh, z if from_logits else p).item()
    assert np.isclose(got, want, rtol=1e-6)
    gradcheck(lambda q: loss(oh, q), [z if from_logits else p])


@pytest.mark.parametrize("from_logits", [True, False])
def test_sparse_categorical_crossentropy(from_logits):
    z = rng.standard_normal((6, 3))
    lab = rng.integers(0, 3, 6)
    want = -np.take_along_axis(np_log_softmax(z), lab[:, None], -1).mean()
    loss = L.SparseCategoricalCrossentropy(from_logits=from_logits)
    x = z if from_logits else np.exp(np_log_softmax(z))
    assert np.isclose(loss(lab, x).item(), want, rtol=1e-6)
    assert np.isclose(loss(lab[:, None], x).item(), want, rtol=1e-6)  # (N, 1) labels
    gradcheck(lambda q: loss(lab, q), [x])
    # ignore_class: ignored positions contribute nothing and are not counted
    lab2 = lab.copy()
    lab2[:2] = -1
    got = L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)(lab2, z).item()
    keep = np.arange(6) >= 2
    want2 = -np.take_along_axis(np_log_softmax(z[keep]), lab[keep][:, None], -1).mean()
    assert np.isclose(got, want2)


@pytest.mark.parametrize("from_logits", [True, False])
def test_binary_crossentropy(from_logits):
    z = rng.standard_normal((5, 1))
    t = rng.integers(0, 2, (5, 1)).astype(float)
    p = 1 / (1 + np.exp(-z))
    want = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()
    loss = L.BinaryCrossentropy(from_logits=from_logits)
    assert np.isclose(loss(t, z if from_logits else p).item(), want, rtol=1e-5)
    assert np.isclose(loss(t[:, 0], z if from_logits else p).item(), want, rtol=1e-5)
    gradcheck(lambda q: loss(t, q), [z if from_logits else p])


def test_softmax_and_sigmoid_outputs_use_logits():
    """CE on a softmax/sigmoid output differentiates through the logits (stable, like Keras/TF)."""
    z = ember.Tensor(np.array([[1000.0, -1000.0, 0.0]]), requires_grad=True)
    loss = L.CategoricalCrossentropy()(np.array([[0.0, 1.0, 0.0]]), ember.functional.softmax(z))
    assert np.isclose(loss.item(), 2000.0)
    loss.backward()
    np.testing.assert_allclose(z.grad.numpy(), [[1.0, -1.0, 0.0]], atol=1e-12)
    zb = ember.Tensor(np.array([[80.0]]), requires_grad=True)
    lb = L.BinaryCrossentropy()(np.array([[0.0]]), ember.functional.sigmoid(zb))
    assert np.isclose(lb.item(), 80.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_finite(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype)
    oh = np.array([[0, 1, 0], [1, 0, 0]], dtype)
    for loss, y in [(L.CategoricalCrossentropy(from_logits=True), oh),
                    (L.SparseCategoricalCrossentropy(from_logits=True), np.array([1, 0])),
                    (L.BinaryCrossentropy(from_logits=True), (oh > 0).astype(dtype)),
                    (L.CategoricalCrossentropy(), oh), (L.BinaryCrossentropy(), (oh > 0).astype(dtype))]:
        t = ember.Tensor(z, requires_grad=True)
        pred = t if loss.from_logits else (ember.functional.softmax(t) if isinstance(loss, L.CategoricalCrossentropy)
                                           else ember.functional.sigmoid(t))
        out = loss(y, pred)
        out.backward()
        assert np.isfinite(out.item()) and np.all(np.isfinite(t.grad.numpy())), type(loss).__name__
    # probabilities of exactly 0 and 1 (clipped like Keras)
    p = np.array([[0.0, 1.0, 0.0]], dtype)
    assert np.isfinite(L.CategoricalCrossentropy()(np.array([[1, 0, 0]]), p).item())
    assert np.isfinite(L.BinaryCrossentropy()(np.array([[1, 0, 1]]), p).item())


def test_wrong_label_shapes_raise():
    z = np.zeros((4, 10), np.float32)
    with pytest.raises(ValueError) as e:
        L.SparseCategoricalCrossentropy()(np.zeros((4, 10)), z)
    assert "SparseCategoricalCrossentropy" in str(e.value) and "(4, 10)" in str(e.value)
    with pytest.raises(ValueError) as e:
        L.CategoricalCrossentropy()(np.zeros((4, 3)), z)
    assert "CategoricalCrossentropy" in str(e.value) and "(4, 3)" in str(e.value) and "(4, 10)" in str(e.value)
    with pytest.raises(ValueError, match="MeanSquaredError"):
        L.MeanSquaredError()(np.zeros((4, 3)), z)
    with pytest.raises(ValueError, match="BinaryCrossentropy"):
        L.BinaryCrossentropy()(np.zeros((5, 1)), np.zeros((4, 1)))
    with pytest.raises(TypeError, match="numeric"):
        L.MeanSquaredError()(np.array([["a"] * 10] * 4), z)


def test_get_by_name():
    for name, cls in [("mse", L.MeanSquaredError), ("mean_squared_error", L.MeanSquaredError),
                      ("mae", L.MeanAbsoluteError), ("binary_crossentropy", L.BinaryCrossentropy),
                      ("categorical_crossentropy", L.CategoricalCrossentropy),
                      ("sparse_categorical_crossentropy", L.SparseCategoricalCrossentropy), ("huber", L.Huber)]:
        assert isinstance(L.get(name), cls)
    with pytest.raises(ValueError, match="Unknown loss"):
        L.get("nope")
    f = L.get(lambda yt, yp: (yp - yt) ** 2)
    assert np.isclose(f(np.ones((2, 1)), np.zeros((2, 1))).item(), 1.0)
