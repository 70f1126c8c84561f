"""NaN in means NaN out, +-inf as IEEE says, masks by position: one regression test per defect
of issue 10 (D4-D8, the sum-exp precision), on every kernel path. The random property test
over every op and layer lives in test_nan_inf_property.py."""
import numpy as np
import pytest

import ember
import ember.functional as F
from ember import _C

nan, inf = np.nan, np.inf


@pytest.fixture(params=_C.kernel_paths())
def path(request):
    _C.set_kernel_path(request.param)
    yield request.param
    _C.set_kernel_path("auto")


def rows(n, first):
    """Rows of length n whose leading entries are `first` (the rest ordinary logits)."""
    r = np.linspace(-2, 2, n).astype(np.float32)
    r[: len(first)] = first
    return r


# ---- D4: the vector exp kept NaN as exp(88) -------------------------------------------
@pytest.mark.parametrize("n", [3, 8, 16, 37, 1000])
def test_softmax_and_xent_of_a_nan_logit_are_nan(path, n):
    for at in (0, n - 1, n // 2):  # in a full vector, in the tail, in the middle
        x = np.stack([rows(n, []), rows(n, [])]).astype(np.float32)
        x[1, at] = nan
        y = F.softmax(ember.Tensor(x)).numpy()
        assert np.isfinite(y[0]).all() and np.isnan(y[1]).all(), (path, n, at, y[1, :4])
        assert np.isnan(F.log_softmax(ember.Tensor(x)).numpy()[1]).all()
        loss, lse = _C.xent_forward(x, np.array([0, (at + 1) % n]), True)
        assert np.isfinite(loss[0]) and np.isnan(loss[1]) and np.isnan(lse[1]), (path, n, at, loss)
        p = np.full_like(x, 1.0 / n)
        loss, _ = _C.xent_forward(x, p)
        assert np.isfinite(loss[0]) and np.isnan(loss[1])
        g = _C.xent_backward(np.ones(2, np.float32), x, np.array([0, (at + 1) % n]), lse, True)
        assert np.isfinite(g[0]).all() and np.isnan(g[1]).all()


def test_losses_from_logits_with_a_nan_logit_are_nan(path):
    logits = np.array([[nan, 1, 2], [0, 1, 2]], np.float32)  # the row: 88.0, not NaN, on AVX2
    sparse = ember.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert np.isnan(float(sparse(np.array([1, 2]), ember.Tensor(logits)).numpy())), path
    dense = ember.losses.CategoricalCrossentropy(from_logits=True)
    assert np.isnan(float(dense(np.eye(3, dtype=np.float32)[[1, 2]], ember.Tensor(logits)).numpy())), path


# ---- D5: +inf rows and all-NaN rows gave zeros (the fully masked -inf rule) -------------
@pytest.mark.parametrize("n", [5, 16, 40])
def test_softmax_rows_with_inf_or_only_nan(path, n):
    x = np.stack([rows(n, [inf]), rows(n, [nan] * n), rows(n, [-inf] * n), rows(n, [-inf] * (n - 1) + [nan]),
                  rows(n, [-inf, 1.0]), rows(n, [inf, -inf])])
    y = F.softmax(ember.Tensor(x)).numpy()
    assert np.isnan(y[0]).all() and np.isnan(y[1]).all() and np.isnan(y[3]).all() and np.isnan(y[5]).all()
    assert (y[2] == 0).all()  # fully masked: zeros, not NaN (ember's rule)
    assert y[4, 0] == 0 and np.isfinite(y[4]).all() and abs(y[4].sum() - 1) < 1e-5
    ls = F.log_softmax(ember.Tensor(x)).numpy()
    assert np.isnan(ls[[0, 1, 3, 5]]).all()  # as PyTorch: x - max gives inf - inf
    assert ls[4, 0] == -inf and np.isfinite(ls[4, 1:]).all()
    loss, lse = _C.xent_forward(x, np.full(len(x), 1), True)
    assert np.isnan(loss[[0, 1, 3, 5]]).all() and np.isfinite(loss[4])
    loss, _ = _C.xent_forward(x, np.full(x.shape, 1.0 / n, np.float32))
    assert np.isnan(loss[[0, 1, 3, 5]]).all() and loss[4] == inf  # -p * log(0) = +inf


def test_xent_with_zero_targets_keeps_nan_logits(path):
    x = np.array([[nan, 1, 2], [0, 1, 2], [-inf, -inf, -inf], [inf, 0, 0]], np.float32)
    loss, _ = _C.xent_forward(x, np.zeros_like(x))
    assert np.isnan(loss[[0, 2, 3]]).all() and loss[1] == 0  # 0 * log_softmax(x) = 0 * NaN, as in PyTorch


# ---- D6: attention treated a NaN score as masked ------------------------------------
def attn_ref(q, k, v, allowed, scale):
    s = np.einsum("bhid,bhjd->bhij", q.astype(np.float64), k.astype(np.float64)) * scale
    s = np.where(allowed, s, -inf)  # masked by position, after scaling
    m = np.max(np.where(np.isnan(s), -inf, s), -1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        e = np.exp(s - np.where(m == -inf, 0, m))
        z = e.sum(-1, keepdims=True)
        out = np.where(z == 0, 0, np.einsum("bhij,bhjd->bhid", e / np.where(z == 0, 1, z), v))
        return out, np.where(z[..., 0] == 0, inf, np.log(z[..., 0]) + m[..., 0])


@pytest.mark.parametrize("Tk", [5, 70])
def test_attention_nan_score_is_not_masked(path, Tk):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 2, 6, 8)).astype(np.float32),
               rng.standard_normal((1, 2, Tk, 8)).astype(np.float32), rng.standard_normal((1, 2, Tk, 4)).astype(np.float32))
    k[0, 0, 1, 3] = nan  # every query of head 0 sees a NaN score at key 1
    k[0, 1, :, 0] = nan  # head 1: every score NaN
    for causal in (False, True):
        o, lse = _C.attention_forward(q, k, v, None, causal, 0.5)
        assert np.isfinite(o[0, 0, 0]).all() == causal  # query 0 sees only key 0 when causal
        assert np.isnan(o[0, 0, 1:]).all() and np.isnan(lse[0, 0, 1:]).all(), (causal, o[0, 0, :, 0])
        assert np.isnan(o[0, 1]).all() and np.isnan(lse[0, 1]).all()
        dq, dk, dv = _C.attention_backward(np.ones_like(o), q, k, v, o, lse, None, causal, 0.5)
        assert np.isnan(dq[0, 1]).all() and np.isnan(dq[0, 0, 1:]).all()
    mask = np.ones((6, Tk), bool)
    mask[:, 1] = False  # the NaN key masked: by position, so head 0 is finite again
    o, lse = _C.attention_forward(q, k, v, np.broadcast_to(mask, (1, 2, 6, Tk)), False, 0.5)
    assert np.isfinite(o[0, 0]).all() and np.isfinite(lse[0, 0]).all() and np.isnan(o[0, 1]).all()


