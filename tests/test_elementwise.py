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


@pytest.mark.parametrize("path", _C.kernel_paths())
@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_float32_sigmoid_tanh_are_accurate_everywhere(act, path):
    """The vectorised float32 sigmoid / tanh (AVX2) keep ~3 ulp of relative accuracy over the
    whole range, tiny arguments included (tanh(1e-7) = 1e-7, not 0), saturate exactly, and
    let NaN through; row lengths that are not multiples of the vector width included."""
    x = np.concatenate([np.linspace(-30, 30, 6001), np.logspace(-9, 1.5, 500), -np.logspace(-9, 1.5, 500),
                        [0.0, -0.0, 9.02, -9.02, 200.0, -200.0]]).astype(np.float32)
    ref = ref_forward(x[None, :], None, act)[0]
    _C.set_kernel_path(path)
    try:
        for cols in (x.size, 13, 7, 1):
            xs = x[: x.size // cols * cols].reshape(-1, cols)
            y = cpu.bias_act_forward(xs, None, act).ravel()
            r = ref[: y.size]
            small = np.abs(r) < 1e-30  # sigmoid far below -88: subnormal or 0 either way
            rel = np.abs(y - r) / np.where(small, 1.0, np.abs(r))
            assert rel[~small].max() < 4e-7, (cols, x[:y.size][np.argmax(np.where(small, 0, rel))])
            assert np.all(np.abs(y[small]) < 1e-30)
        special = np.array([[np.nan, np.inf, -np.inf, 1e-7]], np.float32)
        y = cpu.bias_act_forward(special, None, act)[0]
        assert np.isnan(y[0])
        want = [1.0, 0.0] if act == "sigmoid" else [1.0, -1.0]
        assert list(y[1:3]) == want
        tiny = np.float32(0.5) if act == "sigmoid" else np.float32(1e-7)
        assert abs(y[3] - tiny) <= 4 * np.spacing(tiny)  # within the ~3 ulp bound above
    finally:
        _C.set_kernel_path("auto")


@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
def test_relu_backward_zeroes_nonfinite_upstream_where_inactive(act):
    """The branch-free relu / leaky-relu backward keeps the select semantics: dy where the
    unit is active, 0 (relu) or alpha * dy (leaky) elsewhere, NaN/inf upstream included."""
    dy = np.array([[np.nan, np.inf, 2.0, -3.0, np.nan, 5.0, 1.0, 1.0, 7.0]], np.float32)
    y = np.array([[1.0, -1.0, 0.0, 2.0, -1.0, 1.0, 1.0, -0.5, 3.0]], np.float32)
    if act == "relu":
        y = np.maximum(y, 0)
    dx, _ = cpu.bias_act_backward(dy, y, y, None, act, 0.2, False)
    slope = np.where(y > 0, 1.0, 0.2 if act == "leaky_relu" else 0.0)
    want = np.where(y > 0, dy, (0.2 * dy) if act == "leaky_relu" else 0.0)
    np.testing.assert_array_equal(dx, want.astype(np.float32))
    assert slope.shape == dx.shape


@pytest.mark.parametrize("path", _C.kernel_paths())
def test_float32_gelu_forward_and_grad_accuracy(path):
    """Vectorised float32 GELU (rational erf; lanes below z = -2.5, where 1 + erf cancels, use
    the scalar erf) and its derivative: within a few ulp of max(|value|, 1) everywhere, as the
    portable libm path; tails of every length; NaN propagates."""
    z = np.concatenate([np.linspace(-9, 9, 9001), np.logspace(-8, 0.9, 400), -np.logspace(-8, 0.9, 400)])
    z = z.astype(np.float32)
    z64 = z.astype(np.float64)
    cdf = 0.5 * (1 + refs.erf(z64 / np.sqrt(2)))
    want_y = z64 * cdf
    want_g = cdf + z64 * np.exp(-0.5 * z64 * z64) / np.sqrt(2 * np.pi)
    _C.set_kernel_path(path)
    try:
        for cols in (z.size, 11, 8, 3):
            n = z.size // cols * cols
            zs = z[:n].reshape(-1, cols)
            y = cpu.bias_act_forward(zs, None, "gelu").ravel()
            dx, _ = cpu.bias_act_backward(np.ones_like(zs), None, zs, None, "gelu", 0.0, False)
            dx = dx.ravel()
            for got, want in ((y, want_y[:n]), (dx, want_g[:n])):
                # a few float32 ulp of max(|value|, 1): the portable path (libm erf) is at 1.5e-7
                assert np.all(np.abs(got - want) <= 3e-7 * np.maximum(np.abs(want), 1.0))
        y = cpu.bias_act_forward(np.array([[np.nan, 0.0, 1.0]], np.float32), None, "gelu")[0]
        assert np.isnan(y[0]) and y[1] == 0.0
    finally:
        _C.set_kernel_path("auto")


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "sigmoid", "tanh", "gelu"])
def test_forward_lets_nan_through(act):
    """A NaN pre-activation stays NaN (visible to the user), with the vector blends too."""
    x = np.full((3, 19), 0.5, np.float32)
    x[:, ::4] = np.nan
    for b in (None, np.zeros(19, np.float32)):
        y = cpu.bias_act_forward(x, b, act, 0.2)
        assert np.array_equal(np.isnan(y), np.isnan(x)), act
