"""ember.ops (Keras 3's keras.ops), linear algebra, creation and dtypes, nn names, control flow,
images: NumPy references on odd shapes, float64 gradchecks, Keras' signatures, clear errors."""

import numpy as np
import pytest

import ember
from ember import ops
from ember.testing import check_op, gradcheck
from _refs import erf as ref_erf

rng = np.random.default_rng(0)


def r(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape)


# ---------------------------------------------------------------------------------------
# linear algebra
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
                                   ((2, 3), (5, 3, 4)), ((2, 5, 3), (2, 3, 4)), ((), (2, 3))])
def test_dot_and_matmul(sa, sb):
    a, b = r(*sa), r(*sb)
    check_op(ops.dot, np.dot, [a, b])
    if a.ndim and b.ndim:
        check_op(ops.matmul, np.matmul, [a, b])


EINSUMS = [("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("ij,jk", [(2, 3), (3, 4)]),
           ("i,j->ij", [(3,), (4,)]), ("ij->", [(3, 4)]), ("ij->j", [(3, 4)]), ("ii->i", [(4, 4)]), ("ii", [(3, 3)]),
           ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]), ("bhqd,bhkd->bhqk", [(2, 1, 3, 4), (2, 1, 5, 4)]),
           ("ij,ij,ij->i", [(3, 4), (3, 4), (3, 4)]), ("iij->j", [(3, 3, 2)])]


@pytest.mark.parametrize("expr,shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum(expr, shapes):
    check_op(lambda *ts: ops.einsum(expr, *ts), lambda *a: np.einsum(expr, *a), [r(*s) for s in shapes])


def test_einsum_and_dot_errors():
    with pytest.raises(ValueError, match=r"einsum: 'ij,jk->ik' does not fit operands of shapes \[\(2, 3\), \(4, 5\)\]"):
        ops.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match="einsum: subscript 'ij' does not match an operand of shape"):
        ops.einsum("ij->i", np.ones(3))
    with pytest.raises(ValueError, match=r"dot: shapes \(2, 2, 3\) and \(2, 4, 5\) are not aligned"):
        ops.dot(np.ones((2, 2, 3)), np.ones((2, 4, 5)))
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ"):
        ops.matmul(np.ones((2, 3)), np.ones((4, 5)))


def test_tensordot_outer():
    check_op(lambda a, b: ops.tensordot(a, b, 2), lambda a, b: np.tensordot(a, b, 2), [r(2, 3, 4), r(3, 4, 5)])
    check_op(lambda a, b: ops.tensordot(a, b, ([0, 2], [2, 0])), lambda a, b: np.tensordot(a, b, ([0, 2], [2, 0])),
             [r(2, 3, 4), r(4, 5, 2)])
    check_op(ops.outer, np.outer, [r(3), r(2, 2)])


NORMS = [(None, None), (1, 0), (2, -1), (np.inf, 1), (-np.inf, 0), (0.5, 1), (3, None), ("fro", (0, 1)), ("nuc", (0, 1)),
         (1, (0, 1)), (-1, (1, 0)), (2, (0, 1)), (-2, (0, 1)), (np.inf, (0, 1)), (-np.inf, (0, 1)), (None, (0, 1))]


@pytest.mark.parametrize("ord,axis", NORMS, ids=[f"{o}-{a}" for o, a in NORMS])
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm(ord, axis, keepdims):
    x = r(4, 3) + 0.05
    if ord == 3:
        x = r(5)
    if ord == 0:
        x[0, 0] = 0.0
        check_op(lambda t: ops.norm(t, ord, axis, keepdims), lambda t: np.linalg.norm(t, ord, axis, keepdims), [x],
                 gradients=False)
        return
    check_op(lambda t: ops.norm(t, ord, axis, keepdims), lambda t: np.linalg.norm(t, ord, axis, keepdims), [x])