def test_multi_head_attention_layer_passes_nan():
    x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32)
    x[1, 2, 0] = nan
    mha = ember.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    y = mha(ember.Tensor(x), ember.Tensor(x)).numpy()
    assert np.isfinite(y[0]).all() and np.isnan(y[1]).all()


# ---- D7: attention masked before scaling (-inf * 0 = NaN) ---------------------------
@pytest.mark.parametrize("scale", [0.0, -0.4])
@pytest.mark.parametrize("Tq,Tk", [(5, 7), (70, 70)])
def test_attention_nonpositive_scale_with_mask_and_causal(path, scale, Tq, Tk):
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((1, 2, Tq, 8)).astype(np.float32), rng.standard_normal((1, 2, Tk, 8)).astype(np.float32),
               rng.standard_normal((1, 2, Tk, 3)).astype(np.float32))
    mask = rng.random((Tq, Tk)) < 0.7
    mask[0] = False  # one fully masked row
    bmask = np.broadcast_to(mask, (1, 2, Tq, Tk))
    for causal in (False, True):
        allowed = mask & (np.tril(np.ones((Tq, Tk), bool)) if causal else True)
        o, lse = _C.attention_forward(q, k, v, bmask, causal, scale)
        ro, rl = attn_ref(q, k, v, allowed, scale)
        np.testing.assert_allclose(o, ro, rtol=1e-4, atol=1e-5, err_msg=f"{path} causal={causal}")
        np.testing.assert_allclose(lse, rl, rtol=1e-4, atol=1e-5)
        g = _C.attention_backward(np.ones_like(o), q, k, v, o, lse, bmask, causal, scale)
        assert all(np.isfinite(a).all() for a in g), (path, causal)
        o64, l64 = _C.attention_forward(*(a.astype(np.float64) for a in (q, k, v)), bmask, causal, scale)
        np.testing.assert_allclose(o64, ro, rtol=1e-9, atol=1e-12)


