"""Activations and recurrent activations inside the fused LSTM / GRU / SimpleRNN kernels:
NumPy references, gradchecks, thread counts, layers, errors, save/load, regularizers."""
import numpy as np
import pytest

import ember
import ember.functional as F
from ember import layers
from ember.testing import gradcheck
from test_rnn import (
    ACT_FNS, RNN_LAYERS, SHAPES, cell_cases, drop_mask, make_mask, ref_gru, ref_lstm, ref_srnn, run_cell,
    weights,
)

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
