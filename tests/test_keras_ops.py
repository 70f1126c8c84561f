"""ember.ops (Keras 3's keras.ops): NumPy references on odd shapes, float64 gradchecks,
integer outputs, Keras' signatures and dtype rules, clear errors."""
import math

import numpy as np
import pytest

import ember
from ember import ops
from ember.testing import check_op
from _refs import erf as ref_erf

rng = np.random.default_rng(0)


def r(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape)


def test_ops_are_the_one_definition():
    # ember.ops names the ops defined in the families; nothing is defined twice
    from ember.ops import core, nn
    # (ember.ops holds the symbolic-recording wrapper of each: __wrapped__ is the op itself)
    assert ops.exp.__wrapped__ is core.exp and ops.matmul.__wrapped__ is core.matmul
    assert ops.add.__wrapped__ is core.add
    assert ops.softmax.__wrapped__ is nn.softmax and ops.transpose.__wrapped__ is core.transpose
    assert ember.ops is ops and callable(ops.norm)


REQUIRED = """shape convert_to_tensor convert_to_numpy cast arange ones zeros ones_like zeros_like full eye
one_hot argmax argmin argsort where maximum minimum abs sqrt square exp log mean sum max min std var matmul dot
einsum transpose reshape expand_dims squeeze concatenate stack split take take_along_axis tile repeat cumsum sort
top_k clip norm softmax log_softmax sigmoid relu gelu tanh logsumexp stop_gradient cond add subtract multiply
divide negative power floor ceil round sign log1p expm1 sin cos any all prod flip linspace meshgrid pad
broadcast_to is_tensor logical_and logical_or logical_not equal not_equal greater greater_equal less less_equal
binary_crossentropy categorical_crossentropy sparse_categorical_crossentropy""".split()


def test_keras_names_are_there():
    missing = [n for n in REQUIRED if not callable(getattr(ops, n, None))]
    assert not missing, missing
    for n in ("normal", "uniform", "truncated_normal", "randint", "shuffle", "dropout", "SeedGenerator"):
        assert callable(getattr(ember.random, n, None)), n


# ---------------------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------------------

def _sig(x):
    return 1 / (1 + np.exp(-x))


UNARY = [
    ("exp", np.exp, (-1, 1)), ("log", np.log, (0.5, 2)), ("sqrt", np.sqrt, (0.5, 2)),
    ("square", np.square, (-1, 1)), ("abs", np.abs, (-1, 1)), ("tanh", np.tanh, (-2, 2)),
    ("sigmoid", _sig, (-3, 3)), ("relu", lambda x: np.maximum(x, 0), (-1, 1)),
    ("negative", np.negative, (-1, 1)), ("log1p", np.log1p, (-0.5, 2)), ("expm1", np.expm1, (-1, 1)),
    ("sin", np.sin, (-3, 3)), ("cos", np.cos, (-3, 3)), ("tan", np.tan, (-1, 1)), ("sinh", np.sinh, (-2, 2)),
    ("cosh", np.cosh, (-2, 2)), ("arctan", np.arctan, (-2, 2)), ("arcsin", np.arcsin, (-0.9, 0.9)),
    ("arccos", np.arccos, (-0.9, 0.9)), ("log2", np.log2, (0.5, 2)), ("log10", np.log10, (0.5, 2)),
    ("reciprocal", np.reciprocal, (0.5, 2)), ("rsqrt", lambda x: 1 / np.sqrt(x), (0.5, 2)),
    ("erf", ref_erf, (-2, 2)), ("softplus", lambda x: np.log1p(np.exp(x)), (-3, 3)),
    ("silu", lambda x: x * _sig(x), (-3, 3)),
    ("gelu", lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), (-3, 3)),
    ("relu6", lambda x: np.clip(x, 0, 6), (-2, 8)), ("log_sigmoid", lambda x: np.log(_sig(x)), (-5, 5)),
    ("hard_sigmoid", lambda x: np.clip(x + 3, 0, 6) / 6, (-5, 5)),
    ("elu", lambda x: np.where(x > 0, x, np.expm1(x)), (-2, 2)),
    ("leaky_relu", lambda x: np.where(x > 0, x, 0.2 * x), (-2, 2)),
]