def test_attention_masked_value_never_reaches_the_output(path):
    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal((1, 1, 70, 8)).astype(np.float32) for _ in range(3))
    v[0, 0, 69] = nan  # the last key: masked for every query but the last (causal)
    v[0, 0, 3, 0] = inf
    mask = np.ones((1, 1, 70, 70), bool)
    mask[..., 3] = False
    o, lse = _C.attention_forward(q, k, v, mask, True, 0.3)
    assert np.isfinite(o[0, 0, :69]).all() and np.isnan(o[0, 0, 69]).all(), path
    o2, _ = _C.attention_forward_naive(q, k, v, mask, True, 0.3)
    np.testing.assert_allclose(o2, o, rtol=1e-5, atol=1e-6)


# ---- D8: fused ReLU kept NaN as 0 ---------------------------------------------------
@pytest.mark.parametrize("C,OC", [(1, 8), (3, 16), (8, 8), (16, 40), (5, 3)])
def test_conv2d_fused_relu_passes_nan(path, C, OC):
    x = np.ones((1, 5, 5, C), np.float32)
    x[0, 2, 2, 0] = nan
    w = -np.ones((3, 3, C, OC), np.float32)  # all outputs negative: relu gives 0 where finite
    y = _C.conv2d_forward(x, w, np.zeros(OC, np.float32), (1, 1), (1, 1, 1, 1), (1, 1), 1, 1)
    hit = np.zeros((5, 5), bool)
    hit[1:4, 1:4] = True  # outputs whose 3x3 window holds the NaN
    assert np.isnan(y[0][hit]).all() and (y[0][~hit] == 0).all(), (path, y[0, :, :, 0])
    yd = F.conv2d(ember.Tensor(x.astype(np.float64)), ember.Tensor(w.astype(np.float64)), padding="same")
    assert np.isnan(F.relu(yd).numpy()[0][hit]).all()


def test_relu_paths_pass_nan(path):
    x = np.array([[nan, -1.0, 2.0, -inf, inf] * 4], np.float32)
    for act in (1,):
        y = _C.bias_act_forward(x, None, act)
        np.testing.assert_array_equal(y, np.maximum(x, 0))
    d = ember.layers.Dense(3, activation="relu")
    assert np.isnan(d(ember.Tensor(np.array([[nan, 1.0]], np.float32))).numpy()).all()
    x = np.ones((2, 3, 4), np.float32)
    x[1, 0, 0] = nan
    for dt in (np.float32, np.float64):
        rnn = ember.layers.SimpleRNN(5, activation="relu", return_sequences=True)
        y = rnn(ember.Tensor(x.astype(dt))).numpy()
        assert np.isfinite(y[0]).all() and np.isnan(y[1]).all(), (path, dt, y[1])


# ---- max pooling: a NaN in the window wins, with its index ---------------------------
@pytest.mark.parametrize("C", [1, 8, 16])
@pytest.mark.parametrize("pool,stride,pads", [((2, 2), (2, 2), (0, 0, 0, 0)), ((3, 3), (1, 1), (1, 1, 1, 1))])
def test_max_pool_passes_nan_and_its_index(path, C, pool, stride, pads):
    x = np.random.default_rng(3).standard_normal((1, 6, 6, C)).astype(np.float32)
    x[0, 0, 1, :] = nan
    x[0, 4, 4, 0] = -inf
    x[0, 5, 5, 0] = inf
    y, idx = _C.max_pool2d_forward(x, pool, stride, pads)
    ry, ridx = ref_max_pool(x, pool, stride, pads)
    np.testing.assert_array_equal(y, ry.astype(np.float32), err_msg=path)  # NaN where ry is NaN
    np.testing.assert_array_equal(idx, ridx, err_msg=path)
    dx = _C.max_pool2d_backward(np.ones_like(y), idx, x.shape, pool, stride, pads)
    assert (dx[0, 0, 1, :] > 0).all()  # the gradient goes to the NaN cell that won


def ref_max_pool(x, pool, stride, pads):
    """float64 max pooling NHWC with PyTorch's NaN rule: the last NaN of the window wins."""
    N, H, W, C = x.shape
    OH = (H + pads[0] + pads[1] - pool[0]) // stride[0] + 1
    OW = (W + pads[2] + pads[3] - pool[1]) // stride[1] + 1
    y = np.zeros((N, OH, OW, C))
    idx = np.zeros((N, OH, OW, C), np.int64)
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                for c in range(C):
                    best, bi = None, -1
                    for a in range(max(i * stride[0] - pads[0], 0), min(i * stride[0] - pads[0] + pool[0], H)):
                        for b in range(max(j * stride[1] - pads[2], 0), min(j * stride[1] - pads[2] + pool[1], W)):
                            v = x[n, a, b, c]
                            if best is None or v > best or np.isnan(v):
                                best, bi = v, a * W + b
                    y[n, i, j, c], idx[n, i, j, c] = best, bi
    return y, idx