def test_norm_batched_and_errors():
    x = r(2, 3, 4)
    check_op(lambda t: ops.norm(t), lambda t: np.sqrt(np.sum(t * t)), [x])
    check_op(lambda t: ops.norm(t, axis=(1, 2)), lambda t: np.linalg.norm(t, axis=(1, 2)), [x])
    check_op(lambda t: ops.norm(t, 2, axis=(2, 1)), lambda t: np.linalg.norm(t, 2, axis=(2, 1)), [x])
    with pytest.raises(ValueError, match="norm: ord=2 needs a 1-D or 2-D input or an axis"):
        ops.norm(x, 2)
    with pytest.raises(ValueError, match="norm: ord='fro' applies to matrices"):
        ops.norm(r(3), "fro")


# ---------------------------------------------------------------------------------------
# creation, conversion, dtypes
# ---------------------------------------------------------------------------------------

def test_creation_dtypes_follow_keras():
    assert ops.arange(5).dtype == np.int32 and ops.arange(5).numpy().tolist() == [0, 1, 2, 3, 4]
    assert ops.arange(1, 2.0, 0.25).dtype == np.float32
    np.testing.assert_array_equal(ops.arange(0, 10, 3).numpy(), np.arange(0, 10, 3))
    for fn in (ops.ones, ops.zeros):
        out = fn((2, 3))
        assert out.dtype == np.float32 and out.shape == (2, 3)
    assert ops.full((2,), 7).dtype == np.float32 and ops.full((2,), 7, "int32").numpy().tolist() == [7, 7]
    x = np.ones((3, 1), np.float64)
    assert ops.zeros_like(x).dtype == np.float64 and ops.ones_like(x, "int32").dtype == np.int32
    assert ops.full_like(x, 2.5).numpy().tolist() == [[2.5]] * 3
    np.testing.assert_array_equal(ops.eye(3, 4, 1).numpy(), np.eye(3, 4, 1))
    np.testing.assert_allclose(ops.linspace(0, 1, 7).numpy(), np.linspace(0, 1, 7), rtol=1e-6)
    assert ops.linspace(0, 1, 0).shape == (0,)
    with pytest.raises(ValueError, match="zeros: shape must not have negative dimensions"):
        ops.zeros((2, -1))


def test_one_hot():
    x = np.array([[0, 2], [1, -1]])
    out = ops.one_hot(x, 3)
    assert out.dtype == np.float32 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy()[1, 1], [0, 0, 0])  # out of range: a row of zeros
    np.testing.assert_array_equal(out.numpy()[0, 1], [0, 0, 1])
    assert ops.one_hot(x, 3, axis=0).shape == (3, 2, 2)
    np.testing.assert_array_equal(ops.one_hot(ops.argmax(r(4, 5), -1), 5).numpy().sum(-1), 1)
    with pytest.raises(ValueError, match="one_hot: num_classes must be positive"):
        ops.one_hot(x, 0)


def test_convert_cast_and_int_tensors():
    assert ops.convert_to_tensor([1, 2]).dtype == np.int32
    assert ops.convert_to_tensor([1.0, 2]).dtype == np.float32
    assert ops.convert_to_tensor(True).dtype == np.bool_
    assert ops.convert_to_tensor(np.ones(2)).dtype == np.float64  # arrays keep their dtype
    assert ops.convert_to_tensor([1, 2], dtype="float32").dtype == np.float32
    t = ember.Tensor([1.0, 2.0], dtype="float32")
    assert ops.convert_to_tensor(t) is t and ops.is_tensor(t) and not ops.is_tensor(np.ones(2))
    np.testing.assert_array_equal(ops.convert_to_numpy(t), [1.0, 2.0])
    with pytest.raises(TypeError, match="convert_to_tensor: expected numeric data"):
        ops.convert_to_tensor(["a"])
    with pytest.raises(TypeError, match="cast: unknown dtype"):
        ops.cast(t, "float17")
    # Keras' promotion: an int tensor meeting a float is that float, not NumPy's float64
    i = ops.arange(3)
    assert ops.add(i, 0.5).dtype == np.float32 and ops.multiply(i, t.reshape(2, 1)).dtype == np.float32
    assert (i + 1).dtype == np.int32 and ops.divide(i, 2).dtype == np.float32
    assert ops.equal(ops.argmax(np.eye(3), -1), i).numpy().all()
    # positions as in a Transformer's positional embedding: int tensor arithmetic and slicing
    n = 4
    causal = ops.cast(ops.greater_equal(ops.arange(n)[:, None], ops.arange(n) - n + n), "float32")
    np.testing.assert_array_equal(causal.numpy(), np.tril(np.ones((n, n))))


