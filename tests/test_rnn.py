"""Fused LSTM / GRU / SimpleRNN kernels, ops and layers."""
import numpy as np
import pytest

import ember
import ember.functional as F
from ember import layers
from ember.testing import gradcheck


def sig(x):
    return 1 / (1 + np.exp(-x))


ACT_FNS = {"tanh": np.tanh, "sigmoid": sig, "relu": lambda z: np.maximum(z, 0), "linear": lambda z: z,
           "hard_sigmoid": lambda z: np.clip(z + 3, 0, 6) / 6}  # Keras 3: relu6(x + 3) / 6


def ref_lstm(x, W, R, b, h, c, mask=None, rmask=None, act="tanh", ract="sigmoid"):
    U = R.shape[0]
    rm = 1.0 if rmask is None else rmask
    a, ra = ACT_FNS[act], ACT_FNS[ract]
    ys = []
    for t in range(x.shape[1]):
        z = x[:, t] @ W + (h * rm) @ R + b
        i, f, g, o = ra(z[:, :U]), ra(z[:, U:2 * U]), a(z[:, 2 * U:3 * U]), ra(z[:, 3 * U:])
        c2 = f * c + i * g
        h2 = o * a(c2)
        if mask is not None:
            m = mask[:, t:t + 1]
            c2, h2 = np.where(m, c2, c), np.where(m, h2, h)
        h, c = h2, c2
        ys.append(h)
    return np.stack(ys, 1), h, c


def ref_gru(x, W, R, b, h, mask=None, rmask=None, act="tanh", ract="sigmoid"):
    U = R.shape[0]
    rm = 1.0 if rmask is None else rmask
    a, ra = ACT_FNS[act], ACT_FNS[ract]
    ys = []
    for t in range(x.shape[1]):
        xz = x[:, t] @ W + b[0]
        hz = (h * rm) @ R + b[1]
        z = ra(xz[:, :U] + hz[:, :U])
        r = ra(xz[:, U:2 * U] + hz[:, U:2 * U])
        hh = a(xz[:, 2 * U:] + r * hz[:, 2 * U:])
        h2 = z * h + (1 - z) * hh
        if mask is not None:
            h2 = np.where(mask[:, t:t + 1], h2, h)
        h = h2
        ys.append(h)
    return np.stack(ys, 1), h


def ref_srnn(x, W, R, b, h, mask=None, act=np.tanh, rmask=None):
    rm = 1.0 if rmask is None else rmask
    ys = []
    for t in range(x.shape[1]):
        h2 = act(x[:, t] @ W + (h * rm) @ R + b)
        if mask is not None:
            h2 = np.where(mask[:, t:t + 1], h2, h)
        h = h2
        ys.append(h)
    return np.stack(ys, 1), h


def weights(rng, B, T, I, U, G, bias_shape=None):
    return (rng.standard_normal((B, T, I)) * 0.5, rng.standard_normal((I, G * U)) * 0.4,
            rng.standard_normal((U, G * U)) * 0.4, rng.standard_normal(bias_shape or (G * U,)) * 0.3,
            rng.standard_normal((B, U)) * 0.5)


def make_mask(B, T):
    m = np.ones((B, T), bool)
    if B > 1 and T > 2:
        m[1, 2:] = False
    if B > 2:
        m[2, 0] = False
    return m


