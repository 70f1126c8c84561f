"""Property: every op and layer, on inputs with NaN / +-inf planted at random positions, on every
kernel path, matches a float64 NumPy reference: an output element is NaN exactly where the
reference is NaN, +-inf where it is +-inf, and finite values agree to tolerance.

The references are the plain IEEE formulas (einsum products, no BLAS: 0 * NaN is NaN) with
ember's three chosen rules: a softmax row of only -inf (fully masked) gives zeros; a masked
attention key is masked by position (its score and value never count); a max-pooling window
holding NaN gives NaN (PyTorch's rule)."""
import math

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="the property test needs hypothesis (pip install ember[test])")
from hypothesis import given, settings, strategies as st  # noqa: E402

import ember  # noqa: E402
import ember.functional as F  # noqa: E402
from ember import _C, layers  # noqa: E402

nan, inf = np.nan, np.inf
PROP = settings(max_examples=20, deadline=None, derandomize=True, database=None)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the references compute inf - inf on purpose
SEEDS = st.integers(0, 2**31 - 1)


def plant(rng, a, most=3):
    """A copy of a with 1..most entries replaced by NaN / +inf / -inf."""
    a = np.array(a, np.float64)
    flat = a.reshape(-1)
    if flat.size:
        idx = rng.choice(flat.size, size=min(int(rng.integers(1, most + 1)), flat.size), replace=False)
        flat[idx] = rng.choice([nan, inf, -inf], size=len(idx))
    return a


def plant_some(rng, arrays):
    """Plants specials in a random non-empty subset of the arrays."""
    pick = rng.random(len(arrays)) < 0.5
    pick[rng.integers(len(arrays))] = True
    return [plant(rng, a) if p else a for a, p in zip(arrays, pick)]


def check(got, ref, ctx, rtol=2e-3, atol=2e-4):
    got = np.asarray(getattr(got, "data", got), np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (ctx, got.shape, ref.shape)
    gn, rn = np.isnan(got), np.isnan(ref)
    bad = np.argwhere(gn != rn)
    assert not len(bad), f"{ctx}: NaN where the reference has none (or the reverse) at {bad[:4].tolist()}: " \
                         f"got {got[gn != rn][:4]}, reference {ref[gn != rn][:4]}"
    np.testing.assert_allclose(got[~rn], ref[~rn], rtol=rtol, atol=atol, err_msg=ctx)  # inf only equals inf


def on_paths(fn):
    """Runs fn(path, dtype, rng) on every kernel path, float32 and float64."""
    def run(seed):
        for path in _C.kernel_paths():
            _C.set_kernel_path(path)
            try:
                for dt in (np.float32, np.float64):
                    fn(path, dt, np.random.default_rng(seed))
            finally:
                _C.set_kernel_path("auto")
    return run


def T(a, dt):
    return ember.Tensor(np.asarray(a, dt))


# ---- float64 references ----------------------------------------------------------------
def mm(a, b):
    return np.einsum("...ij,...jk->...ik", a, b)


def sig(z):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))


ACT = {"linear": lambda z: z, "relu": lambda z: np.maximum(z, 0), "sigmoid": sig, "tanh": np.tanh,
       "gelu": lambda z: 0.5 * z * (1 + np.vectorize(math.erf, otypes=[float])(z / np.sqrt(2))),
       "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z), "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
       "silu": lambda z: z * sig(z), "softplus": lambda z: np.logaddexp(z, 0),
       "selu": lambda z: 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(np.minimum(z, 0)))}


def ref_softmax(x, log=False):
    """ember's rule: a row with NaN or +inf is NaN; a row of only -inf is zeros (log: NaN)."""
    m = np.max(np.where(np.isnan(x), -inf, x), -1, keepdims=True)
    bad = np.isnan(x).any(-1, keepdims=True) | (m == inf)
    masked = (m == -inf) & ~bad
    mm_ = np.where(np.isfinite(m), m, 0)
    e = np.exp(x - mm_)
    s = e.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x - mm_ - np.log(s) if log else e / s
    out = np.where(masked, nan if log else 0.0, out)
    return np.where(bad, nan, out)


def ref_conv2d(x, w, b, stride, pad):
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    KH, KW = w.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, (KH, KW), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("nhwcij,ijco->nhwo", win, w) + b