def test_cast_to_int_cuts_the_gradient_float_cast_keeps_it():
    x = ember.Tensor([1.5, 2.5], requires_grad=True)
    assert not ops.cast(x, "int32").requires_grad
    with ember.GradientTape() as tape:
        y = ops.sum(ops.cast(x, "float64") * 3.0)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [3.0, 3.0])
    gradcheck(lambda t: ops.cast(ops.cast(t, "float32"), "float64"), [np.array([1.5, 2.5])], eps=1e-2, atol=1e-4)


def test_stop_gradient_and_cond():
    x = ember.Tensor([1.0, 2.0], requires_grad=True)
    with ember.GradientTape() as tape:
        y = ops.sum(x * ops.stop_gradient(x))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [1.0, 2.0])  # not 2x
    assert ops.cond(ops.greater(1.0, 0.0), lambda: "yes", lambda: "no") == "yes"
    assert ops.cond(False, lambda: 1, lambda: 2) == 2
    calls = []
    ops.cond(ember.Tensor(1.0), lambda: calls.append("t"), lambda: calls.append("f"))
    assert calls == ["t"]  # only one branch runs
    with pytest.raises(ValueError, match=r"cond: pred must be a scalar. Received: shape=\(2,\)"):
        ops.cond(ember.Tensor([1.0, 0.0]), lambda: 1, lambda: 2)


# ---------------------------------------------------------------------------------------
# nn names
# ---------------------------------------------------------------------------------------

def test_softmax_family_on_odd_axes():
    x = r(3, 5, 2)
    for axis in (0, 1, -1):
        def sm(t):
            e = np.exp(t - t.max(axis, keepdims=True))
            return e / e.sum(axis, keepdims=True)
        check_op(lambda t: ops.softmax(t, axis), sm, [x])
        check_op(lambda t: ops.log_softmax(t, axis), lambda t: np.log(sm(t)), [x])
    check_op(lambda t: ops.normalize(t, -1), lambda t: t / np.linalg.norm(t, axis=-1, keepdims=True), [x])
    m, v = ops.moments(x, (0, 1))
    np.testing.assert_allclose(m.numpy(), x.mean((0, 1)), rtol=1e-6)
    np.testing.assert_allclose(v.numpy(), x.var((0, 1)), rtol=1e-5)
    np.testing.assert_allclose(ops.gelu(x, approximate=False).numpy(), 0.5 * x * (1 + ref_erf(x / np.sqrt(2))), rtol=1e-5)


