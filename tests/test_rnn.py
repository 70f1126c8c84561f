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


# ---- activation / recurrent_activation inside the fused kernels ----

ACTS = ("tanh", "relu", "sigmoid", "linear")
RACTS = ("sigmoid", "hard_sigmoid", "tanh", "linear")


def act_cases(rng, B, T, I, U, act, ract):
    """(name, op, args, kwargs, reference(m, rm) -> (y, *final states)) for the cells that take
    (act, ract): LSTM and GRU, and SimpleRNN (activation only) when ract is "sigmoid".
    Weights are scaled by the fan-in so that no combination explodes over time; for
    hard_sigmoid the input weights are large so that its gates saturate at 0 and 1 as well."""
    ws = {"hard_sigmoid": 12.0, "linear": 1.0}.get(ract, 2.5) / np.sqrt(I)
    rs, bs = 0.75 / np.sqrt(U), 0.5 if ract == "linear" else 1.0
    x, W, R, b, h0 = weights(rng, B, T, I, U, 4)
    W, R, b, c0 = W * ws, R * rs, b * bs, rng.standard_normal((B, U))
    gx, gW, gR, gb, gh0 = weights(rng, B, T, I, U, 3, (2, 3 * U))
    gW, gR, gb = gW * ws, gR * rs, gb * bs
    kw = dict(activation=act, recurrent_activation=ract)
    cases = [
        ("lstm", F.lstm, (x, W, R, b, h0, c0), kw,
         lambda m, rm: ref_lstm(x, W, R, b, h0, c0, m, rm, act, ract)),
        ("gru", F.gru, (gx, gW, gR, gb, gh0), kw, lambda m, rm: ref_gru(gx, gW, gR, gb, gh0, m, rm, act, ract)),
    ]
    if ract == "sigmoid":
        sx, sW, sR, sb, sh0 = weights(rng, B, T, I, U, 1)
        sW, sR = sW * ws, sR * rs
        cases.append(("simple_rnn", F.simple_rnn, (sx, sW, sR, sb, sh0), dict(activation=act),
                      lambda m, rm: ref_srnn(sx, sW, sR, sb, sh0, m, ACT_FNS[act], rm)))
    return cases


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("masked", [False, True])
def test_activations_forward_match_reference(shape, masked):
    rng = np.random.default_rng(20)
    B, T, I, U = shape
    m = make_mask(B, T) if masked else None
    rm = drop_mask(rng, B, U) if masked else None  # the masked runs use recurrent dropout too
    for act in ACTS:
        for ract in RACTS:
            for name, op, args, kw, ref in act_cases(rng, B, T, I, U, act, ract):
                want = ref(m, rm)
                for dt, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
                    got = op(*(a.astype(dt) for a in args), mask=m,
                             recurrent_mask=None if rm is None else rm.astype(dt), **kw)
                    for k, (g, w) in enumerate(zip(got, want)):
                        np.testing.assert_allclose(g.numpy(), w, atol=tol * 10, rtol=tol,
                                                   err_msg=f"{name} {act} {ract} {dt.__name__} output {k}")