def ref_conv2d_transpose(x, w, b, stride):
    """Keras Conv2DTranspose, 'valid': y[i*s + a, j*s + b, o] += x[i, j, c] w[a, b, o, c]."""
    N, H, W, C = x.shape
    KH, KW, O, _ = w.shape
    y = np.zeros((N, (H - 1) * stride + KH, (W - 1) * stride + KW, O))
    for a in range(KH):
        for bb in range(KW):
            y[:, a:a + (H - 1) * stride + 1:stride, bb:bb + (W - 1) * stride + 1:stride] += \
                np.einsum("nhwc,oc->nhwo", x, w[a, bb])
    return y + b


def ref_pool(x, k, s, pad, kind):
    """NHWC pooling, window k = (kh, kw), strides s, padding pad = (ph, pw), over the cells
    inside x (padding ignored); max: a NaN in the window wins."""
    N, H, W, C = x.shape
    OH, OW = (H + 2 * pad[0] - k[0]) // s[0] + 1, (W + 2 * pad[1] - k[1]) // s[1] + 1
    y = np.zeros((N, OH, OW, C))
    for i in range(OH):
        for j in range(OW):
            h0, w0 = i * s[0] - pad[0], j * s[1] - pad[1]
            win = x[:, max(h0, 0):h0 + k[0], max(w0, 0):w0 + k[1]].reshape(N, -1, C)
            if kind == "avg":
                y[:, i, j] = win.mean(1)
            else:
                y[:, i, j] = np.where(np.isnan(win).any(1), nan, np.max(np.where(np.isnan(win), -inf, win), 1))
    return y


def ref_attention(q, k, v, allowed, scale):
    """Masked by position: an excluded key's score and value never count. Rows: NaN if an
    attended score is NaN or +inf; zeros if none is attended or all are -inf."""
    s = mm(q, np.swapaxes(k, -1, -2)) * scale
    s = np.where(allowed, s, -inf)
    bad = (allowed & (np.isnan(s) | (s == inf))).any(-1, keepdims=True)
    m = np.max(np.where(np.isnan(s), -inf, s), -1, keepdims=True)
    e = np.where(allowed, np.exp(s - np.where(np.isfinite(m), m, 0)), 0)
    z = e.sum(-1, keepdims=True)
    p = e / np.where(z == 0, 1, z)
    # P V over attended keys only (a masked key's 0 * NaN would leak its value)
    out = np.where(allowed[..., None], p[..., None] * v[..., None, :, :], 0).sum(-2)
    out = np.where(z == 0, 0, out)
    return np.where(bad, nan, out)


def ref_ln(x, g, b, eps=1e-3):
    m = x.mean(-1, keepdims=True)
    return (x - m) / np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + eps) * g + b


def ref_bn(x, g, b, mean, var, eps=1e-3):
    """Batch norm folded into one multiply-add per element, as ember and PyTorch compute it:
    y = x * a + (b - mean * a), a = g / sqrt(var + eps) (with g = -inf, x * a and the shift are
    infinities of opposite signs: NaN, where the unfolded formula would give -inf)."""
    inv = 1 / np.sqrt(var + eps)
    return x * (inv * g) + (b - mean * inv * g)


def ref_lstm(x, W, R, b, U):
    h = c = np.zeros((x.shape[0], U))
    ys = []
    for t in range(x.shape[1]):
        z = mm(x[:, t], W) + mm(h, R) + b
        i, f, g, o = sig(z[:, :U]), sig(z[:, U:2 * U]), np.tanh(z[:, 2 * U:3 * U]), sig(z[:, 3 * U:])
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h)
    return np.stack(ys, 1)


def ref_gru(x, W, R, b, U):
    h = np.zeros((x.shape[0], U))
    ys = []
    for t in range(x.shape[1]):
        xz, hz = mm(x[:, t], W) + b[0], mm(h, R) + b[1]
        z, r = sig(xz[:, :U] + hz[:, :U]), sig(xz[:, U:2 * U] + hz[:, U:2 * U])
        hh = np.tanh(xz[:, 2 * U:] + r * hz[:, 2 * U:])
        h = z * h + (1 - z) * hh
        ys.append(h)
    return np.stack(ys, 1)


def ref_srnn(x, W, R, b, U, act="tanh"):
    h = np.zeros((x.shape[0], U))
    ys = []
    for t in range(x.shape[1]):
        h = ACT[act](mm(x[:, t], W) + mm(h, R) + b)
        ys.append(h)
    return np.stack(ys, 1)