def test_crossentropies_match_numpy():
    eps = 1e-7
    logits = r(4, 5) * 3
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y = np.eye(5)[[0, 3, 4, 1]]
    lab = np.array([0, 3, 4, 1])
    want = -(y * np.log(np.clip(p, eps, 1 - eps))).sum(-1)
    check_op(lambda t: ops.categorical_crossentropy(y, t), lambda t: want, [p], rtol=1e-4)
    check_op(lambda t: ops.categorical_crossentropy(y, t, from_logits=True), lambda t: want, [logits], rtol=1e-4)
    check_op(lambda t: ops.sparse_categorical_crossentropy(lab, t), lambda t: want, [p], rtol=1e-4)
    check_op(lambda t: ops.sparse_categorical_crossentropy(lab, t, from_logits=True), lambda t: want, [logits], rtol=1e-4)
    check_op(lambda t: ops.categorical_crossentropy(y.T, t, axis=0), lambda t: want, [p.T.copy()], rtol=1e-4)
    z = r(3, 4) * 4
    t = (r(3, 4) > 0).astype(float)
    sig = 1 / (1 + np.exp(-z))
    bce = -(t * np.log(sig) + (1 - t) * np.log(1 - sig))
    check_op(lambda a: ops.binary_crossentropy(t, a, from_logits=True), lambda a: bce, [z], rtol=1e-4)
    check_op(lambda a: ops.binary_crossentropy(t, a), lambda a: bce, [sig], rtol=1e-4)
    with pytest.raises(ValueError, match=r"binary_crossentropy: target and output must have the same shape"):
        ops.binary_crossentropy(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: target must be in \[0, 5\)"):
        ops.sparse_categorical_crossentropy(np.array([5, 0, 0, 0]), p)


def test_matches_keras_ops():
    """The same calls through keras.ops (NumPy backend, in a child process) and ember.ops."""
    import importlib.util
    import os
    import subprocess
    import sys
    for mod in ("keras", "jax"):  # Keras' NumPy backend imports jax
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed (the Keras reference is optional)")
    script = os.path.join(os.path.dirname(__file__), "_keras_ops_reference.py")
    res = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "bad 0 of" in res.stdout, res.stdout


# ---------------------------------------------------------------------------------------
# control flow (eager) and small extras
# ---------------------------------------------------------------------------------------

def test_loops_record_gradients():
    assert ops.fori_loop(0, 5, lambda i, v: v + i, 0) == 10
    assert ops.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s * 2), (0, 1)) == (4, 16)
    assert ops.while_loop(lambda i: i < 100, lambda i: i + 1, 0, maximum_iterations=7) == 7
    xs = r(5, 3)
    # a running sum as scan: carry and stacked outputs, gradients through every step
    check_op(lambda t: ops.scan(lambda c, x: (c + x, c * x), ops.zeros_like(t[0]), t)[1],
             lambda t: np.concatenate([np.zeros((1, 3)), np.cumsum(t, 0)[:-1]]) * t, [xs])
    check_op(lambda t: ops.scan(lambda c, x: (c + x, x), ops.zeros_like(t[0]), t, reverse=True)[0],
             lambda t: t.sum(0), [xs])
    check_op(lambda t: ops.map(lambda row: ops.sum(row * row), t), lambda t: (t * t).sum(1), [xs])
    check_op(lambda a, b: ops.vectorized_map(lambda ab: ops.dot(ab[0], ab[1]), (a, b)),
             lambda a, b: (a * b).sum(1), [xs, r(5, 3)])
    assert ops.scan(lambda c, _: (c + 1, None), 0, length=3) == (3, None)
    with pytest.raises(ValueError, match="while_loop: the condition must be a scalar"):
        ops.while_loop(lambda x: x > 0, lambda x: x - 1, ember.Tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="scan: give xs or length"):
        ops.scan(lambda c, x: (c, x), 0)


def test_extras():
    x, w = r(4, 3), r(3, lo=0.5, hi=1.5)
    check_op(lambda a, b: ops.average(a, 1, b), lambda a, b: np.average(a, 1, b), [x, w])
    check_op(lambda a, b: ops.average(a, None, b), lambda a, b: np.average(a, None, b), [x, r(4, 3, lo=0.5, hi=1.5)])
    with pytest.raises(ValueError, match="average: weights must have x's shape"):
        ops.average(x, 0, w)
    parts = ops.unstack(ember.Tensor(x, dtype="float64"), axis=1)
    assert len(parts) == 3 and np.array_equal(parts[2].numpy(), x[:, 2])
    check_op(lambda t: ops.unstack(t, axis=1)[1], lambda t: t[:, 1], [x])
    check_op(lambda a, b: ops.append(a, b), lambda a, b: np.append(a, b), [x, r(2)])
    check_op(lambda a, b: ops.hstack([a, b]), lambda a, b: np.hstack([a, b]), [x, r(4, 2)])
    check_op(lambda a, b: ops.vstack([a, b]), lambda a, b: np.vstack([a, b]), [x, r(3)])
    np.testing.assert_array_equal(ops.tri(3, 4, 1).numpy(), np.tri(3, 4, 1))
    np.testing.assert_array_equal(ops.identity(3).numpy(), np.eye(3))
    assert ops.empty((2, 0)).shape == (2, 0)
    np.testing.assert_array_equal(ops.isclose(np.array([1.0, 2.0]), np.array([1.0 + 1e-9, 2.1])).numpy(), [True, False])
    p = np.array([[0.1, 0.5, 0.5, 0.2], [0.9, 0.05, 0.03, 0.02]])
    np.testing.assert_array_equal(ops.in_top_k(np.array([2, 3]), p, 1).numpy(), [True, False])
    np.testing.assert_array_equal(ops.in_top_k(np.array([0, 1]), p, 2).numpy(), [False, True])