@pytest.mark.parametrize("name,ref,dom", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 13)])
def test_unary(name, ref, dom, shape):
    x = r(*shape, lo=dom[0], hi=dom[1])
    x = np.where(np.abs(x) < 1e-2, 0.1, x)  # finite differences away from kinks at 0
    if name in ("relu6", "hard_sigmoid"):
        x = np.where(np.abs(np.abs(x - 1.5) - 4.5) < 1e-2, 1.0, x)  # and from the kinks at 0/6, -3/3
    check_op(getattr(ops, name), ref, [x])


@pytest.mark.parametrize("name", [u[0] for u in UNARY])
def test_unary_empty_and_noncontiguous(name):
    fn = getattr(ops, name)
    assert fn(np.zeros((0, 3))).shape == (0, 3)
    base = rng.uniform(0.2, 0.8, (6, 10))
    strided = base[::2, 1::3]  # a non-contiguous NumPy view
    ref = dict((u[0], u[1]) for u in UNARY)[name]
    np.testing.assert_allclose(fn(strided).numpy(), ref(strided), rtol=1e-5, atol=1e-6)
    t = ops.transpose(ember.Tensor(base, dtype="float64"))  # a transposed Tensor
    np.testing.assert_allclose(fn(t).numpy(), ref(base.T), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "sign"])
def test_piecewise_constant_ops_have_zero_gradient(name):
    x = r(3, 7) * 3
    x = np.where(np.abs(x - np.round(x)) < 0.05, x + 0.2, x)  # off the steps
    x = np.where(np.abs(np.abs(x - np.floor(x)) - 0.5) < 0.05, x + 0.2, x)  # and off round's halves
    check_op(getattr(ops, name), getattr(np, name), [x])
    assert ops.round(np.array([0.5, 1.5, 2.567]), 1).numpy().tolist() == pytest.approx([0.5, 1.5, 2.6])


BINARY = [
    ("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply), ("divide", np.divide),
    ("true_divide", np.divide), ("maximum", np.maximum), ("minimum", np.minimum), ("power", np.power),
    ("mod", np.mod),
]


@pytest.mark.parametrize("name,ref", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("sa,sb", [((3, 5), (3, 5)), ((2, 1, 7), (3, 1)), ((1,), (4, 3)), ((), (2, 3))])
def test_binary(name, ref, sa, sb):
    a = r(*sa, lo=0.5, hi=2.0)
    b = r(*sb, lo=0.3, hi=0.45) if name == "mod" else r(*sb, lo=0.5, hi=1.5) + 0.013
    check_op(getattr(ops, name), ref, [a, b])


def test_binary_shape_errors_name_the_op():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) do not broadcast"):
        ops.add(np.ones((2, 3)), np.ones(4))
    with pytest.raises(ValueError, match="equal: shapes"):
        ops.equal(np.ones((2, 3)), np.ones(4))


def test_comparisons_and_logic_give_bool_tensors():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])
    for name in ["equal", "not_equal", "greater", "greater_equal", "less", "less_equal"]:
        out = getattr(ops, name)(a, b)
        assert isinstance(out, ember.Tensor) and out.dtype == np.bool_
        np.testing.assert_array_equal(out.numpy(), getattr(np, name)(a, b))
    p, q = np.array([True, True, False]), np.array([True, False, False])
    np.testing.assert_array_equal(ops.logical_and(p, q).numpy(), p & q)
    np.testing.assert_array_equal(ops.logical_or(p, q).numpy(), p | q)
    np.testing.assert_array_equal(ops.logical_xor(p, q).numpy(), p ^ q)
    np.testing.assert_array_equal(ops.logical_not(p).numpy(), ~p)
    x = np.array([1.0, np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(ops.isnan(x).numpy(), np.isnan(x))
    np.testing.assert_array_equal(ops.isinf(x).numpy(), np.isinf(x))
    np.testing.assert_array_equal(ops.isfinite(x).numpy(), np.isfinite(x))
    np.testing.assert_array_equal(ops.nan_to_num(x, posinf=9.0, neginf=-9.0).numpy(), [1, 0, 9, -9])


def test_where_clip_and_nonzero():
    c = r(4, 5) > 0
    check_op(lambda a, b: ops.where(c, a, b), lambda a, b: np.where(c, a, b), [r(4, 5), r(5)])
    x = r(3, 11)
    x = np.where(np.abs(np.abs(x) - 0.5) < 1e-2, 0.1, x)
    check_op(lambda t: ops.clip(t, -0.5, 0.5), lambda t: np.clip(t, -0.5, 0.5), [x])
    rows, cols = ops.where(np.array([[0, 1], [1, 1]]))
    assert rows.dtype == np.int32 and rows.numpy().tolist() == [0, 1, 1] and cols.numpy().tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="where: give both x1 and x2"):
        ops.where(c, np.ones(5))


# ---------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------

REDUCTIONS = [("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min), ("std", np.std),
              ("var", np.var), ("prod", np.prod),
              ("logsumexp", lambda x, axis=None, keepdims=False: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)))]