# ---- functional ops ---------------------------------------------------------------------
@PROP
@given(seed=SEEDS)
def test_matmul_and_dense(seed):
    @on_paths
    def run(path, dt, rng):
        M, K, N = (int(v) for v in rng.integers(1, 40, 3))
        x, w, b = plant_some(rng, [rng.standard_normal((M, K)), rng.standard_normal((K, N)), rng.standard_normal(N)])
        check(F.matmul(T(x, dt), T(w, dt)), mm(x, w), f"matmul {path} {dt.__name__}")
        xb, wb = plant_some(rng, [rng.standard_normal((3, M, K)), rng.standard_normal((3, K, N))])
        check(F.matmul(T(xb, dt), T(wb, dt)), mm(xb, wb), f"batched matmul {path} {dt.__name__}")
        for act in ("linear", "relu", "sigmoid", "tanh", "gelu", "leaky_relu"):
            check(F.dense(T(x, dt), T(w, dt), T(b, dt), activation=act), ACT[act](mm(x, w) + b),
                  f"dense {act} {path} {dt.__name__}")
    run(seed)


@PROP
@given(seed=SEEDS)
def test_activations(seed):
    @on_paths
    def run(path, dt, rng):
        x = plant(rng, rng.standard_normal((3, int(rng.integers(1, 40)))) * 3, most=8)
        for name, fn in [("relu", F.relu), ("sigmoid", F.sigmoid), ("tanh", F.tanh), ("gelu", F.gelu),
                         ("elu", F.elu), ("selu", F.selu), ("silu", F.silu), ("softplus", F.softplus),
                         ("leaky_relu", F.leaky_relu)]:
            with np.errstate(invalid="ignore", over="ignore"):
                check(fn(T(x, dt)), ACT[name](x), f"{name} {path} {dt.__name__}")
    run(seed)


@PROP
@given(seed=SEEDS)
def test_convolutions(seed):
    @on_paths
    def run(path, dt, rng):
        C, O = (int(v) for v in rng.integers(1, 12, 2))
        x, w, b = plant_some(rng, [rng.standard_normal((2, 7, 6, C)), rng.standard_normal((3, 3, C, O)) * 0.5,
                                   rng.standard_normal(O)])
        for stride, pad in ((1, "valid"), (2, "valid"), (1, "same")):
            ref = ref_conv2d(x, w, b, stride, 1 if pad == "same" else 0)
            with np.errstate(invalid="ignore"):
                check(F.conv2d(T(x, dt), T(w, dt), T(b, dt), strides=stride, padding=pad), ref,
                      f"conv2d s={stride} {pad} {path} {dt.__name__}")
                check(F.conv2d(T(x, dt), T(w, dt), T(b, dt), strides=stride, padding=pad, activation="relu"),
                      ACT["relu"](ref), f"conv2d relu {path} {dt.__name__}")
        w1 = w[1]
        check(F.conv1d(T(x[:, 0], dt), T(w1, dt), T(b, dt)), ref_conv2d(x[:, :1], w1[None], b, 1, 0)[:, 0],
              f"conv1d {path} {dt.__name__}")
        wt = np.swapaxes(w, 2, 3)  # (KH, KW, O, C)
        check(F.conv2d_transpose(T(x, dt), T(wt, dt), T(b, dt), strides=2), ref_conv2d_transpose(x, wt, b, 2),
              f"conv2d_transpose {path} {dt.__name__}")
        check(F.conv1d_transpose(T(x[:, 0], dt), T(wt[0], dt), T(b, dt), strides=2),
              ref_conv2d_transpose(x[:, :1], wt[:1], b, 2)[:, 0], f"conv1d_transpose {path} {dt.__name__}")
    run(seed)


@PROP
@given(seed=SEEDS)
def test_pooling(seed):
    @on_paths
    def run(path, dt, rng):
        C = int(rng.choice([1, 3, 8, 16]))
        x = plant(rng, rng.standard_normal((2, 6, 7, C)), most=6)
        for k, s, pad in ((2, 2, "valid"), (3, 1, "same"), (3, 2, "valid")):
            p = (k - 1) // 2 if pad == "same" else 0
            for kind, fn in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
                check(fn(T(x, dt), k, s, pad), ref_pool(x, (k, k), (s, s), (p, p), kind),
                      f"{kind}_pool2d {k} {s} {pad} {path} {dt.__name__}")
        x1 = x[:, 0]
        check(F.max_pool1d(T(x1, dt), 2), ref_pool(x1[:, :, None], (2, 1), (2, 1), (0, 0), "max")[:, :, 0],
              f"max_pool1d {path}")
        check(F.avg_pool1d(T(x1, dt), 3, 1), ref_pool(x1[:, :, None], (3, 1), (1, 1), (0, 0), "avg")[:, :, 0],
              f"avg_pool1d {path}")
        check(F.global_max_pool2d(T(x, dt)), ref_pool(x, (6, 7), (1, 1), (0, 0), "max")[:, 0, 0],
              f"global_max_pool2d {path}")
    run(seed)


