"""Optimizers Adagrad / Adadelta / Adamax / Nadam (NumPy re-implementations of Keras 3's
update rules, torch.optim), optimizer arguments; losses KLDivergence, Hinge, SquaredHinge,
CategoricalHinge, LogCosh, Poisson, CosineSimilarity, MAPE, MSLE (NumPy reference values,
float64 gradchecks, reduction, sample_weight); string names in compile."""
import math

import numpy as np
import pytest

import ember
from ember import losses as L
from ember import optimizers as O
from ember.testing import gradcheck

rng = np.random.default_rng(0)
P0 = rng.standard_normal((3, 5))
GRADS = [rng.standard_normal((3, 5)) for _ in range(6)]


def _run(opt, grads=GRADS, p0=P0):
    v = ember.Tensor(np.array(p0, dtype=np.float64), requires_grad=True)
    for g in grads:
        opt.apply_gradients([(ember.Tensor(g), v)])
    return v.numpy()


# ---- NumPy references: Keras 3 update_step, written out ---------------------------------

def ref_adagrad(lr, init=0.1, eps=1e-7, wd=0.0):
    p, acc = P0.copy(), np.full_like(P0, init)
    for g in GRADS:
        p = p - p * wd * lr
        acc = acc + g * g
        p = p - lr * g / np.sqrt(acc + eps)
    return p


def ref_adadelta(lr, rho=0.95, eps=1e-7):
    p, ag, ad = P0.copy(), np.zeros_like(P0), np.zeros_like(P0)
    for g in GRADS:
        ag = rho * ag + (1 - rho) * g * g
        d = -np.sqrt(ad + eps) * g / np.sqrt(ag + eps)
        ad = rho * ad + (1 - rho) * d * d
        p = p + lr * d
    return p


def ref_adamax(lr, b1=0.9, b2=0.999, eps=1e-7):
    p, m, u = P0.copy(), np.zeros_like(P0), np.zeros_like(P0)
    for t, g in enumerate(GRADS, 1):
        m = m + (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        p = p - lr * m / ((1 - b1 ** t) * (u + eps))
    return p


def ref_nadam(lr, b1=0.9, b2=0.999, eps=1e-7):
    p, m, v, prod = P0.copy(), np.zeros_like(P0), np.zeros_like(P0), 1.0
    for t, g in enumerate(GRADS, 1):
        u_t, u_t1 = b1 * (1 - 0.5 * 0.96 ** t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        prod = prod * u_t
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        m_hat = u_t1 * m / (1 - prod * u_t1) + (1 - u_t) * g / (1 - prod)
        v_hat = v / (1 - b2 ** t)
        p = p - m_hat * lr / (np.sqrt(v_hat) + eps)
    return p


def test_new_optimizers_match_keras_formulas():
    np.testing.assert_allclose(_run(O.Adagrad(0.1)), ref_adagrad(0.1), rtol=1e-12)
    np.testing.assert_allclose(_run(O.Adagrad(0.1, initial_accumulator_value=1.0, weight_decay=0.05)),
                               ref_adagrad(0.1, init=1.0, wd=0.05), rtol=1e-12)
    np.testing.assert_allclose(_run(O.Adadelta(1.0, rho=0.9)), ref_adadelta(1.0, rho=0.9), rtol=1e-12)
    np.testing.assert_allclose(_run(O.Adamax(0.02)), ref_adamax(0.02), rtol=1e-12)
    np.testing.assert_allclose(_run(O.Nadam(0.01)), ref_nadam(0.01), rtol=1e-12)
    np.testing.assert_allclose(_run(O.Nadam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-3)),
                               ref_nadam(0.01, b1=0.8, b2=0.99, eps=1e-3), rtol=1e-12)


def test_new_optimizers_match_torch():
    torch = pytest.importorskip("torch")

    def torch_run(make):
        w = torch.tensor(P0.copy(), requires_grad=True)
        opt = make([w])
        for g in GRADS:
            opt.zero_grad()
            w.grad = torch.tensor(g)
            opt.step()
        return w.detach().numpy()

    # epsilon sits in a different place in torch's Adagrad / Adamax: with 0 both are exact
    np.testing.assert_allclose(_run(O.Adagrad(0.1, epsilon=0.0)),
                               torch_run(lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1,
                                                                       eps=0.0)), rtol=1e-10)
    np.testing.assert_allclose(_run(O.Adadelta(1.0, rho=0.9, epsilon=1e-6)),
                               torch_run(lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6)), rtol=1e-10)
    np.testing.assert_allclose(_run(O.Adamax(0.02, epsilon=0.0)),
                               torch_run(lambda p: torch.optim.Adamax(p, lr=0.02, eps=0.0)), rtol=1e-10)
    # torch's momentum schedule is 0.96 ** (t * momentum_decay) (Keras 3: 0.96 ** t), and it
    # keeps the momentum product in float32 (hence rtol 1e-7)
    np.testing.assert_allclose(_run(O.Nadam(0.01, epsilon=1e-8)),
                               torch_run(lambda p: torch.optim.NAdam(p, lr=0.01, eps=1e-8, momentum_decay=1.0)),
                               rtol=1e-7)