def _attention_ref(q, k, v, mask=None, bias=None):
    s = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
    if bias is not None:
        s = s + bias
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bnts,bsnh->btnh", p, v)


def test_dot_product_attention_keras_layout():
    q, k, v = r(2, 3, 2, 4), r(2, 5, 2, 4), r(2, 5, 2, 3)
    check_op(ops.dot_product_attention, _attention_ref, [q, k, v])
    mask = rng.uniform(size=(3, 5)) > 0.3
    mask[:, 0] = True
    bias = r(2, 1, 3, 5)
    check_op(lambda a, b, c: ops.dot_product_attention(a, b, c, bias=bias, mask=mask),
             lambda a, b, c: _attention_ref(a, b, c, mask, bias), [q, k, v])
    causal = np.tril(np.ones((3, 3), bool))
    q3 = r(2, 3, 1, 4)
    check_op(lambda a: ops.dot_product_attention(a, a, a, is_causal=True), lambda a: _attention_ref(a, a, a, causal), [q3])
    with pytest.raises(ValueError, match="dot_product_attention expects 4-D query, key and value"):
        ops.dot_product_attention(r(2, 3, 4), r(2, 3, 4), r(2, 3, 4))


def test_batch_normalization_pools_segment_sum():
    x = r(2, 3, 5)
    m, var, off, sc = r(3), r(3, lo=0.5, hi=1.5), r(3), r(3)
    shape = (1, 3, 1)
    check_op(lambda t, a, b, c, d: ops.batch_normalization(t, a, b, 1, c, d),
             lambda t, a, b, c, d: (t - a.reshape(shape)) / np.sqrt(b.reshape(shape) + 1e-3) * d.reshape(shape)
             + c.reshape(shape), [x, m, var, off, sc])
    with pytest.raises(ValueError, match=r"batch_normalization: mean must have shape \(5,\) for axis -1"):
        ops.batch_normalization(x, m, var, -1)
    img = r(2, 6, 7, 3)
    np.testing.assert_array_equal(ops.max_pool(img, 2).numpy(), ember.functional.max_pool2d(img, 2).numpy())
    np.testing.assert_array_equal(ops.average_pool(img, (2, 3), 1, "same").numpy(),
                                  ember.functional.avg_pool2d(img, (2, 3), 1, "same").numpy())
    seq = r(2, 7, 3)
    np.testing.assert_array_equal(ops.max_pool(seq, 2).numpy(), ember.functional.max_pool1d(seq, 2).numpy())
    with pytest.raises(ValueError, match=r"max_pool: inputs must be 3-D or 4-D"):
        ops.max_pool(r(3, 4), 2)
    ids = np.array([0, 2, 2, 4, -1])  # -1 and 4 (>= num_segments) are dropped
    d = r(5, 3)

    def ref(t):
        out = np.zeros((4, 3))
        for i, s in enumerate(ids):
            if 0 <= s < 4:
                out[s] += t[i]
        return out
    check_op(lambda t: ops.segment_sum(t, ids, num_segments=4), ref, [d])
    assert ops.segment_sum(d[:4], ids[:4]).shape == (5, 3)
    with pytest.raises(ValueError, match=r"segment_sum: segment_ids must have shape \(5,\)"):
        ops.segment_sum(d, ids[:3])


def test_tensor_comparisons_are_bool_masks():
    x = ember.Tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    m = x > 0
    assert m.dtype == np.bool_ and not m.requires_grad
    np.testing.assert_array_equal(x[m].numpy(), [2.0, 4.0])  # a mask, not 0/1 indices
    assert (x <= 0).numpy().tolist() == [True, False, True, False] and (x >= 2).numpy().sum() == 2
    assert float(ops.mean(x < 0)) == 0.5
    with ember.GradientTape() as tape:
        y = ops.sum(ops.where(x > 0, x * x, 0.0))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0.0, 4.0, 0.0, 8.0])


def _patches_ref(x, ph, pw, sh, sw):
    B, H, W, C = x.shape
    oh, ow = (H - ph) // sh + 1, (W - pw) // sw + 1
    out = np.zeros((B, oh, ow, ph * pw * C))
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = x[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].reshape(B, -1)
    return out