def test_activations_differ_and_hard_sigmoid_saturates():
    """The tests above see distinct functions, and hard_sigmoid gates in both flat regions."""
    from ember.backend import cpu
    rng = np.random.default_rng(21)
    B, T, I, U = 4, 6, 5, 8
    for ract in RACTS:
        outs = {act: [c[4](None, None)[0] for c in act_cases(np.random.default_rng(1), B, T, I, U, act, ract)]
                for act in ACTS}
        for a1 in ACTS:
            for a2 in ACTS:
                if a1 < a2:
                    for y1, y2 in zip(outs[a1], outs[a2]):
                        assert not np.allclose(y1, y2), (a1, a2, ract)
    (_, _, args, _, _), (_, _, gargs, _, _) = act_cases(rng, B, T, I, U, "tanh", "hard_sigmoid")
    g = cpu.lstm_forward(*args, activation="tanh", recurrent_activation="hard_sigmoid")[2]
    gg = cpu.gru_forward(*gargs, activation="tanh", recurrent_activation="hard_sigmoid")[1]
    for gates in (np.concatenate([g[..., :2 * U], g[..., 3 * U:]], -1), gg[..., :2 * U]):
        assert np.mean(gates == 0) > 0.03 and np.mean(gates == 1) > 0.03
        assert np.mean((gates > 0) & (gates < 1)) > 0.3
    # exact Keras 3 values on chosen pre-activations (one step from zero states: z = x W + b)
    z = np.array([-4.0, -3.0, -1.5, 0.0, 0.75, 3.0, 5.0, 2.9999])
    n = z.size
    W = np.zeros((1, 4 * n))
    zero = np.zeros((1, n))
    _, h, c = F.lstm(np.ones((1, 1, 1)), W, np.zeros((n, 4 * n)), np.tile(z, 4), zero, zero,
                     activation="linear", recurrent_activation="hard_sigmoid")
    hs = np.clip(z + 3, 0, 6) / 6
    np.testing.assert_array_equal(c.numpy()[0], hs * z)  # c = f * 0 + i * g, g linear
    np.testing.assert_array_equal(h.numpy()[0], hs * (hs * z))  # h = o * linear(c)


GRAD_COMBOS = [("lstm", "relu", "hard_sigmoid"), ("lstm", "linear", "tanh"), ("lstm", "sigmoid", "linear"),
               ("gru", "relu", "hard_sigmoid"), ("gru", "linear", "linear"), ("gru", "sigmoid", "tanh"),
               ("simple_rnn", "linear", "sigmoid"), ("simple_rnn", "sigmoid", "sigmoid")]


@pytest.mark.parametrize("masked", [False, True])
def test_activations_gradcheck(masked):
    rng = np.random.default_rng(22)
    B, T, I, U = 3, 4, 5, 3
    m = make_mask(B, T) if masked else None
    rm = drop_mask(rng, B, U) if masked else None
    for cell, act, ract in GRAD_COMBOS:
        name, op, args, kw, _ = next(c for c in act_cases(rng, B, T, I, U, act, ract) if c[0] == cell)
        outs = (0, 2) if cell == "lstm" else (0,)  # y, and the LSTM's final cell state
        for k in outs:
            gradcheck(lambda *a: op(*a, mask=m, recurrent_mask=rm, **kw)[k], list(args))


@pytest.mark.parametrize("shape", [(1, 5, 3, 7), (4, 13, 17, 33)])
def test_default_activation_names_are_bit_identical(shape):
    rng = np.random.default_rng(23)
    B, T, I, U = shape
    m = make_mask(B, T)
    for name, op, args, _ in cell_cases(rng, B, T, I, U):
        kw = dict(activation="tanh") if name == "simple_rnn" else dict(activation="tanh",
                                                                       recurrent_activation="sigmoid")
        for dt in (np.float32, np.float64):
            want = run_cell(op, args, dt, mask=m)
            got = run_cell(op, args, dt, mask=m, **kw)
            for k, (a, b_) in enumerate(zip(want, got)):
                assert np.array_equal(a, b_), (name, dt.__name__, k)


def test_activations_thread_count_does_not_change_results():
    rng = np.random.default_rng(24)
    B, T, I, U = 32, 9, 40, 64  # large enough for the row-parallel gate loops
    m = make_mask(B, T)
    rm = drop_mask(rng, B, U).astype(np.float32)
    n = ember.get_num_threads()
    try:
        for act, ract in (("relu", "hard_sigmoid"), ("linear", "tanh"), ("sigmoid", "linear")):
            for name, op, args, kw, _ in act_cases(rng, B, T, I, U, act, ract):
                res = []
                for t in (1, 2):
                    ember.set_num_threads(t)
                    res.append(run_cell(op, args, np.float32, mask=m, recurrent_mask=rm, **kw))
                for k, (a, b_) in enumerate(zip(*res)):
                    assert np.all(np.isfinite(a)) and np.array_equal(a, b_), (name, act, ract, k)
    finally:
        ember.set_num_threads(n)