@pytest.mark.parametrize("cls", [O.Adagrad, O.Adadelta, O.Adamax, O.Nadam])
def test_new_optimizers_float32_in_place_and_none_grads(cls):
    v = ember.Tensor(np.ones((4, 3), np.float32), requires_grad=True)
    other = ember.Tensor(np.ones(2, np.float32), requires_grad=True)
    buf = v.data
    opt = cls(0.1)
    for _ in range(3):
        opt.apply_gradients([(np.full((4, 3), 0.5, np.float32), v), (None, other)])
    assert v.data is buf and v.dtype == np.float32 and np.all(v.numpy() < 1) and np.all(np.isfinite(v.numpy()))
    np.testing.assert_array_equal(other.numpy(), 1.0)
    assert opt.iterations == 3


def test_clip_arguments_on_new_optimizers_and_exclusive():
    g = np.array([3.0, 4.0])
    for cls in (O.Adagrad, O.Adadelta, O.Adamax, O.Nadam):
        a = _run(cls(0.1, clipnorm=1.0), [g], np.zeros(2))
        b = _run(cls(0.1), [g / 5.0], np.zeros(2))
        np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=cls.__name__)
        a = _run(cls(0.1, clipvalue=0.5), [np.array([3.0, -0.2])], np.zeros(2))
        b = _run(cls(0.1), [np.array([0.5, -0.2])], np.zeros(2))
        np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=cls.__name__)
    with pytest.raises(ValueError, match="only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
        O.Adam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        O.Nadam(momentum=0.9)


def test_learning_rate_schedule_not_settable_and_get_config():
    opt = O.Adamax(O.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5))
    v = ember.Tensor(np.zeros(1), requires_grad=True)
    opt.apply_gradients([(np.ones(1), v)])
    assert opt.learning_rate == 0.05  # the schedule at iterations=1
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.01
    opt.learning_rate = O.schedules.ExponentialDecay(1.0, 1, 1.0)  # a schedule replaces a schedule
    assert opt.learning_rate == 1.0
    plain = O.SGD(0.1)
    plain.learning_rate = 0.2
    assert plain.learning_rate == 0.2
    assert O.Nadam(0.01, beta_1=0.8).get_config()["beta_1"] == 0.8
    assert O.Adagrad().get_config()["initial_accumulator_value"] == 0.1
    for name, cls in [("adagrad", O.Adagrad), ("Adadelta", O.Adadelta), ("adamax", O.Adamax), ("NADAM", O.Nadam)]:
        assert type(O.get(name)) is cls
    assert O.Adagrad().learning_rate == 0.001 and O.Adadelta().rho == 0.95 and O.Nadam().epsilon == 1e-7


# ---- losses ------------------------------------------------------------------------------

EPS = 1e-7
YT = rng.random((5, 4))
YP = rng.random((5, 4)) * 0.9 + 0.05


def np_refs():
    t, p = YT, YP
    ht = 2 * (t > 0.5) - 1.0
    tn = t / np.linalg.norm(t, axis=-1, keepdims=True)
    pn = p / np.linalg.norm(p, axis=-1, keepdims=True)
    return {
        "kld": (t, (t * np.log(t / p)).sum(-1)),
        "hinge": (ht, np.maximum(1 - ht * p, 0).mean(-1)),
        "squared_hinge": (ht, (np.maximum(1 - ht * p, 0) ** 2).mean(-1)),
        "log_cosh": (t, np.log(np.cosh(p - t)).mean(-1)),
        "poisson": (t, (p - t * np.log(p + EPS)).mean(-1)),
        "cosine_similarity": (t, -(tn * pn).sum(-1)),
        "mape": (t, 100 * (np.abs(t - p) / np.abs(t)).mean(-1)),
        "msle": (t, ((np.log1p(p) - np.log1p(t)) ** 2).mean(-1)),
    }


@pytest.mark.parametrize("name", ["kld", "hinge", "squared_hinge", "log_cosh", "poisson", "cosine_similarity",
                                  "mape", "msle"])
def test_new_losses_values_grads_reduction(name):
    t, want = np_refs()[name]
    loss = L.get(name)
    np.testing.assert_allclose(L.get(name)(t, YP).item(), want.mean(), rtol=1e-10)
    sw = np.array([1.0, 0.0, 2.0, 0.5, 1.5])
    np.testing.assert_allclose(loss(t, YP, sample_weight=sw).item(), (want * sw).sum() / 5, rtol=1e-10)
    assert np.isclose(type(loss)(reduction="sum")(t, YP).item(), want.sum(), rtol=1e-10)
    np.testing.assert_allclose(type(loss)(reduction="none")(t, YP).numpy(), want, rtol=1e-10)
    gradcheck(lambda p: loss(t, p, sample_weight=sw), [YP])
    # float32 in, float32 out
    assert loss(t.astype(np.float32), YP.astype(np.float32)).dtype == np.float32