# ---- optimizers: a NaN gradient reaches the parameter and every state buffer -------------
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_optimizer_updates_pass_nan_gradients(path, dt):
    n = 37
    g = np.linspace(-1, 1, n).astype(dt)
    g[[0, 17, 36]] = nan

    def fresh():
        return np.ones(n, dt), np.zeros(n, dt), np.zeros(n, dt), np.zeros(n, dt)
    p, m, v, vh = fresh()
    _C.adam_update(p, g, m, v, vh, 1e-3, 1e-3, 0.9, 0.999, 1e-7, 0.0)
    p2, m2, v2, vh2 = fresh()
    _C.adam_update(p2, g, m2, v2, None, 1e-3, 1e-3, 0.9, 0.999, 1e-7, 0.0)
    p3, m3, _, _ = fresh()
    _C.sgd_update(p3, g, m3, 0.1, 0.9, True, 0.0)
    p4, v4, mo4, av4 = fresh()
    _C.rmsprop_update(p4, g, v4, mo4, av4, 0.1, 0.9, 0.5, 1e-7, 0.0)
    bad = np.isnan(g)
    for name, a in [("adam p", p), ("adam m", m), ("adam v", v), ("amsgrad vhat", vh), ("adam p (no vhat)", p2),
                    ("sgd p", p3), ("sgd m", m3), ("rmsprop p", p4), ("rmsprop v", v4), ("rmsprop mom", mo4),
                    ("rmsprop avg", av4)]:
        np.testing.assert_array_equal(np.isnan(a), bad, err_msg=f"{path} {name}")


# ---- precision: float32 sum-exp over millions of classes ----------------------------
def test_logsumexp_of_many_classes_is_accurate(path):
    n = 1 << 24
    x = np.random.default_rng(0).standard_normal((1, n), dtype=np.float32) * 0.01
    ref = np.log(np.exp(x.astype(np.float64)).sum())
    loss, lse = _C.xent_forward(x, np.array([0]), True)
    assert abs(float(lse[0]) - ref) < 2e-5, (path, float(lse[0]), ref)
    assert abs(float(loss[0]) - (ref - float(x[0, 0]))) < 2e-5
    y = F.softmax(ember.Tensor(x)).numpy()
    assert abs(y.astype(np.float64).sum() - 1) < 1e-5, (path, y.astype(np.float64).sum())
    p = np.full_like(x, 1.0 / n)  # dense targets: sum(p) and sum(p * x) over 2^24 terms
    loss, _ = _C.xent_forward(x, p)
    assert abs(float(loss[0]) - (ref - x.astype(np.float64).mean())) < 2e-5, (path, float(loss[0]))


# ---- the fuzz harness' findings (tests/fuzz): PyTorch's formulas on non-finite inputs ----
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_amsgrad_keeps_a_nan_already_in_vhat(path, dt):
    n = 37  # vector body and tail
    p, m, v, vh = np.ones(n, dt), np.zeros(n, dt), np.zeros(n, dt), np.ones(n, dt)
    vh[[0, 20, 36]] = nan  # std::max(v, vhat) dropped it: vhat = max(vhat, v) is NaN, as torch.maximum
    _C.adam_update(p, np.full(n, 0.5, dt), m, v, vh, 1e-3, 1e-3, 0.9, 0.999, 1e-7, 0.0)
    bad = np.zeros(n, bool)
    bad[[0, 20, 36]] = True
    np.testing.assert_array_equal(np.isnan(vh), bad, err_msg=path)
    np.testing.assert_array_equal(np.isnan(p), bad, err_msg=path)
    assert np.isfinite(m).all() and np.isfinite(v).all()