@pytest.mark.parametrize("cls", RNN_LAYERS)
def test_layer_activations(cls):
    rng = np.random.default_rng(25)
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    fn = {layers.SimpleRNN: F.simple_rnn, layers.LSTM: F.lstm, layers.GRU: F.gru}[cls]
    racts = RACTS if cls is not layers.SimpleRNN else (None,)
    for act in ACTS:
        for ract in racts:
            kw = dict(activation=act) if ract is None else dict(activation=act, recurrent_activation=ract)
            layer = cls(6, return_sequences=True, **kw)
            y = layer(x).numpy()
            assert np.array_equal(y, fn(x, *layer.get_weights(), **kw)[0].numpy()), (act, ract)
            cfg = layer.get_config()
            assert cfg["activation"] == act and layer.activation == act
            if ract is not None:
                assert cfg["recurrent_activation"] == ract and layer.recurrent_activation == ract
            assert cls(**cfg).get_config() == cfg
    # None is linear (Keras), names are case-insensitive; the config holds the canonical name
    kw = dict(activation=None) if cls is layers.SimpleRNN else dict(activation=None, recurrent_activation=None)
    layer = cls(6, return_sequences=True, **kw)
    y = layer(x).numpy()
    lin = dict(activation="linear") if cls is layers.SimpleRNN else dict(activation="linear",
                                                                        recurrent_activation="linear")
    assert np.array_equal(y, fn(x, *layer.get_weights(), **lin)[0].numpy())
    assert {k: layer.get_config()[k] for k in lin} == lin
    assert cls(6, activation="ReLU").get_config()["activation"] == "relu"


def test_activation_errors():
    def noop(z):
        return z
    for cls in RNN_LAYERS:
        n = cls.__name__
        with pytest.raises(NotImplementedError, match=rf"{n}: activation='elu' is not supported.*"
                                                      r"'tanh', 'relu', 'sigmoid', 'linear'"):
            cls(3, activation="elu")
        with pytest.raises(NotImplementedError, match=rf"{n}: activation must be one of .* callable"):
            cls(3, activation=noop)
        with pytest.raises(NotImplementedError, match=rf"{n}: activation='hard_sigmoid' is not supported"):
            cls(3, activation="hard_sigmoid")
        with pytest.raises(ValueError, match=rf"{n}: unknown activation 'tahn'. Supported: 'tanh'"):
            cls(3, activation="tahn")
        with pytest.raises(ValueError, match=rf"{n}: activation must be a string or None"):
            cls(3, activation=3)
    for cls in (layers.LSTM, layers.GRU):
        n = cls.__name__
        with pytest.raises(NotImplementedError, match=rf"{n}: recurrent_activation='relu' is not supported.*"
                                                      r"'sigmoid', 'hard_sigmoid', 'tanh', 'linear'"):
            cls(3, recurrent_activation="relu")
        with pytest.raises(NotImplementedError, match=rf"{n}: recurrent_activation must be one of .* callable"):
            cls(3, recurrent_activation=noop)
        with pytest.raises(NotImplementedError, match="elu"):
            layers.Bidirectional(cls(3, activation="elu"))
    rng = np.random.default_rng(26)
    x, W, R, b, h0 = weights(rng, 2, 3, 4, 5, 4)
    with pytest.raises(NotImplementedError, match="LSTM: activation='gelu' is not supported"):
        F.lstm(x, W, R, b, h0, activation="gelu")
    with pytest.raises(NotImplementedError, match="GRU: recurrent_activation='softmax' is not supported"):
        F.gru(x, W[:, :15], R[:, :15], np.zeros((2, 15)), h0, recurrent_activation="softmax")
    with pytest.raises(ValueError, match="SimpleRNN: unknown activation 'sigmoidd'"):
        F.simple_rnn(x, W[:, :5], R[:, :5], b[:5], h0, activation="sigmoidd")
    # the kernels' own check
    with pytest.raises(ValueError, match="lstm: unsupported activation 'elu'. Supported: 'tanh', 'relu'"):
        ember._C.lstm_forward(x, W, R, b, h0, np.zeros((2, 5)), activation="elu")
    with pytest.raises(ValueError, match="gru_backward: unsupported recurrent_activation 'relu'. Supported: "
                                         "'sigmoid', 'hard_sigmoid'"):
        ember._C.gru_backward(np.zeros((2, 3, 5)), h0, x, W[:, :15].copy(), R[:, :15].copy(), h0,
                              np.zeros((2, 3, 5)), np.zeros((2, 3, 15)), np.zeros((2, 3, 5)),
                              recurrent_activation="relu")
    with pytest.raises(ValueError, match="simple_rnn: unsupported activation 'hard_sigmoid'"):
        ember._C.simple_rnn_forward(x, W[:, :5].copy(), R[:, :5].copy(), b[:5].copy(), h0, activation="hard_sigmoid")