@pytest.mark.parametrize("name,ref", REDUCTIONS, ids=[x[0] for x in REDUCTIONS])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, ref, axis, keepdims):
    x = r(2, 3, 5, lo=0.5, hi=1.5)
    fn = getattr(ops, name)
    check_op(lambda t: fn(t, axis=axis, keepdims=keepdims), lambda t: ref(t, axis=axis, keepdims=keepdims), [x])


def test_reductions_odd_shapes_zeros_and_initial():
    x = r(1, 7, 3)
    check_op(lambda t: ops.prod(t, axis=1), lambda t: np.prod(t, axis=1), [x])
    z = r(3, 4)
    z[1, 2] = 0.0  # prod's gradient is exact with a zero present (no division by x)
    z[2, 0] = z[2, 3] = 0.0
    check_op(lambda t: ops.prod(t, axis=-1), lambda t: np.prod(t, axis=-1), [z])
    assert ops.sum(np.zeros((0, 3)), axis=0).numpy().tolist() == [0, 0, 0]
    np.testing.assert_array_equal(ops.max(np.zeros((0, 3)), axis=0, initial=1.0).numpy(), [1, 1, 1])
    check_op(lambda t: ops.max(t, axis=0, initial=0.0), lambda t: np.max(t, axis=0, initial=0.0), [r(5, 3) + 0.013])
    with pytest.raises(ValueError, match="max: reduction of an empty tensor"):
        ops.max(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="sum: axis 3 is out of range"):
        ops.sum(np.ones((2, 3)), axis=3)


def test_mean_of_integers_is_float32_and_any_all_count():
    assert ops.mean(np.array([1, 2])).dtype == np.float32
    assert ops.sum(np.array([True, False, True])).dtype == np.int32 and int(ops.sum(np.array([True, True]))) == 2
    assert ops.sum(ops.arange(4)).dtype == np.int32 and int(ops.sum(ops.arange(4))) == 6
    with pytest.raises(TypeError, match=r"int\(\): only a one-element Tensor converts"):
        int(ops.arange(2))
    assert ops.mean(ops.convert_to_tensor([1, 2])).numpy() == 1.5
    x = np.array([[0, 1, 2], [0, 0, 3]])
    np.testing.assert_array_equal(ops.any(x, axis=1).numpy(), [True, True])
    np.testing.assert_array_equal(ops.all(x, axis=0).numpy(), [False, False, True])
    assert ops.count_nonzero(x).numpy() == 3 and ops.count_nonzero(x, axis=0).numpy().tolist() == [0, 1, 2]


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_scans(name, axis):
    x = r(3, 5, 2, lo=0.5, hi=1.5)
    x[1, 2, 0] = 0.0  # cumprod's gradient past a zero
    fn = getattr(ops, name)
    check_op(lambda t: fn(t, axis=axis), lambda t: getattr(np, name)(t, axis=axis), [x])