@PROP
@given(seed=SEEDS)
def test_softmax_family_and_cross_entropies(seed):
    @on_paths
    def run(path, dt, rng):
        R, n = int(rng.integers(1, 6)), int(rng.choice([1, 3, 8, 17, 40]))
        x = plant(rng, rng.standard_normal((R, n)) * 3, most=4)
        if rng.random() < 0.5:  # a fully masked row, or one of -inf and NaN
            x[rng.integers(R)] = rng.choice([-inf, -inf, nan], size=n)
        check(F.softmax(T(x, dt)), ref_softmax(x), f"softmax {path} {dt.__name__}")
        check(F.log_softmax(T(x, dt)), ref_softmax(x, log=True), f"log_softmax {path} {dt.__name__}")
        check(F.softmax(T(x.T, dt), axis=0), ref_softmax(x).T, f"softmax axis 0 {path} {dt.__name__}")
        lab = rng.integers(0, n, R)
        ls = ref_softmax(x, log=True)
        with np.errstate(invalid="ignore"):
            check(F.sparse_softmax_cross_entropy(T(x, dt), lab), -ls[np.arange(R), lab], f"sparse xent {path}")
            p = rng.dirichlet(np.ones(n), R)
            p[rng.random(p.shape) < 0.3] = 0
            if rng.random() < 0.3:  # targets are probabilities: NaN, not inf (sum(p) * lse - sum(p * x)
                p[rng.integers(R), rng.integers(n)] = nan  # and -sum(p * log_softmax) part on inf)
            # -sum(p * log_softmax): a zero target skips its logit (0 * -inf is not counted)
            ref = -np.where(p != 0, p * ls, 0).sum(-1)
            ref = np.where(np.isnan(ls).all(-1), nan, ref)  # 0 * NaN: a NaN row stays NaN
            check(F.softmax_cross_entropy(T(x, dt), T(p, dt)), ref, f"softmax xent {path} {dt.__name__}")
    run(seed)


@PROP
@given(seed=SEEDS)
def test_attention(seed):
    @on_paths
    def run(path, dt, rng):
        B, H, Tq, Tk, D = 1, 2, int(rng.integers(1, 70)), int(rng.integers(1, 70)), int(rng.integers(1, 9))
        q, k, v = plant_some(rng, [rng.standard_normal((B, H, Tq, D)), rng.standard_normal((B, H, Tk, D)),
                                   rng.standard_normal((B, H, Tk, 3))])
        mask = rng.random((B, H, Tq, Tk)) < 0.8
        causal = bool(rng.random() < 0.5)
        scale = float(rng.choice([0.4, 1.0, 0.0, -0.5]))
        allowed = mask & (np.tril(np.ones((Tq, Tk), bool)) if causal else True)
        with np.errstate(invalid="ignore", over="ignore"):
            ref = ref_attention(q, k, v, allowed, scale)
        got = F.scaled_dot_product_attention(T(q, dt), T(k, dt), T(v, dt), attn_mask=mask, is_causal=causal,
                                             scale=scale)
        check(got, ref, f"attention {path} {dt.__name__} causal={causal} scale={scale}")
    run(seed)


@PROP
@given(seed=SEEDS)
def test_norms(seed):
    @on_paths
    def run(path, dt, rng):
        R, n = int(rng.integers(1, 7)), int(rng.integers(1, 40))
        x, g, b = plant_some(rng, [rng.standard_normal((R, n)), rng.standard_normal(n), rng.standard_normal(n)])
        with np.errstate(invalid="ignore"):
            check(F.layer_norm(T(x, dt), T(g, dt), T(b, dt)), ref_ln(x, g, b), f"layer_norm {path} {dt.__name__}")
            mu, var = rng.standard_normal(n), rng.random(n) + 0.5
            check(F.batch_norm(T(x, dt), T(g, dt), T(b, dt), T(mu, dt), T(var, dt), training=False),
                  ref_bn(x, g, b, mu, var), f"batch_norm infer {path}")
            m = x.mean(0)
            check(F.batch_norm(T(x, dt), T(g, dt), T(b, dt), T(mu, dt), T(var, dt), training=True),
                  ref_bn(x, g, b, m, ((x - m) ** 2).mean(0)), f"batch_norm train {path} {dt.__name__}")
    run(seed)


