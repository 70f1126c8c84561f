"""Core ops: forward vs NumPy and float64 finite-difference gradients, odd shapes, broadcasting."""
import numpy as np
import pytest

import ember
import ember.functional as F
from ember.testing import check_op, gradcheck

rng = np.random.default_rng(0)


def r(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape)


BINARY = [
    (lambda a, b: a + b, np.add),
    (lambda a, b: a - b, np.subtract),
    (lambda a, b: a * b, np.multiply),
    (lambda a, b: a / b, np.divide),
    (F.maximum, np.maximum),
    (F.minimum, np.minimum),
]
SHAPES = [((3, 5), (3, 5)), ((3, 5), (5,)), ((2, 1, 7), (3, 1)), ((1,), (4, 3)), ((), (2, 3)), ((2, 3), ())]


@pytest.mark.parametrize("fn,ref", BINARY)
@pytest.mark.parametrize("sa,sb", SHAPES)
def test_binary_broadcast(fn, ref, sa, sb):
    a = r(*sa)
    b = r(*sb, lo=0.5, hi=1.5)  # away from 0 (division) and from a (max/min ties)
    check_op(fn, ref, [a, b])


UNARY = [
    (F.exp, np.exp, (-1, 1)),
    (F.log, np.log, (0.5, 2)),
    (F.sqrt, np.sqrt, (0.5, 2)),
    (F.tanh, np.tanh, (-2, 2)),
    (F.sigmoid, lambda x: 1 / (1 + np.exp(-x)), (-3, 3)),
    (F.relu, lambda x: np.maximum(x, 0), (-1, 1)),
    (F.abs, np.abs, (-1, 1)),
    (lambda x: x ** 3, lambda x: x ** 3, (-1, 1)),
    (lambda x: -x, np.negative, (-1, 1)),
    (F.square, np.square, (-1, 1)),
]


@pytest.mark.parametrize("fn,ref,dom", UNARY)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 13), (2, 3, 5)])
def test_unary(fn, ref, dom, shape):
    x = r(*shape, lo=dom[0], hi=dom[1])
    if fn in (F.relu, F.abs):
        x = np.where(np.abs(x) < 1e-3, 0.1, x)  # keep finite differences off the kink
    check_op(fn, ref, [x])


def test_pow_tensor_exponent():
    check_op(lambda a, b: a ** b, np.power, [r(3, 4, lo=0.5, hi=2), r(4, lo=-1, hi=2)])


@pytest.mark.parametrize("shape,axis,keep", [((7,), None, False), ((3, 5), 0, False), ((3, 5), 1, True),
                                             ((2, 3, 5), (0, 2), False), ((2, 3, 5), -1, True), ((1, 1), None, True)])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var"])
def test_reductions(shape, axis, keep, name):
    ref = getattr(np, name)
    check_op(lambda a: getattr(a, name)(axis=axis, keepdims=keep), lambda a: ref(a, axis=axis, keepdims=keep), [r(*shape)])


def test_max_ties_share_gradient():
    x = ember.Tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5]])


@pytest.mark.parametrize("sa,sb", [((1, 1), (1, 1)), ((7, 13), (13, 3)), ((3,), (3, 4)), ((4, 3), (3,)), ((5,), (5,)),
                                   ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
                                   ((3, 4), (2, 4, 5))])
def test_matmul(sa, sb):
    check_op(lambda a, b: a @ b, np.matmul, [r(*sa), r(*sb)])


def test_matmul_noncontiguous_and_transposed():
    a = r(9, 14)[::2, 1::2]  # strided view
    b = r(6, 7).T            # column-major view
    check_op(lambda x, y: x @ y, np.matmul, [a, b])
    check_op(lambda x, y: x @ y.T, lambda x, y: x @ y.T, [r(5, 4), r(3, 4)])


def test_matmul_large_matches_numpy_float32():
    a = rng.standard_normal((129, 1001)).astype(np.float32)
    b = rng.standard_normal((1001, 67)).astype(np.float32)
    np.testing.assert_allclose((ember.Tensor(a) @ b).numpy(), a @ b, rtol=1e-4, atol=1e-3)


def test_matmul_shape_error():
    with pytest.raises(ValueError, match=r"matmul.*\(3, 4\).*\(5, 2\)"):
        ember.Tensor(np.ones((3, 4))) @ np.ones((5, 2))


