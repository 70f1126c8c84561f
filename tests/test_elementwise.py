"""Fused bias + activation and optimizer-update kernels against NumPy references."""
import math

import numpy as np
import pytest

import _refs as refs

import ember
from ember import _C
from ember.backend import cpu

ACTS = ["linear", "relu", "sigmoid", "tanh", "gelu", "leaky_relu"]
SHAPES = [(1, 1), (3, 7), (17, 5), (64, 33), (257, 129)]


def ref_forward(x, b, act, alpha=0.2):
    return refs.activation(x.astype(np.float64) + (0 if b is None else b.astype(np.float64)), act, alpha)


def ref_grad(z, act, alpha=0.2):
    if act == "linear":
        return np.ones_like(z)
    if act == "relu":
        return (z > 0).astype(np.float64)
    if act == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        return s * (1 - s)
    if act == "tanh":
        return 1 - np.tanh(z) ** 2
    if act == "gelu":
        return 0.5 * (1 + refs.erf(z / np.sqrt(2))) + z * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    return np.where(z > 0, 1.0, alpha)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_bias_act_forward_backward(dtype, act, shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype) * 3
    b = rng.standard_normal(shape[1]).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    y = cpu.bias_act_forward(x, b, act, 0.2)
    np.testing.assert_allclose(y, ref_forward(x, b, act), **tol)
    assert y.dtype == dtype
    dx, db = cpu.bias_act_backward(dy, y, x, b, act, 0.2)
    z = x.astype(np.float64) + b
    want_dx = dy * ref_grad(z, act)
    np.testing.assert_allclose(dx, want_dx, **tol)
    np.testing.assert_allclose(db, want_dx.sum(0), rtol=tol["rtol"] * 10, atol=tol["atol"] * shape[0])
    # naive C++ oracle agrees exactly in structure (same math, single thread)
    yn = _C.bias_act_forward(x, b, cpu.FUSED_ACTIVATIONS[act], 0.2, None, True)
    np.testing.assert_allclose(y, yn, **tol)
    dxn, dbn = _C.bias_act_backward(dy, y, x, b, cpu.FUSED_ACTIVATIONS[act], 0.2, True, True)
    np.testing.assert_allclose(dx, dxn, **tol)
    np.testing.assert_allclose(db, dbn, rtol=tol["rtol"] * 10, atol=tol["atol"] * shape[0])


def test_no_bias_in_place_and_noncontiguous():
    rng = np.random.default_rng(2)
    big = rng.standard_normal((40, 30))
    x = big[::2, ::3]  # non-contiguous view
    dy = np.broadcast_to(rng.standard_normal(x.shape[1]), x.shape)  # zero-stride gradient
    y = cpu.bias_act_forward(x, None, "tanh")
    np.testing.assert_allclose(y, np.tanh(x), rtol=1e-12)
    dx, db = cpu.bias_act_backward(dy, y, None, None, "tanh", need_db=False)
    assert db is None
    np.testing.assert_allclose(dx, dy * (1 - np.tanh(x) ** 2), rtol=1e-12)
    z = np.ascontiguousarray(x)
    out = cpu.bias_act_forward(z, None, "relu", out=z)
    assert out is z or np.shares_memory(out, z)
    np.testing.assert_allclose(z, np.maximum(x, 0))


def test_db_thread_count_independent():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1000, 70)).astype(np.float32)
    y = cpu.bias_act_forward(x, None, "relu")
    dy = rng.standard_normal(x.shape).astype(np.float32)
    prev = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        _, db1 = cpu.bias_act_backward(dy, y, None, None, "relu")
        ember.set_num_threads(2)
        _, db2 = cpu.bias_act_backward(dy, y, None, None, "relu")
        ember.set_num_threads(3)
        _, db3 = cpu.bias_act_backward(dy, y, None, None, "relu")
    finally:
        ember.set_num_threads(prev)
    assert np.array_equal(db1, db2) and np.array_equal(db1, db3)


def test_bindings_validate():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"'b' must have shape \(4,\)"):
        _C.bias_act_forward(x, np.zeros(5, np.float32), 1)
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.bias_act_forward(np.zeros((3, 4), np.int32), None, 1)
    with pytest.raises(ValueError, match="activation code"):
        _C.bias_act_forward(x, None, 9)
    with pytest.raises(ValueError, match="'x' is required"):
        _C.bias_act_backward(x, None, None, None, 4)
    with pytest.raises(ValueError, match="must be 2-D"):
        _C.bias_act_forward(np.zeros(3, np.float32), None, 1)
    p = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match="'grad' has shape"):
        _C.sgd_update(p, np.zeros(4, np.float32), None, 0.1, 0.0, False, 0.0)
    with pytest.raises(TypeError):
        _C.adam_update(p, np.zeros(5, np.float64), np.zeros(5, np.float32), np.zeros(5, np.float32), None,
                       0.1, 0.1, 0.9, 0.999, 1e-7, 0.0)