@pytest.mark.parametrize("naive", [False, True])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_relu_backward_is_a_select(path, naive, dt):
    # PyTorch's threshold_backward: (y <= 0) ? 0 : dy. A NaN / inf dy where y <= 0 gives 0; a
    # NaN y (a NaN pre-activation: ReLU keeps it) passes dy through
    y = np.tile(np.array([-1.0, 0.0, 2.0, nan, 0.0, 3.0], dt), (3, 3))
    dy = np.tile(np.array([nan, inf, 3.0, 4.0, -inf, nan], dt), (3, 3))
    dx, db = _C.bias_act_backward(dy, y, None, None, 1, 0.0, True, naive)
    want = np.tile(np.array([0.0, 0.0, 3.0, 4.0, 0.0, nan], dt), (3, 3))
    np.testing.assert_array_equal(dx, want, err_msg=f"{path} naive={naive}")
    np.testing.assert_array_equal(db, want.sum(0), err_msg=f"{path} naive={naive}")
    dx, _ = _C.bias_act_backward(dy, y, None, None, 5, 0.2, False, naive)  # leaky: (y > 0) ? dy : alpha*dy
    np.testing.assert_array_equal(dx, np.where(y > 0, dy, dt(0.2) * dy), err_msg=f"{path} leaky naive={naive}")


@pytest.mark.parametrize("n", [1, 3, 16, 37])
def test_xent_with_an_infinite_target_follows_the_formula(path, n):
    # -sum(t * log_softmax(x)) = sum(t * (lse - x)): an infinite target gives +-inf, where
    # lse * sum(t) - sum(t * x) gave inf - inf = NaN
    x = np.stack([rows(n, [])] * 4).astype(np.float32)
    t = np.full_like(x, 1.0 / n)
    t[0, n // 2], t[1, n - 1], t[2, 0], t[3, 0] = inf, -inf, inf, nan
    if n > 1:
        t[2, n - 1] = -inf  # inf + -inf terms: NaN, as in the formula
    loss, _ = _C.xent_forward(x, t)
    if n == 1:  # lse - x = 0: 0 * inf = NaN
        assert np.isnan(loss).all(), (path, loss)
        return
    assert loss[0] == inf and loss[1] == -inf and np.isnan(loss[2]) and np.isnan(loss[3]), (path, loss)
    x64 = x.astype(np.float64)
    loss64, _ = _C.xent_forward(x64, t.astype(np.float64))
    np.testing.assert_array_equal(np.isnan(loss64), np.isnan(loss))
    assert loss64[0] == inf and loss64[1] == -inf


@pytest.mark.parametrize("Tk", [3, 70])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_attention_nan_value_with_an_underflowed_weight_and_masked_nan_rows(path, Tk, dt):
    q = np.zeros((1, 1, 4, 2), dt)
    q[..., 0] = 1
    k = np.zeros((1, 1, Tk, 2), dt)
    k[0, 0, 1:, 0] = -200  # key 0 scores 0, the others -200: weight exp(-200) = 0 in float64 too
    v = np.ones((1, 1, Tk, 3), dt)
    v[0, 0, 1, 0] = nan  # attended, weight 0: 0 * NaN is NaN, as softmax(QK^T) V
    for f in (_C.attention_forward, _C.attention_forward_naive):
        o, _ = f(q, k, v, None, False, 1.0)
        assert np.isnan(o[..., 0]).all() and np.isfinite(o[..., 1:]).all(), (path, f.__name__, o)
    q[0, 0, 1] = nan  # its row fully masked: masked positions count for nothing, whatever q holds
    mask = np.ones((1, 1, 4, Tk), bool)
    mask[0, 0, 1] = False
    mask[0, 0, 2, 1] = False  # the NaN value's key masked for row 2: it stays finite
    for f in (_C.attention_forward, _C.attention_forward_naive):
        o, _ = f(q, k, v, mask, False, 1.0)
        assert (o[0, 0, 1] == 0).all() and np.isfinite(o[0, 0, 2]).all() and np.isnan(o[0, 0, 3, 0]), (path, o)


@pytest.mark.parametrize("k", [1, 3])  # the 1x1 conv has its own AVX2 weight-gradient kernel
def test_conv_fused_relu_backward_is_a_select(path, k):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    w = rng.standard_normal((k, k, 3, 16)).astype(np.float32)
    y = _C.conv2d_forward(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1, 1)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    zero = np.argwhere(y <= 0)[:2]
    dy[tuple(zero.T)] = [nan, inf]  # where y <= 0: 0, not NaN
    y[0, 0, 0, :] = nan  # a NaN output (ReLU keeps it) passes dy, as Dense(relu) does
    _, _, db = _C.conv2d_backward(x, w, dy, y, (1, 1), (0, 0, 0, 0), (1, 1), 1, 1, False, True, True)
    want = np.where(y <= 0, 0.0, dy.astype(np.float64)).sum((0, 1, 2))
    np.testing.assert_allclose(db, want, rtol=1e-5, atol=1e-5, err_msg=path)
