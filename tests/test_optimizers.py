"""Optimizers: steps vs NumPy references of the Keras formulas and vs torch.optim."""
import math

import numpy as np
import pytest

import ember
from ember import optimizers as O


def _var(a):
    return ember.Tensor(np.array(a, dtype=np.float64), requires_grad=True)


def _run(opt, p0, grads):
    v = _var(p0)
    for g in grads:
        opt.apply_gradients([(ember.Tensor(g), v)])
    return v.numpy()


rng = np.random.default_rng(0)
P0 = rng.standard_normal((3, 5))
GRADS = [rng.standard_normal((3, 5)) for _ in range(5)]


def test_sgd_matches_reference():
    p, m = P0.copy(), np.zeros_like(P0)
    for g in GRADS:
        m = 0.9 * m - 0.1 * g
        p = p + 0.9 * m - 0.1 * g
    np.testing.assert_allclose(_run(O.SGD(0.1, momentum=0.9, nesterov=True), P0, GRADS), p, rtol=1e-12)
    p = P0.copy()
    for g in GRADS:
        p = p - 0.1 * g
    np.testing.assert_allclose(_run(O.SGD(0.1), P0, GRADS), p, rtol=1e-12)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_matches_reference(amsgrad):
    p, m, v, vh = P0.copy(), np.zeros_like(P0), np.zeros_like(P0), np.zeros_like(P0)
    for t, g in enumerate(GRADS, 1):
        lr_t = 0.01 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        m += (g - m) * 0.1
        v += (g * g - v) * 0.001
        vh = np.maximum(vh, v)
        p = p - lr_t * m / (np.sqrt(vh if amsgrad else v) + 1e-7)
    np.testing.assert_allclose(_run(O.Adam(0.01, amsgrad=amsgrad), P0, GRADS), p, rtol=1e-12)


def test_adamw_and_rmsprop_match_reference():
    p, m, v = P0.copy(), np.zeros_like(P0), np.zeros_like(P0)
    for t, g in enumerate(GRADS, 1):
        p = p - 0.01 * 0.1 * p
        lr_t = 0.01 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        m += (g - m) * 0.1
        v += (g * g - v) * 0.001
        p = p - lr_t * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(_run(O.AdamW(0.01, weight_decay=0.1), P0, GRADS), p, rtol=1e-12)
    p, v, a, mo = P0.copy(), np.zeros_like(P0), np.zeros_like(P0), np.zeros_like(P0)
    for g in GRADS:
        v = 0.9 * v + 0.1 * g * g
        a = 0.9 * a + 0.1 * g
        mo = 0.5 * mo + 0.01 * g / np.sqrt(v - a * a + 1e-7)
        p = p - mo
    np.testing.assert_allclose(_run(O.RMSprop(0.01, momentum=0.5, centered=True), P0, GRADS), p, rtol=1e-10)


def test_torch_equivalence():
    torch = pytest.importorskip("torch")

    def torch_run(make, grads):
        w = torch.tensor(P0.copy(), requires_grad=True)
        opt = make([w])
        for g in grads:
            opt.zero_grad()
            w.grad = torch.tensor(g)
            opt.step()
        return w.detach().numpy()

    np.testing.assert_allclose(_run(O.SGD(0.05, momentum=0.9), P0, GRADS),
                               torch_run(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), GRADS), rtol=1e-10)
    np.testing.assert_allclose(_run(O.SGD(0.05, momentum=0.9, nesterov=True), P0, GRADS),
                               torch_run(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True), GRADS),
                               rtol=1e-10)
    # Keras' epsilon is added to sqrt(v) before bias correction; with a tiny epsilon both agree
    np.testing.assert_allclose(_run(O.Adam(0.01, epsilon=1e-12), P0, GRADS),
                               torch_run(lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-12), GRADS), rtol=1e-7)
    np.testing.assert_allclose(_run(O.AdamW(0.01, weight_decay=0.05, epsilon=1e-12), P0, GRADS),
                               torch_run(lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.05, eps=1e-12), GRADS),
                               rtol=1e-7)


def test_none_grads_skipped_and_state_reused():
    a, b = _var(np.ones(3)), _var(np.ones(2))
    opt = O.Adam(0.1)
    opt.apply_gradients([(None, a), (ember.Tensor(np.ones(2)), b)])
    np.testing.assert_array_equal(a.numpy(), 1.0)
    assert opt.iterations == 1 and b.numpy()[0] < 1
    slots = opt._slots(b)
    opt.apply_gradients([(np.ones(2), b)])  # NumPy gradients accepted
    assert opt._slots(b)["m"] is slots["m"]  # state updated in place, not re-created
    assert opt.apply_gradients([(None, a)]) == 2  # all None: no step


def test_clipping_schedule_and_get():
    v = _var(np.zeros(2))
    O.SGD(1.0, clipnorm=1.0).apply_gradients([(np.array([3.0, 4.0]), v)])
    np.testing.assert_allclose(v.numpy(), [-0.6, -0.8])
    v = _var(np.zeros(2))
    O.SGD(1.0, clipvalue=0.5).apply_gradients([(np.array([3.0, -0.1]), v)])
    np.testing.assert_allclose(v.numpy(), [-0.5, 0.1])
    sched = O.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    opt = O.SGD(sched)
    v = _var(np.zeros(1))
    opt.apply_gradients([(np.ones(1), v)])
    opt.apply_gradients([(np.ones(1), v)])
    np.testing.assert_allclose(v.numpy(), [-0.15])
    for name, cls in [("adam", O.Adam), ("sgd", O.SGD), ("rmsprop", O.RMSprop), ("adamw", O.AdamW)]:
        assert isinstance(O.get(name), cls)
    with pytest.raises(ValueError, match="Unknown optimizer"):
        O.get("adagradx")


def test_nan_gradients_do_not_crash():
    v = ember.Tensor(np.ones(4, np.float32), requires_grad=True)
    opt = O.Adam(1e30)
    opt.apply_gradients([(np.array([np.nan, np.inf, -np.inf, 1e38], np.float32), v)])
    assert not np.all(np.isfinite(v.numpy()))


def test_float32_variables_updated_in_place():
    v = ember.Tensor(np.ones((4, 3), np.float32), requires_grad=True)
    buf = v.data
    O.RMSprop(0.01).apply_gradients([(np.ones((4, 3), np.float32), v)])
    assert v.data is buf and v.dtype == np.float32 and np.all(v.numpy() < 1)