def test_categorical_hinge_and_hinge_labels():
    oh = np.eye(4)[rng.integers(0, 4, 5)]
    z = rng.standard_normal((5, 4))
    want = np.maximum(((1 - oh) * z).max(-1) - (oh * z).sum(-1) + 1, 0)
    np.testing.assert_allclose(L.CategoricalHinge(reduction="none")(oh, z).numpy(), want, rtol=1e-12)
    gradcheck(lambda p: L.categorical_hinge(oh, p), [z])
    # 0 / 1 labels are converted to -1 / 1; -1 / 1 labels are used as they are
    y01 = (rng.random((6, 1)) > 0.5).astype(np.float64)
    zz = rng.standard_normal((6, 1))
    np.testing.assert_allclose(L.hinge(y01, zz).numpy(), L.hinge(2 * y01 - 1, zz).numpy(), rtol=0)
    # (N,) targets against (N, 1) predictions, like Keras
    np.testing.assert_allclose(L.Hinge()(y01[:, 0], zz).item(), L.Hinge()(y01, zz).item(), rtol=0)


def test_loss_edge_cases_stay_finite_and_keras_like():
    # LogCosh: large errors, no overflow; log(cosh(x)) ~ |x| - log 2
    big = np.array([[800.0, -900.0]])
    np.testing.assert_allclose(L.log_cosh(np.zeros((1, 2)), big).numpy(), [(800 + 900) / 2 - math.log(2)])
    # KLD clips y_true and y_pred to [eps, 1]: zeros give finite values and gradients
    t = np.array([[0.0, 1.0]])
    p = np.array([[0.3, 0.0]])
    v = L.kl_divergence(t, p).numpy()
    np.testing.assert_allclose(v, [EPS * np.log(EPS / 0.3) + np.log(1 / EPS)])
    # CosineSimilarity of a zero vector is 0 (norm clamped at epsilon), gradient finite
    z = ember.Tensor(np.zeros((1, 3)), requires_grad=True)
    out = L.cosine_similarity(np.ones((1, 3)), z)
    assert out.item() == 0 and np.all(np.isfinite(ember.grad(out.sum(), [z])[0].numpy()))
    # MAPE: y_true == 0 divides by epsilon, like Keras
    np.testing.assert_allclose(L.mape(np.zeros((1, 1)), np.full((1, 1), 1e-3)).numpy(), [100 * 1e-3 / EPS])
    gradcheck(lambda p: L.CosineSimilarity(axis=0)(YT, p), [YP])
    with pytest.raises(ValueError, match="KLDivergence: y_true and y_pred must have the same shape"):
        L.KLDivergence()(np.ones((2, 3)), np.ones((2, 4)))


def test_loss_names():
    assert L.KLDivergence().name == "kl_divergence" and L.LogCosh().name == "log_cosh"
    for name, cls in [("kld", L.KLDivergence), ("KLD", L.KLDivergence), ("kl_divergence", L.KLDivergence),
                      ("hinge", L.Hinge), ("squared_hinge", L.SquaredHinge), ("categorical_hinge", L.CategoricalHinge),
                      ("logcosh", L.LogCosh), ("log_cosh", L.LogCosh), ("poisson", L.Poisson),
                      ("cosine_similarity", L.CosineSimilarity), ("mape", L.MeanAbsolutePercentageError),
                      ("MSLE", L.MeanSquaredLogarithmicError)]:
        assert type(L.get(name)) is cls, name
    assert L.kld is L.KLD is L.kl_divergence and L.msle is L.mean_squared_logarithmic_error


def test_compile_with_string_names_trains():
    ember.set_seed(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = ember.utils.to_categorical((x[:, 0] > 0).astype(int) + (x[:, 1] > 0), 3)
    m = ember.Sequential([ember.layers.Dense(3, activation="softmax", input_shape=(4,))])
    m.compile(optimizer="nadam", loss="kld", metrics=["precision", "recall", "auc", "top_k_categorical_accuracy"])
    m.optimizer.learning_rate = 0.05
    h = m.fit(x, y, epochs=8, batch_size=16, validation_split=0.25, verbose=0)
    assert set(h.history) == {"loss", "precision", "recall", "auc", "top_k_categorical_accuracy", "val_loss",
                              "val_precision", "val_recall", "val_auc", "val_top_k_categorical_accuracy"}
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert h.history["top_k_categorical_accuracy"][-1] == 1.0  # 3 classes: always in the top 5
    m.compile(optimizer="adagrad", loss="categorical_hinge")
    m.fit(x, y, epochs=1, verbose=0)
    m.compile("adam", "mse", metrics=["precisionn"])
    with pytest.raises(ValueError, match="Unknown metric 'precisionn'"):
        m.fit(x, y, epochs=1, verbose=0)
