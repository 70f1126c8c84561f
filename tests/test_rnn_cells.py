"""SimpleRNNCell / LSTMCell / GRUCell / StackedRNNCells and layers.RNN: the same numbers
as the fused layers with the same weights, a NumPy step reference, gradients, user
cells, masks, save / load_model and errors."""
import numpy as np
import pytest

import ember
from ember import layers
from ember.models import load_model
from ember.testing import gradcheck

PAIRS = [(layers.LSTMCell, layers.LSTM), (layers.GRUCell, layers.GRU), (layers.SimpleRNNCell, layers.SimpleRNN)]
FLAGS = [{}, {"return_sequences": True}, {"go_backwards": True, "return_sequences": True},
         {"return_state": True}, {"go_backwards": True, "return_state": True}]


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize("cell,fused", PAIRS)
@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize("masked", [False, True])
def test_rnn_of_builtin_cell_matches_fused_layer(cell, fused, flags, masked):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 5)).astype(np.float32)
    mask = None
    if masked:
        mask = np.ones((3, 7), bool)
        mask[1, 4:] = False
        mask[2, 0] = False
    r, f = layers.RNN(cell(6), **flags), fused(6, **flags)
    r(x)
    f(x)
    f.set_weights(r.get_weights())  # same layout: kernel, recurrent_kernel, bias
    for a, b in zip(_as_list(r(x, mask=mask)), _as_list(f(x, mask=mask))):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def _np_lstm_step(x, h, c, W, R, b):
    z = x @ W + h @ R + b
    u = h.shape[1]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, g, o = sig(z[:, :u]), sig(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), sig(z[:, 3 * u:])
    c2 = f * c + i * g
    return o * np.tanh(c2), c2


def _np_gru_step(x, h, W, R, b):
    u = h.shape[1]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    xz, hz = x @ W + b[0], h @ R + b[1]
    z, r = sig(xz[:, :u] + hz[:, :u]), sig(xz[:, u:2 * u] + hz[:, u:2 * u])
    hh = np.tanh(xz[:, 2 * u:] + r * hz[:, 2 * u:])
    return z * h + (1 - z) * hh


def test_cells_one_step_match_numpy_on_odd_shapes():
    rng = np.random.default_rng(1)
    x, h, c = rng.standard_normal((3, 5)), rng.standard_normal((3, 7)), rng.standard_normal((3, 7))
    lstm = layers.LSTMCell(7, dtype="float64")
    out, (h2, c2) = lstm(x, [h, c])
    wh, wc = _np_lstm_step(x, h, c, *(w.numpy() for w in lstm.weights))
    np.testing.assert_allclose(out.numpy(), wh, rtol=1e-12)
    np.testing.assert_allclose(c2.numpy(), wc, rtol=1e-12)
    np.testing.assert_array_equal(lstm.bias.numpy()[7:14], 1.0)  # unit_forget_bias
    gru = layers.GRUCell(7, dtype="float64")
    out, (g2,) = gru(x, [h])
    np.testing.assert_allclose(out.numpy(), _np_gru_step(x, h, *(w.numpy() for w in gru.weights)), rtol=1e-12)
    srnn = layers.SimpleRNNCell(7, activation="relu", dtype="float64")
    out, _ = srnn(x, [h])
    W, R, b = (w.numpy() for w in srnn.weights)
    np.testing.assert_allclose(out.numpy(), np.maximum(x @ W + h @ R + b, 0), rtol=1e-12)
    assert lstm.state_size == [7, 7] and gru.state_size == 7 and srnn.output_size == 7


@pytest.mark.parametrize("cell", [layers.LSTMCell, layers.GRUCell, layers.SimpleRNNCell])
def test_rnn_gradcheck_float64(cell):
    rng = np.random.default_rng(2)
    c = cell(3, dtype="float64")
    rnn = layers.RNN(c, return_sequences=True, dtype="float64")
    x0 = rng.standard_normal((2, 4, 3))
    rnn(x0)
    mask = np.array([[True, True, False, True], [True, True, True, True]])
    ws = [w.numpy().copy() for w in c.weights]  # kernel, recurrent_kernel, bias: checked too
    gradcheck(lambda x, *w: _bind(c, w, rnn, x, mask), [x0] + ws)


def _bind(cell, weights, rnn, x, mask):
    """Run ``rnn`` with ``weights`` (Tensors from gradcheck) in place of the cell's."""
    names = [n for n in ("kernel", "recurrent_kernel", "bias") if getattr(cell, n, None) is not None]
    saved = {n: getattr(cell, n) for n in names}
    try:
        for n, w in zip(names, weights):
            setattr(cell, n, w)
        return rnn(x, mask=mask)
    finally:
        for n, w in saved.items():
            setattr(cell, n, w)