# --------------------------------------------------------------------------------------
# optimizer kernels vs NumPy references of the Keras formulas
# --------------------------------------------------------------------------------------

def np_sgd(p, g, m, lr, mu, nesterov, wd):
    p = p - lr * wd * p
    if m is None:
        return p - lr * g, None
    m = mu * m - lr * g
    return (p + mu * m - lr * g if nesterov else p + m), m


def np_adam(p, g, m, v, vh, t, lr, b1, b2, eps, wd):
    lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    p = p - lr * wd * p
    m = m + (g - m) * (1 - b1)
    v = v + (g * g - v) * (1 - b2)
    vv = v
    if vh is not None:
        vh = np.maximum(vh, v)
        vv = vh
    return p - lr_t * m / (np.sqrt(vv) + eps), m, v, vh


def np_rmsprop(p, g, v, mo, a, lr, rho, mu, eps, wd):
    p = p - lr * wd * p
    v = rho * v + (1 - rho) * g * g
    if a is not None:
        a = rho * a + (1 - rho) * g
        den = v - a * a + eps
    else:
        den = v + eps
    inc = lr * g / np.sqrt(den)
    if mo is not None:
        mo = mu * mo + inc
        return p - mo, v, mo, a
    return p - inc, v, mo, a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 1031, 70001])
@pytest.mark.parametrize("mu,nesterov,wd", [(0.0, False, 0.0), (0.9, False, 0.0), (0.9, True, 0.01)])
def test_sgd_kernel(dtype, n, mu, nesterov, wd):
    rng = np.random.default_rng(n)
    p = rng.standard_normal(n).astype(dtype)
    m = np.zeros(n, dtype) if mu else None
    rp, rm = p.astype(np.float64), (None if m is None else m.astype(np.float64))
    for _ in range(3):
        g = rng.standard_normal(n).astype(dtype)
        cpu.sgd_update(p, g, m, 0.05, mu, nesterov, wd)
        rp, rm = np_sgd(rp, g.astype(np.float64), rm, 0.05, mu, nesterov, wd)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(p, rp, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 13, 40009])
@pytest.mark.parametrize("amsgrad,wd", [(False, 0.0), (True, 0.0), (False, 0.004)])
def test_adam_kernel(dtype, n, amsgrad, wd):
    rng = np.random.default_rng(n + 1)
    p = rng.standard_normal(n).astype(dtype)
    m, v = np.zeros(n, dtype), np.zeros(n, dtype)
    vh = np.zeros(n, dtype) if amsgrad else None
    r = [p.astype(np.float64), m.astype(np.float64), v.astype(np.float64), None if vh is None else vh.astype(np.float64)]
    for t in range(1, 5):
        g = rng.standard_normal(n).astype(dtype) * (1 + t)
        lr_t = 0.01 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        cpu.adam_update(p, g, m, v, vh, 0.01, lr_t, 0.9, 0.999, 1e-7, wd)
        r = np_adam(r[0], g.astype(np.float64), r[1], r[2], r[3], t, 0.01, 0.9, 0.999, 1e-7, wd)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(p, r[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(m, r[1], rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 11, 50021])
@pytest.mark.parametrize("mu,centered", [(0.0, False), (0.9, False), (0.5, True)])
def test_rmsprop_kernel(dtype, n, mu, centered):
    rng = np.random.default_rng(n + 2)
    p = rng.standard_normal(n).astype(dtype)
    v = np.zeros(n, dtype)
    mo = np.zeros(n, dtype) if mu else None
    a = np.zeros(n, dtype) if centered else None
    r = [p.astype(np.float64), v.astype(np.float64), None if mo is None else mo.astype(np.float64),
         None if a is None else a.astype(np.float64)]
    for _ in range(4):
        g = rng.standard_normal(n).astype(dtype)
        cpu.rmsprop_update(p, g, v, mo, a, 0.01, 0.9, mu, 1e-7, 0.0)
        r = np_rmsprop(r[0], g.astype(np.float64), r[1], r[2], r[3], 0.01, 0.9, mu, 1e-7, 0.0)
    tol = 2e-5 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(p, r[0], rtol=tol, atol=tol)