def _bilinear_ref(x, oh, ow):
    """Half-pixel-centre bilinear resize by explicit loops (TensorFlow 2's definition)."""
    B, H, W, C = x.shape
    out = np.zeros((B, oh, ow, C))
    for i in range(oh):
        for j in range(ow):
            sy = min(max((i + 0.5) * H / oh - 0.5, 0), H - 1)
            sx = min(max((j + 0.5) * W / ow - 0.5, 0), W - 1)
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            y1, x1 = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
            wy, wx = sy - y0, sx - x0
            out[:, i, j] = ((1 - wy) * (1 - wx) * x[:, y0, x0] + (1 - wy) * wx * x[:, y0, x1]
                            + wy * (1 - wx) * x[:, y1, x0] + wy * wx * x[:, y1, x1])
    return out


def test_image_extract_patches_and_resize():
    x = r(2, 7, 5, 3)
    check_op(lambda t: ops.image.extract_patches(t, 2), lambda t: _patches_ref(t, 2, 2, 2, 2), [x])
    check_op(lambda t: ops.image.extract_patches(t, (3, 2), strides=(2, 1)), lambda t: _patches_ref(t, 3, 2, 2, 1), [x])
    assert ops.image.extract_patches(x, 3, strides=2, padding="same").shape == (2, 4, 3, 27)
    for size in ((11, 8), (3, 2), (7, 3)):
        check_op(lambda t: ops.image.resize(t, size), lambda t: _bilinear_ref(t, *size), [x])
    nearest = ops.image.resize(x, (14, 10), interpolation="nearest").numpy()
    np.testing.assert_allclose(nearest, np.repeat(np.repeat(x, 2, 1), 2, 2), rtol=1e-6)
    cf = ops.image.resize(np.transpose(x, (0, 3, 1, 2)), (3, 2), data_format="channels_first").numpy()
    np.testing.assert_allclose(cf, np.transpose(_bilinear_ref(x, 3, 2), (0, 3, 1, 2)), rtol=1e-5, atol=1e-6)
    assert ops.image.resize(x[0], (4, 4)).shape == (4, 4, 3)  # one image, no batch axis
    with pytest.raises(ValueError, match=r"extract_patches: patches of size \(8, 8\)"):
        ops.image.extract_patches(x, 8)
    with pytest.raises(ValueError, match=r"resize: images must be 3-D \(one image\) or 4-D"):
        ops.image.resize(r(3, 4), (2, 2))
    with pytest.raises(ValueError, match="resize: interpolation must be 'nearest' or 'bilinear'"):
        ops.image.resize(x, (2, 2), interpolation="bicubic")
    with pytest.raises(ValueError, match="resize: antialias=True when shrinking is not supported"):
        ops.image.resize(x, (2, 2), antialias=True)


def test_causal_mask_idiom_of_keras_transformer_examples():
    """get_causal_attention_mask from Keras' English-to-Spanish Transformer example: int
    tensors from Python ints, comparison, reshape, concatenate and tile keep int32."""
    batch_size, n = 3, 4
    i = ops.arange(n)[:, None]
    j = ops.arange(n)
    mask = ops.cast(i >= j, dtype="int32")
    mask = ops.reshape(mask, (1, n, n))
    mult = ops.concatenate([ops.expand_dims(batch_size, -1), ops.convert_to_tensor([1, 1])], axis=0)
    assert mult.dtype == np.int32 and mult.numpy().tolist() == [3, 1, 1]
    tiled = ops.tile(mask, mult)
    assert tiled.dtype == np.int32 and tiled.shape == (3, 4, 4)
    np.testing.assert_array_equal(tiled.numpy()[2], np.tril(np.ones((4, 4))))
    padding = ops.cast(np.array([[1, 1, 1, 0]] * 3)[:, None, :], dtype="int32")
    combined = ops.minimum(padding, tiled)
    assert combined.dtype == np.int32 and combined.numpy()[0, 3].tolist() == [1, 1, 1, 0]
    # int tensors joined with floats give the float dtype (Keras), not float64
    assert ops.concatenate([ops.arange(2), ember.Tensor(np.ones(2, np.float32))]).dtype == np.float32