@pytest.mark.parametrize("name,ref", [("argmax", np.argmax), ("argmin", np.argmin)])
def test_arg_reductions_are_int32(name, ref):
    x = r(4, 7, 3)
    for axis in (None, 0, 1, -1):
        for keepdims in (False, True):
            out = getattr(ops, name)(x, axis=axis, keepdims=keepdims)
            assert out.dtype == np.int32 and not out.requires_grad
            np.testing.assert_array_equal(out.numpy(), ref(x, axis=axis, keepdims=keepdims))
    assert getattr(ops, name)(np.array([1.0, 1.0, 1.0])).numpy() == 0  # the first on ties
    with pytest.raises(ValueError, match=f"{name}: attempt to get {name} of an empty tensor"):
        getattr(ops, name)(np.zeros((0,)))


# ---------------------------------------------------------------------------------------
# shapes, gathers, sorting
# ---------------------------------------------------------------------------------------

def test_shape_ops():
    x = r(2, 3, 5)
    check_op(lambda t: ops.reshape(t, (5, -1)), lambda t: t.reshape(5, -1), [x])
    check_op(lambda t: ops.transpose(t, (2, 0, 1)), lambda t: t.transpose(2, 0, 1), [x])
    check_op(lambda t: ops.expand_dims(t, (0, 2)), lambda t: np.expand_dims(t, (0, 2)), [x])
    check_op(lambda t: ops.squeeze(t, 1), lambda t: np.squeeze(t, 1), [r(3, 1, 2)])
    check_op(lambda t: ops.moveaxis(t, 0, -1), lambda t: np.moveaxis(t, 0, -1), [x])
    check_op(lambda t: ops.swapaxes(t, 0, 2), lambda t: np.swapaxes(t, 0, 2), [x])
    check_op(lambda t: ops.broadcast_to(t, (4, 3, 5)), lambda t: np.broadcast_to(t, (4, 3, 5)), [r(3, 1)])
    check_op(ops.ravel, np.ravel, [x])
    check_op(lambda a, b: ops.concatenate([a, b], axis=1), lambda a, b: np.concatenate([a, b], 1), [r(2, 3), r(2, 5)])
    check_op(lambda a, b: ops.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], -1), [r(2, 3), r(2, 3)])
    assert ops.shape(x) == (2, 3, 5) and ops.shape(ember.Tensor(x)) == (2, 3, 5) and ops.ndim(x) == 3
    assert ops.size(x) == 30
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3, 5\)"):
        ops.reshape(x, (7, -1))


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_take_and_take_along_axis(axis):
    x = r(4, 5, 3)
    idx = np.array([[0, 2], [2, 2]])  # repeats accumulate in the gradient
    check_op(lambda t: ops.take(t, idx, axis=axis), lambda t: np.take(t, idx, axis=axis), [x])
    neg = np.array([-1, 0])
    check_op(lambda t: ops.take(t, neg, axis=axis), lambda t: np.take(t, neg, axis=axis), [x])
    if axis is None:
        ia = rng.integers(0, 60, (7,))
    else:
        shape = list(x.shape)
        shape[axis] = 6
        ia = rng.integers(0, x.shape[axis], shape)
    check_op(lambda t: ops.take_along_axis(t, ia, axis=axis), lambda t: np.take_along_axis(t, ia, axis=axis), [x])


def test_gather_errors():
    with pytest.raises(ValueError, match=r"take: indices must be in \[-3, 3\) for axis 0 of shape \(3, 2\)"):
        ops.take(np.ones((3, 2)), [3], axis=0)
    with pytest.raises(ValueError, match="take_along_axis: indices must have the rank of x"):
        ops.take_along_axis(np.ones((3, 2)), np.zeros(2, int), axis=0)
    with pytest.raises(ValueError, match="indices must be integers"):
        ops.take(np.ones(3), [0.5])