@pytest.mark.parametrize("fn", [
    lambda a: a.reshape(5, 3), lambda a: a.reshape(-1), lambda a: a.T, lambda a: a.transpose(1, 0),
    lambda a: a[1:, ::2], lambda a: a[-1], lambda a: a[:, None, 2], lambda a: a[[0, 2, 0]],
    lambda a: a[np.array([True, False, True])], lambda a: F.expand_dims(a, 1), lambda a: F.pad(a, ((1, 0), (2, 1))),
    lambda a: F.broadcast_to(a[:1], (4, 5)), lambda a: F.clip(a, -0.5, 0.5),
])
def test_shape_ops(fn):
    x = r(3, 5)
    x = np.where(np.abs(np.abs(x) - 0.5) < 1e-3, 0.3, x)
    check_op(fn, lambda a: fn(ember.Tensor(a, dtype="float64")).numpy(), [x])
    gradcheck(fn, [x])


def test_repeated_index_accumulates():
    x = ember.Tensor(np.arange(4.0), requires_grad=True)
    x[np.array([0, 0, 3])].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 0, 0, 1])


def test_concatenate_and_stack():
    a, b = r(2, 3), r(4, 3)
    check_op(lambda x, y: ember.concatenate([x, y], axis=0), lambda x, y: np.concatenate([x, y], 0), [a, b])
    check_op(lambda x, y: ember.stack([x, y], axis=1), lambda x, y: np.stack([x, y], 1), [a, r(2, 3)])
    with pytest.raises(ValueError, match="stack"):
        ember.stack([a, b])


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "gelu", "leaky_relu", "elu", "selu", "softplus", "silu"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 3, 5)])
def test_activations_gradcheck(name, shape):
    x = r(*shape, lo=-3, hi=3)
    x = np.where(np.abs(x) < 1e-3, 0.2, x)
    gradcheck(getattr(F, name), [x])


def test_softmax_extreme_logits_are_finite():
    x = ember.Tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], requires_grad=True)
    y = F.log_softmax(x)
    assert np.all(np.isfinite(y.numpy()))
    y.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(F.softmax(x).numpy().sum(-1), 1, rtol=1e-6)


def test_gelu_matches_reference():
    from math import erf, sqrt
    x = np.linspace(-4, 4, 41)
    want = np.array([0.5 * v * (1 + erf(v / sqrt(2))) for v in x])
    np.testing.assert_allclose(F.gelu(ember.Tensor(x, dtype="float64")).numpy(), want, atol=1e-12)
    np.testing.assert_allclose(F.gelu(ember.Tensor(x), approximate=True).numpy(), want, atol=2e-3)


@pytest.mark.parametrize("name", ["sigmoid", "gelu", "leaky_relu", "elu", "selu", "softplus", "silu"])
def test_activations_float32_values_any_layout(name):
    """float32 activations (kernel or NumPy blends) against float64 references on a 3-D
    array, a transposed (non-contiguous) view, a 0-d array and an empty array."""
    from math import erf
    refs = {
        "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        "gelu": lambda v: 0.5 * v * (1 + np.vectorize(erf, otypes=[np.float64])(v / np.sqrt(2))),
        "leaky_relu": lambda v: np.where(v > 0, v, 0.2 * v),
        "elu": lambda v: np.where(v > 0, v, np.expm1(v)),
        "selu": lambda v: 1.0507009873554805 * np.where(v > 0, v, 1.6732632423543772 * np.expm1(v)),
        "softplus": lambda v: np.logaddexp(0, v),
        "silu": lambda v: v / (1 + np.exp(-v)),
    }
    x = np.random.default_rng(5).standard_normal((3, 4, 9)).astype(np.float32) * 4
    for arr in (x, x.transpose(2, 0, 1), np.array(1.5, np.float32), np.zeros((0, 3), np.float32)):
        t = ember.Tensor(arr, requires_grad=True)
        y = getattr(F, name)(t)
        assert y.shape == arr.shape and y.dtype == np.float32
        np.testing.assert_allclose(y.numpy(), refs[name](arr.astype(np.float64)), rtol=2e-6, atol=2e-6)
        y.backward(np.ones(arr.shape, np.float32))
        assert t.grad.shape == arr.shape