def test_activations_and_recurrent_dropout_survive_save_and_load(tmp_path):
    rng = np.random.default_rng(27)
    model = ember.Sequential([
        ember.Input(shape=(6, 3)),
        layers.Bidirectional(layers.LSTM(4, activation="relu", recurrent_activation="hard_sigmoid",
                                         return_sequences=True)),
        layers.GRU(5, activation=None, recurrent_activation="linear", recurrent_dropout=0.2, return_sequences=True),
        layers.LSTM(3, activation="sigmoid", recurrent_activation="tanh", recurrent_dropout=0.2,
                    return_sequences=True),
        layers.SimpleRNN(2, activation="linear", recurrent_dropout=0.2),
    ])
    model.set_weights([w * 1.5 for w in model.get_weights()])
    path = str(tmp_path / "rnn_acts.npz")
    model.save(path)
    loaded = ember.models.load_model(path)
    for a, b_ in zip(model.layers, loaded.layers):
        assert type(a) is type(b_) and a.get_config() == b_.get_config()
    bi, gru, lstm, srnn = loaded.layers
    assert (bi.backward_layer.activation, bi.backward_layer.recurrent_activation) == ("relu", "hard_sigmoid")
    assert (gru.activation, gru.recurrent_activation, gru.recurrent_dropout) == ("linear", "linear", 0.2)
    assert (lstm.activation, lstm.recurrent_activation, lstm.recurrent_dropout) == ("sigmoid", "tanh", 0.2)
    assert (srnn.activation, srnn.recurrent_dropout) == ("linear", 0.2)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    p = model.predict(x, verbose=0)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), p)
    # recurrent dropout is live again in training: the same seed draws the same masks
    ember.set_seed(9)
    y1 = model(x, training=True).numpy()
    ember.set_seed(9)
    y2 = loaded(x, training=True).numpy()
    assert np.array_equal(y1, y2) and not np.allclose(y1, p)


def test_recurrent_layers_regularizers_penalties_config_and_bidirectional():
    from ember.layers import GRU, LSTM, Bidirectional, SimpleRNN
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    for cls in (SimpleRNN, LSTM, GRU):
        layer = cls(5, kernel_regularizer=ember.regularizers.L2(0.1), recurrent_regularizer="l1",
                    bias_regularizer=ember.regularizers.L1L2(l1=0.2))
        layer(x)
        k, r, b = (w.data.astype(np.float64) for w in (layer.kernel, layer.recurrent_kernel, layer.bias))
        want = 0.1 * (k * k).sum() + 0.01 * np.abs(r).sum() + 0.2 * np.abs(b).sum()
        assert np.isclose(sum(float(p.data) for p in layer.losses), want, rtol=1e-5), cls.__name__
        clone = cls.from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
        assert (clone.kernel_regularizer.l2, clone.recurrent_regularizer.l1) == (0.1, 0.01)
        no_bias = cls(3, use_bias=False, bias_regularizer="l2")
        no_bias(x)
        assert no_bias.losses == []  # the (frozen, zero) bias of use_bias=False is not penalised
    bi = Bidirectional(LSTM(3, kernel_regularizer=ember.regularizers.L2(0.5)))
    bi(x)
    assert len(bi.forward_layer.losses) == 1 and len(bi.backward_layer.losses) == 1
    m = ember.Sequential([bi])
    assert len(m.losses) == 2