def test_flip_roll_repeat_tile():
    x = r(3, 4, 2)
    for axis in (None, 0, (1, 2)):
        check_op(lambda t: ops.flip(t, axis=axis), lambda t: np.flip(t, axis=axis), [x])
    for shift, axis in ((1, 0), (-2, 1), (5, None)):
        check_op(lambda t: ops.roll(t, shift, axis), lambda t: np.roll(t, shift, axis), [x])
    for reps, axis in ((2, None), (3, 1), ([1, 0, 2], 0)):
        check_op(lambda t: ops.repeat(t, reps, axis), lambda t: np.repeat(t, reps, axis), [x])
    for reps in (2, (2, 1), (1, 3, 1, 2)):
        check_op(lambda t: ops.tile(t, reps), lambda t: np.tile(t, reps), [x])


@pytest.mark.parametrize("spec,axis", [(3, 0), ([1, 4], 1), ([2], -1), (1, 0), ([0, 0, 5], 1)])
def test_split(spec, axis):
    x = r(3, 5, 2)
    want = np.split(x, spec, axis=axis)
    got = ops.split(ember.Tensor(x, dtype="float64"), spec, axis=axis)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w)
    for k in range(len(want)):
        check_op(lambda t: ops.split(t, spec, axis=axis)[k], lambda t: np.split(t, spec, axis=axis)[k], [x])
    with pytest.raises(ValueError, match=r"split: 2 sections do not divide axis 1 of shape \(3, 5, 2\)"):
        ops.split(x, 2, axis=1)


def test_sort_argsort_top_k():
    x = r(3, 7)
    for axis in (0, -1):
        check_op(lambda t: ops.sort(t, axis=axis), lambda t: np.sort(t, axis=axis), [x])
        ia = ops.argsort(x, axis=axis)
        assert ia.dtype == np.int32
        np.testing.assert_array_equal(ia.numpy(), np.argsort(x, axis=axis, kind="stable"))
    check_op(lambda t: ops.top_k(t, 3)[0], lambda t: -np.sort(-t, axis=-1)[:, :3], [x])
    vals, idx = ops.top_k(np.array([1.0, 3.0, 3.0, 2.0]), 2)
    assert idx.dtype == np.int32 and idx.numpy().tolist() == [1, 2] and vals.numpy().tolist() == [3, 3]
    assert ops.top_k(x, 0)[0].shape == (3, 0)
    with pytest.raises(ValueError, match=r"top_k: k must be in \[0, 7\] for an input of shape \(3, 7\). Received: k=8"):
        ops.top_k(x, 8)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
def test_pad_modes(mode):
    x = r(3, 4)
    pw = ((1, 2), (2, 0))
    check_op(lambda t: ops.pad(t, pw, mode=mode), lambda t: np.pad(t, pw, mode=mode), [x])
    if mode == "constant":
        np.testing.assert_array_equal(ops.pad(np.ones((1, 1)), 1, constant_values=7).numpy(),
                                      np.pad(np.ones((1, 1)), 1, constant_values=7))
    with pytest.raises(ValueError, match="pad: mode must be one of"):
        ops.pad(x, 1, mode="median")


def test_triangles_diag_slice_meshgrid():
    x = r(2, 4, 5)
    for k in (-1, 0, 2):
        check_op(lambda t: ops.tril(t, k), lambda t: np.tril(t, k), [x])
        check_op(lambda t: ops.triu(t, k), lambda t: np.triu(t, k), [x])
        check_op(lambda t: ops.diag(t, k), lambda t: np.diag(t, k), [r(4, 5)])
        check_op(lambda t: ops.diag(t, k), lambda t: np.diag(t, k), [r(3)])
    check_op(lambda t: ops.slice(t, (0, 1, 2), (2, 2, 3)), lambda t: t[0:2, 1:3, 2:5], [x])
    for indexing in ("xy", "ij"):
        for k in range(3):
            check_op(lambda a, b, c: ops.meshgrid(a, b, c, indexing=indexing)[k],
                     lambda a, b, c: np.meshgrid(a, b, c, indexing=indexing)[k], [r(2), r(3), r(5)])