class MinimalRNNCell(layers.Layer):
    """Keras' documentation example of a user cell."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        prev_output = states[0]
        output = inputs @ self.kernel + prev_output @ self.recurrent_kernel
        return output, [output]

    def get_config(self):
        return dict(super().get_config(), units=self.units)


def test_user_cell_in_functional_model_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 5, 2)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None].astype(np.float32)
    inp = ember.Input(shape=(None, 2))
    out = layers.Dense(1)(layers.RNN(MinimalRNNCell(4))(inp))
    model = ember.Model(inp, out)
    assert model.layers[1].output_shape == (None, 4)
    model.compile(optimizer=ember.optimizers.Adam(0.01), loss="mse")
    hist = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    cell = model.layers[1].cell
    ref = np.zeros((16, 4), np.float32)
    for t in range(5):
        ref = x[:, t] @ cell.kernel.numpy() + ref @ cell.recurrent_kernel.numpy()
    np.testing.assert_allclose(model.layers[1](x).numpy(), ref, rtol=1e-5, atol=1e-6)
    path = str(tmp_path / "cell.npz")
    model.save(path)
    with pytest.raises(ValueError, match="MinimalRNNCell"):
        load_model(path)
    back = load_model(path, custom_objects={"MinimalRNNCell": MinimalRNNCell})
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_stacked_cells_state_and_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    inp = ember.Input(shape=(6, 3))
    outs = layers.RNN([layers.GRUCell(4), layers.LSTMCell(2)], return_state=True, return_sequences=True)(inp)
    assert [o.shape for o in outs] == [(None, 6, 2), (None, 4), (None, 2), (None, 2)]
    model = ember.Model(inp, outs)
    g, l1 = layers.GRU(4, return_sequences=True), layers.LSTM(2, return_sequences=True, return_state=True)
    g(x)
    l1(x[:, :, :1].repeat(4, axis=2))
    stack = model.layers[1].cell
    g.set_weights(stack.cells[0].get_weights())
    l1.set_weights(stack.cells[1].get_weights())
    seq, h, c = l1(g(x))
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got[0], seq.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[3], c.numpy(), rtol=1e-5, atol=1e-6)
    path = str(tmp_path / "stack.npz")
    model.save(path)
    back = load_model(path)
    for a, b in zip(back.predict(x, verbose=0), got):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", [layers.LSTMCell, layers.GRUCell, layers.SimpleRNNCell])
def test_builtin_cell_config_round_trip(tmp_path, cell):
    inp = ember.Input(shape=(None, 3))
    model = ember.Model(inp, layers.RNN(cell(5, activation="relu"), go_backwards=True)(inp))
    path = str(tmp_path / "c.npz")
    model.save(path)
    back = load_model(path)
    assert type(back.layers[1].cell) is cell and back.layers[1].go_backwards
    assert back.layers[1].cell.activation == "relu"
    x = np.random.default_rng(5).standard_normal((2, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_bidirectional_over_rnn_cell_and_initial_state(tmp_path):
    x = np.random.default_rng(6).standard_normal((2, 5, 3)).astype(np.float32)
    bi = layers.Bidirectional(layers.RNN(layers.GRUCell(4), return_sequences=True))
    assert bi(x).shape == (2, 5, 8)
    assert bi.backward_layer.cell is not bi.forward_layer.cell and bi.backward_layer.go_backwards
    inp = ember.Input(shape=(None, 3))
    model = ember.Model(inp, layers.Bidirectional(layers.RNN(layers.LSTMCell(4)))(inp))
    model.save(str(tmp_path / "bi.npz"))
    back = load_model(str(tmp_path / "bi.npz"))
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
    r = layers.RNN(layers.LSTMCell(4), return_state=True)
    h0, c0 = np.ones((2, 4), np.float32), np.zeros((2, 4), np.float32)
    out, h, c = r(x, initial_state=[h0, c0])
    f = layers.LSTM(4, return_state=True)
    f(x)
    f.set_weights(r.get_weights())
    np.testing.assert_allclose(out.numpy(), f(x, initial_state=[h0, c0])[0].numpy(), rtol=1e-5, atol=1e-6)


def test_rnn_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match="RNN layer 'r'.*state_size"):
        layers.RNN(layers.Dense(3), name="r")
    r = layers.RNN(layers.LSTMCell(4), name="r2")
    with pytest.raises(ValueError, match=r"RNN layer 'r2' expects an input \(batch, time, features...\)"):
        r(np.ones((2, 3), np.float32))
    r(np.ones((2, 3, 2), np.float32))
    with pytest.raises(ValueError, match=r"initial_state must be 2 array\(s\) of shapes \[\(2, 4\), \(2, 4\)\]"):
        r(np.ones((2, 3, 2), np.float32), initial_state=[np.zeros((2, 4))])
    cell = layers.GRUCell(3, name="gc")
    cell(np.ones((1, 2)), [np.zeros((1, 3))])
    with pytest.raises(ValueError, match=r"GRUCell 'gc' expects inputs \(batch, 2\).*Received: inputs shape=\(1, 5\)"):
        cell(np.ones((1, 5)), [np.zeros((1, 3))])
    with pytest.raises(ValueError, match="units must be a positive integer"):
        layers.SimpleRNNCell(0)


@pytest.mark.parametrize("cell", [layers.LSTMCell, layers.GRUCell, layers.SimpleRNNCell])
def test_cell_dropout_one_mask_per_sequence_only_in_training(cell):
    ember.set_seed(0)
    x = np.ones((4, 6, 5), np.float32)
    plain = layers.RNN(cell(3), return_sequences=True)
    drop = layers.RNN(cell(3, dropout=0.5, recurrent_dropout=0.3), return_sequences=True)
    plain(x)
    drop(x)
    drop.set_weights(plain.get_weights())
    np.testing.assert_array_equal(drop(x, training=False).numpy(), plain(x).numpy())
    a, b = drop(x, training=True).numpy(), drop(x, training=True).numpy()
    assert not np.allclose(a, plain(x).numpy()) and not np.allclose(a, b)  # a fresh mask per call
    # input dropout alone, no recurrence: a constant input gives the same output at every
    # step when one mask serves the whole sequence
    srnn = layers.RNN(layers.SimpleRNNCell(3, dropout=0.5, recurrent_initializer="zeros"), return_sequences=True)
    y = srnn(x, training=True).numpy()
    np.testing.assert_allclose(y, np.broadcast_to(y[:, :1], y.shape), rtol=1e-6)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\). Received: 1.5"):
        cell(3, dropout=1.5)
    assert cell(3, recurrent_dropout=0.25).get_config()["recurrent_dropout"] == 0.25