SHAPES = [(1, 1, 1, 1), (3, 7, 5, 4), (4, 13, 17, 33)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("masked", [False, True])
def test_forward_matches_reference(shape, masked):
    rng = np.random.default_rng(0)
    B, T, I, U = shape
    m = make_mask(B, T) if masked else None
    x, W, R, b, h0 = weights(rng, B, T, I, U, 4)
    c0 = rng.standard_normal((B, U))
    for dt, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        y, h, c = F.lstm(*(a.astype(dt) for a in (x, W, R, b, h0, c0)), mask=m)
        ry, rh, rc = ref_lstm(x, W, R, b, h0, c0, m)
        for got, want in ((y, ry), (h, rh), (c, rc)):
            np.testing.assert_allclose(got.numpy(), want, atol=tol * 10, rtol=tol)
    x, W, R, b, h0 = weights(rng, B, T, I, U, 3, (2, 3 * U))
    for dt, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        y, h = F.gru(*(a.astype(dt) for a in (x, W, R, b, h0)), mask=m)
        ry, rh = ref_gru(x, W, R, b, h0, m)
        np.testing.assert_allclose(y.numpy(), ry, atol=tol * 10, rtol=tol)
        np.testing.assert_allclose(h.numpy(), rh, atol=tol * 10, rtol=tol)
    x, W, R, b, h0 = weights(rng, B, T, I, U, 1)
    for act, fn in (("tanh", np.tanh), ("relu", lambda z: np.maximum(z, 0))):
        y, h = F.simple_rnn(x, W, R, b, h0, mask=m, activation=act)
        np.testing.assert_allclose(y.numpy(), ref_srnn(x, W, R, b, h0, m, fn)[0], atol=1e-5)


@pytest.mark.parametrize("masked", [False, True])
def test_gradcheck(masked):
    rng = np.random.default_rng(1)
    B, T, I, U = 3, 4, 5, 3
    m = make_mask(B, T) if masked else None
    x, W, R, b, h0 = weights(rng, B, T, I, U, 4)
    c0 = rng.standard_normal((B, U))
    gradcheck(lambda *a: F.lstm(*a, mask=m)[0], [x, W, R, b, h0, c0])
    gradcheck(lambda *a: F.lstm(*a, mask=m)[2], [x, W, R, b, h0, c0])
    gradcheck(lambda *a: F.lstm(*a, mask=m)[1] * F.lstm(*a, mask=m)[2], [x, W, R, b, h0, c0])
    x, W, R, b, h0 = weights(rng, B, T, I, U, 3, (2, 3 * U))
    gradcheck(lambda *a: F.gru(*a, mask=m)[0], [x, W, R, b, h0])
    x, W, R, b, h0 = weights(rng, B, T, I, U, 1)
    gradcheck(lambda *a: F.simple_rnn(*a, mask=m)[0], [x, W, R, b, h0])
    gradcheck(lambda *a: F.simple_rnn(*a, mask=m, activation="relu")[1], [x, W, R, b + 0.5, h0])


def test_empty_sequences():
    rng = np.random.default_rng(2)
    for B, T in ((0, 4), (3, 0)):
        x, W, R, b, h0 = (ember.Tensor(a, requires_grad=True) for a in weights(rng, B, T, 5, 3, 4))
        y, h, c = F.lstm(x, W, R, b, h0)
        assert y.shape == (B, T, 3) and h.shape == (B, 3)
        (y.sum() + h.sum() + c.sum()).backward()
        assert np.all(np.isfinite(W.grad.numpy()))
        layer = layers.GRU(3, return_sequences=True)
        assert layer(np.zeros((B, T, 5), np.float32)).shape == (B, T, 3)


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(3)
    x, W, R, b, h0 = (a.astype(np.float32) for a in weights(rng, 16, 9, 40, 64, 4))
    n = ember.get_num_threads()
    res = []
    for t in (1, 2):
        ember.set_num_threads(t)
        ts = [ember.Tensor(a, requires_grad=True) for a in (x, W, R, b, h0)]
        y, h, c = F.lstm(*ts)
        (y.sum() + (c * c).sum()).backward()
        res.append([y.numpy()] + [t_.grad.numpy() for t_ in ts])
    ember.set_num_threads(n)
    for a, b_ in zip(*res):
        assert np.array_equal(a, b_)


def test_lstm_and_gru_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    B, T, I, U = 3, 6, 5, 4
    x, W, R, b, h0 = (a.astype(np.float32) for a in weights(rng, B, T, I, U, 4))
    c0 = rng.standard_normal((B, U)).astype(np.float32)
    lstm = torch.nn.LSTM(I, U, batch_first=True)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(W.T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(R.T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        lstm.bias_hh_l0.zero_()
    ty, (th, tc) = lstm(torch.from_numpy(x), (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None]))
    y, h, c = F.lstm(x, W, R, b, h0, c0)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(c.numpy(), tc[0].detach().numpy(), atol=1e-5)
    # GRU: Keras gates (z, r, h) vs torch (r, z, n)
    x, W, R, b, h0 = (a.astype(np.float32) for a in weights(rng, B, T, I, U, 3, (2, 3 * U)))
    perm = np.r_[np.arange(U, 2 * U), np.arange(U), np.arange(2 * U, 3 * U)]
    gru = torch.nn.GRU(I, U, batch_first=True)
    with torch.no_grad():
        gru.weight_ih_l0.copy_(torch.from_numpy(W[:, perm].T.copy()))
        gru.weight_hh_l0.copy_(torch.from_numpy(R[:, perm].T.copy()))
        gru.bias_ih_l0.copy_(torch.from_numpy(b[0, perm].copy()))
        gru.bias_hh_l0.copy_(torch.from_numpy(b[1, perm].copy()))
    ty, _ = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
    np.testing.assert_allclose(F.gru(x, W, R, b, h0)[0].numpy(), ty.detach().numpy(), atol=1e-5)


def test_layers_options_and_masking():
    rng = np.random.default_rng(5)
    ids = rng.integers(1, 50, (3, 7))
    ids[1, 4:] = 0  # padding at the end of sequence 1
    emb = layers.Embedding(50, 6, mask_zero=True)
    lstm = layers.LSTM(5, return_sequences=True)
    y = lstm(emb(ids))
    assert y.shape == (3, 7, 5) and y._mask is not None
    # the padded sequence's final state equals the state after its last real token
    y_last = layers.LSTM(5)
    y_last.build((None, 7, 6))
    y_last.set_weights(lstm.get_weights())
    h = y_last(emb(ids)).numpy()
    np.testing.assert_allclose(h[1], y.numpy()[1, 3], atol=1e-6)
    out, hs, cs = layers.LSTM(4, return_state=True)(emb(ids))
    assert out.shape == hs.shape == cs.shape == (3, 4)
    assert np.allclose(out.numpy(), hs.numpy())
    bi = layers.Bidirectional(layers.GRU(4, return_sequences=True))
    assert bi(emb(ids)).shape == (3, 7, 8)
    assert layers.Bidirectional(layers.SimpleRNN(4), merge_mode="sum")(emb(ids)).shape == (3, 4)
    back = layers.SimpleRNN(3, go_backwards=True, return_sequences=True)
    assert back(emb(ids)).shape == (3, 7, 3)
    lstm2 = layers.LSTM(8)
    lstm2(np.zeros((1, 2, 3), np.float32))
    b = lstm2.bias.numpy()
    assert np.all(b[8:16] == 1) and np.all(b[:8] == 0)  # unit_forget_bias
    assert lstm2.kernel.shape == (3, 32) and lstm2.recurrent_kernel.shape == (8, 32)
    gru = layers.GRU(8)
    gru(np.zeros((1, 2, 3), np.float32))
    assert gru.bias.shape == (2, 24)


# ---- recurrent dropout: a fixed (B, U) mask on h_{t-1} in the recurrent matmul ----

def drop_mask(rng, B, U, rate=0.4):
    """An inverted-dropout mask with both dropped and kept entries."""
    keep = rng.random((B, U)) >= rate
    keep.flat[0], keep.flat[-1] = False, True
    return keep / (1 - rate)


def cell_cases(rng, B, T, I, U):
    """(name, op, args, reference) for the three cells; op(*args, mask=, recurrent_mask=)."""
    x, W, R, b, h0 = weights(rng, B, T, I, U, 4)
    c0 = rng.standard_normal((B, U))
    gx, gW, gR, gb, gh0 = weights(rng, B, T, I, U, 3, (2, 3 * U))
    sx, sW, sR, sb, sh0 = weights(rng, B, T, I, U, 1)
    return [
        ("lstm", F.lstm, (x, W, R, b, h0, c0), lambda m, rm: ref_lstm(x, W, R, b, h0, c0, m, rm)[0]),
        ("gru", F.gru, (gx, gW, gR, gb, gh0), lambda m, rm: ref_gru(gx, gW, gR, gb, gh0, m, rm)[0]),
        ("simple_rnn", F.simple_rnn, (sx, sW, sR, sb, sh0),
         lambda m, rm: ref_srnn(sx, sW, sR, sb, sh0, m, rmask=rm)[0]),
    ]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("masked", [False, True])
def test_recurrent_mask_forward_matches_reference(shape, masked):
    rng = np.random.default_rng(10)
    B, T, I, U = shape
    m = make_mask(B, T) if masked else None
    rm = drop_mask(rng, B, U)
    for name, op, args, ref in cell_cases(rng, B, T, I, U):
        want = ref(m, rm)
        if T > 1:  # the mask matters
            assert not np.allclose(want, ref(m, None)), name
        for dt, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
            y = op(*(a.astype(dt) for a in args), mask=m, recurrent_mask=rm.astype(dt))[0]
            np.testing.assert_allclose(y.numpy(), want, atol=tol * 10, rtol=tol, err_msg=f"{name} {dt.__name__}")
    # relu SimpleRNN too
    x, W, R, b, h0 = weights(rng, B, T, I, U, 1)
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    y = F.simple_rnn(x, W, R, b, h0, mask=m, activation="relu", recurrent_mask=rm)[0]
    np.testing.assert_allclose(y.numpy(), ref_srnn(x, W, R, b, h0, m, relu, rm)[0], atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("masked", [False, True])
def test_recurrent_mask_gradcheck(masked):
    rng = np.random.default_rng(11)
    B, T, I, U = 3, 4, 5, 3
    m = make_mask(B, T) if masked else None
    rm = drop_mask(rng, B, U)
    x, W, R, b, h0 = weights(rng, B, T, I, U, 4)
    c0 = rng.standard_normal((B, U))
    gradcheck(lambda *a: F.lstm(*a, mask=m, recurrent_mask=rm)[0], [x, W, R, b, h0, c0])
    gradcheck(lambda *a: F.lstm(*a, mask=m, recurrent_mask=rm)[2], [x, W, R, b, h0, c0])
    x, W, R, b, h0 = weights(rng, B, T, I, U, 3, (2, 3 * U))
    gradcheck(lambda *a: F.gru(*a, mask=m, recurrent_mask=rm)[0], [x, W, R, b, h0])
    x, W, R, b, h0 = weights(rng, B, T, I, U, 1)
    gradcheck(lambda *a: F.simple_rnn(*a, mask=m, recurrent_mask=rm)[0], [x, W, R, b, h0])
    gradcheck(lambda *a: F.simple_rnn(*a, mask=m, activation="relu", recurrent_mask=rm)[1], [x, W, R, b + 0.5, h0])


def run_cell(op, args, dt, **kw):
    """Forward + backward of one cell: [y, final states..., grads of every input]."""
    ts = [ember.Tensor(a.astype(dt), requires_grad=True) for a in args]
    out = op(*ts, **kw)
    w = np.random.default_rng(12).standard_normal(out[0].shape).astype(dt)
    loss = (out[0] * ember.Tensor(w)).sum() + sum((o * o).sum() for o in out[1:])
    loss.backward()
    return [o.numpy() for o in out] + [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("shape", [(1, 5, 3, 7), (4, 13, 17, 33)])
@pytest.mark.parametrize("masked", [False, True])
def test_recurrent_mask_of_ones_is_bit_identical(shape, masked):
    rng = np.random.default_rng(13)
    B, T, I, U = shape
    m = make_mask(B, T) if masked else None
    for name, op, args, _ in cell_cases(rng, B, T, I, U):
        for dt in (np.float32, np.float64):
            want = run_cell(op, args, dt, mask=m)
            got = run_cell(op, args, dt, mask=m, recurrent_mask=np.ones((B, U), dt))
            for k, (a, b_) in enumerate(zip(want, got)):
                assert np.array_equal(a, b_), (name, dt.__name__, k)


def test_recurrent_mask_thread_count_does_not_change_results():
    rng = np.random.default_rng(14)
    B, T, I, U = 32, 9, 40, 64  # large enough for the row-parallel gate loops
    rm = drop_mask(rng, B, U).astype(np.float32)
    m = make_mask(B, T)
    n = ember.get_num_threads()
    try:
        for name, op, args, _ in cell_cases(rng, B, T, I, U):
            res = []
            for t in (1, 2):
                ember.set_num_threads(t)
                res.append(run_cell(op, args, np.float32, mask=m, recurrent_mask=rm))
            for k, (a, b_) in enumerate(zip(*res)):
                assert np.array_equal(a, b_), (name, k)
    finally:
        ember.set_num_threads(n)


def test_recurrent_mask_errors_and_empty():
    rng = np.random.default_rng(15)
    x, W, R, b, h0 = weights(rng, 2, 3, 4, 5, 4)
    with pytest.raises(ValueError, match=r"LSTM: recurrent_mask must have shape \(batch, units\) = \(2, 5\)"):
        F.lstm(x, W, R, b, h0, recurrent_mask=np.ones((2, 4)))
    from ember.backend import cpu
    c0 = np.zeros((2, 5))
    with pytest.raises(TypeError, match="lstm: 'recurrent_mask' has dtype float32"):
        cpu.lstm_forward(x, W, R, b, h0, c0, recurrent_mask=np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"gru: 'recurrent_mask' must have shape \(2, 5\)"):
        ember._C.gru_forward(x, W[:, :15].copy(), R[:, :15].copy(), np.zeros((2, 15)), h0, None, np.ones((5, 2)))
    with pytest.raises(ValueError, match="simple_rnn: 'recurrent_mask' must be C-contiguous"):
        ember._C.simple_rnn_forward(x, W[:, :5].copy(), R[:, :5].copy(), b[:5].copy(), h0, None, np.ones((5, 2)).T)
    with pytest.raises(TypeError, match="'recurrent_mask' must be an array"):
        ember._C.simple_rnn_forward(x, W[:, :5].copy(), R[:, :5].copy(), b[:5].copy(), h0, None, [[1.0] * 5] * 2)
    for B, T in ((0, 4), (3, 0)):
        ts = [ember.Tensor(a, requires_grad=True) for a in weights(rng, B, T, 5, 3, 4)]
        y, h, c = F.lstm(*ts, recurrent_mask=np.full((B, 3), 2.0))
        (y.sum() + h.sum() + c.sum()).backward()
        assert y.shape == (B, T, 3) and np.all(np.isfinite(ts[1].grad.numpy()))


RNN_LAYERS = [layers.SimpleRNN, layers.LSTM, layers.GRU]


@pytest.mark.parametrize("cls", RNN_LAYERS)
def test_layer_recurrent_dropout(cls):
    rng = np.random.default_rng(16)
    x = rng.standard_normal((4, 6, 5)).astype(np.float32)
    drop = cls(7, recurrent_dropout=0.5, return_sequences=True)
    plain = cls(7, return_sequences=True)
    drop.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(drop.get_weights())
    infer = plain(x).numpy()
    # inference: no mask at all, the same numbers as recurrent_dropout=0
    assert np.array_equal(drop(x, training=False).numpy(), infer)
    assert np.array_equal(plain(x, training=True).numpy(), infer)
    # training: one (batch, units) mask from ember's generator, the same for every step
    ember.set_seed(3)
    y1 = drop(x, training=True).numpy()
    assert not np.allclose(y1, infer)
    ember.set_seed(3)
    keep = ember.random.generator().random((4, 7), dtype=np.float32) >= 0.5
    rm = keep * np.float32(2.0)
    w = drop.get_weights()
    fn = {layers.SimpleRNN: F.simple_rnn, layers.LSTM: F.lstm, layers.GRU: F.gru}[cls]
    assert np.array_equal(fn(x, *w, recurrent_mask=rm)[0].numpy(), y1)
    ember.set_seed(3)
    assert np.array_equal(drop(x, training=True).numpy(), y1)  # reproducible
    assert not np.array_equal(drop(x, training=True).numpy(), y1)  # a new mask per call
    # gradients flow in training
    xt = ember.Tensor(x, requires_grad=True)
    drop(xt, training=True).sum().backward()
    assert np.all(np.isfinite(xt.grad.numpy())) and np.any(drop.recurrent_kernel.grad.numpy() != 0)


def test_layer_recurrent_dropout_config_errors_and_bidirectional():
    rng = np.random.default_rng(17)
    for cls in RNN_LAYERS:
        layer = cls(3, recurrent_dropout=0.25, dropout=0.1)
        cfg = layer.get_config()
        assert cfg["recurrent_dropout"] == 0.25 and cfg["dropout"] == 0.1
        again = cls(**cfg)
        assert again.recurrent_dropout == 0.25 and again.get_config() == cfg
        for bad in (-0.1, 1.0, 1.5):
            with pytest.raises(ValueError, match=f"{cls.__name__}: recurrent_dropout must be in \\[0, 1\\)"):
                cls(3, recurrent_dropout=bad)
        with pytest.raises(NotImplementedError, match="stateful"):
            cls(3, stateful=True, recurrent_dropout=0.2)
    ids = rng.integers(1, 20, (3, 6))
    ids[1, 3:] = 0
    emb = layers.Embedding(20, 4, mask_zero=True)
    bi = layers.Bidirectional(layers.LSTM(5, recurrent_dropout=0.4, return_sequences=True))
    assert bi.backward_layer.recurrent_dropout == 0.4
    e = emb(ids)
    infer = bi(e, training=False).numpy()
    assert np.array_equal(bi(e).numpy(), infer)
    ember.set_seed(5)
    y = bi(e, training=True).numpy()
    assert y.shape == (3, 6, 10) and not np.allclose(y, infer)
    ember.set_seed(5)
    assert np.array_equal(bi(e, training=True).numpy(), y)
    model = ember.Sequential([layers.Embedding(20, 4, mask_zero=True),
                              layers.Bidirectional(layers.GRU(4, recurrent_dropout=0.3)), layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    hist = model.fit(ids, rng.standard_normal((3, 2)), epochs=2, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))


def test_layer_errors():
    with pytest.raises(ValueError, match="3-D input"):
        layers.LSTM(4)(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="ids must be in"):
        layers.Embedding(5, 2)(np.array([[1, 7]]))


def test_keras_tutorial_model_compiles_and_fits():
    rng = np.random.default_rng(6)
    x = rng.integers(0, 10000, (96, 12))
    y = x[:, 0] % 10
    model = ember.Sequential([
        layers.Embedding(10000, 64),
        layers.LSTM(64),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert len(hist.history["loss"]) == 2 and np.all(np.isfinite(hist.history["loss"]))
    assert model.predict(x[:5], verbose=0).shape == (5, 10)
    model2 = ember.Sequential([layers.Embedding(100, 8, mask_zero=True), layers.Bidirectional(layers.GRU(8)),
                               layers.Dense(2, activation="softmax")])
    model2.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model2.fit(rng.integers(0, 100, (32, 9)), rng.integers(0, 2, 32), epochs=1, verbose=0)


def test_time_distributed():
    td = layers.TimeDistributed(layers.Dense(3))
    x = np.random.default_rng(7).standard_normal((2, 5, 4)).astype(np.float32)
    y = td(x)
    assert y.shape == (2, 5, 3)
    w, b = td.layer.get_weights()
    np.testing.assert_allclose(y.numpy(), x @ w + b, atol=1e-5)