@PROP
@given(seed=SEEDS)
def test_recurrent(seed):
    @on_paths
    def run(path, dt, rng):
        B, Tn, I, U = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 6)), int(rng.integers(1, 10))
        x = rng.standard_normal((B, Tn, I))
        for G, op, ref in ((4, F.lstm, ref_lstm), (3, F.gru, ref_gru), (1, F.simple_rnn, ref_srnn)):
            bshape = (2, 3 * U) if G == 3 else (G * U,)
            xx, W, R, b = plant_some(rng, [x, rng.standard_normal((I, G * U)) * 0.5,
                                           rng.standard_normal((U, G * U)) * 0.5, rng.standard_normal(bshape) * 0.3])
            with np.errstate(invalid="ignore", over="ignore"):
                check(op(T(xx, dt), T(W, dt), T(R, dt), T(b, dt))[0], ref(xx, W, R, b, U),
                      f"{op.__name__} {path} {dt.__name__}")
        xx, W, R, b = plant_some(rng, [x, rng.standard_normal((I, U)), rng.standard_normal((U, U)) * 0.5,
                                       rng.standard_normal(U)])
        with np.errstate(invalid="ignore"):
            check(F.simple_rnn(T(xx, dt), T(W, dt), T(R, dt), T(b, dt), activation="relu")[0],
                  ref_srnn(xx, W, R, b, U, "relu"), f"simple_rnn relu {path} {dt.__name__}")
    run(seed)


# ---- layers (weights from get_weights(); specials planted in the input) ------------------
def ref_mha(x, ws, heads, kd):
    Wq, Wk, Wv, Wo, bq, bk, bv, bo = ws
    q, k, v = (np.einsum("btf,fhd->bhtd", x, W) + bb[None, :, None] for W, bb in ((Wq, bq), (Wk, bk), (Wv, bv)))
    T_ = x.shape[1]
    o = ref_attention(q, k, v, np.ones((1, heads, T_, T_), bool), 1 / np.sqrt(kd))
    return np.einsum("bhtd,hdf->btf", o, Wo) + bo


LAYERS = [
    ("Dense relu", lambda: layers.Dense(5, activation="relu"), (3, 7),
     lambda x, w: ACT["relu"](mm(x, w[0]) + w[1])),
    ("Conv2D relu", lambda: layers.Conv2D(4, 3, activation="relu"), (2, 6, 5, 3),
     lambda x, w: ACT["relu"](ref_conv2d(x, w[0], w[1], 1, 0))),
    ("Conv1D", lambda: layers.Conv1D(4, 2), (2, 6, 3), lambda x, w: ref_conv2d(x[:, None], w[0][None], w[1], 1, 0)[:, 0]),
    ("MaxPooling2D", lambda: layers.MaxPooling2D(2), (2, 4, 6, 8),
     lambda x, w: ref_pool(x, (2, 2), (2, 2), (0, 0), "max")),
    ("LayerNormalization", lambda: layers.LayerNormalization(), (3, 9), lambda x, w: ref_ln(x, w[0], w[1])),
    ("BatchNormalization", lambda: layers.BatchNormalization(), (4, 9),
     lambda x, w: ref_bn(x, w[0], w[1], w[2], w[3])),
    ("LSTM", lambda: layers.LSTM(6, return_sequences=True), (2, 4, 5), lambda x, w: ref_lstm(x, *w, 6)),
    ("GRU", lambda: layers.GRU(6, return_sequences=True), (2, 4, 5), lambda x, w: ref_gru(x, *w, 6)),
    ("SimpleRNN", lambda: layers.SimpleRNN(6, return_sequences=True), (2, 4, 5), lambda x, w: ref_srnn(x, *w, 6)),
    ("MultiHeadAttention", lambda: layers.MultiHeadAttention(num_heads=2, key_dim=4), (2, 5, 6),
     lambda x, w: ref_mha(x, w, 2, 4)),
]


@PROP
@given(seed=SEEDS)
def test_layers(seed):
    @on_paths
    def run(path, dt, rng):
        if dt is np.float64:  # layers hold float32 weights
            return
        for name, make, shape, ref in LAYERS:
            layer = make()
            x = rng.standard_normal(shape)
            args = (T(x, dt),) * (2 if name == "MultiHeadAttention" else 1)
            layer(*args)  # build
            xs = plant(rng, x)
            args = (T(xs, dt),) * len(args)
            ws = [np.asarray(w, np.float64) for w in layer.get_weights()]
            with np.errstate(invalid="ignore", over="ignore"):
                check(layer(*args), ref(xs, ws), f"{name} {path} {dt.__name__}")
    run(seed)
