"""The layer-API pieces against Keras 3 itself: RNN over LSTMCell / GRUCell /
SimpleRNNCell behind Masking (outputs and states, both directions), Dot / minimum /
average, and add_loss + activity and weight regularizer losses in model.losses and evaluate.

Keras runs once for the module in a subprocess (tests/data/keras/keras_layer_api.py,
KERAS_BACKEND=torch); skipped where keras or torch is not installed."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember import layers

HERE = os.path.dirname(os.path.abspath(__file__))
CELLS = {"lstm": layers.LSTMCell, "gru": layers.GRUCell, "simple": layers.SimpleRNNCell}


class Penalty(layers.Layer):
    def call(self, inputs):
        self.add_loss(0.5 * (inputs * inputs).mean())
        return inputs


def _cases(rng):
    """Inputs and weights for both sides, and ember's own models for them."""
    c, models = {}, {}
    x = rng.standard_normal((3, 6, 5)).astype(np.float32)
    x[0, 4:] = 0.0   # padding at the end
    x[2, 1] = 0.0    # a masked step in the middle
    c["rnn_x"] = x
    for kind, cell in CELLS.items():
        for back in (False, True):
            key = f"rnn_{kind}_{int(back)}"
            inp = ember.Input(shape=(6, 5))
            rnn = layers.RNN(cell(4), return_sequences=True, return_state=True, go_backwards=back)
            models[key] = ember.Model(inp, rnn(layers.Masking(mask_value=0.0)(inp)))
            ws = [w + rng.standard_normal(w.shape).astype(np.float32) * 0.3 for w in rnn.get_weights()]
            rnn.set_weights(ws)
            c.update({f"{key}_w{i}": w for i, w in enumerate(ws)})
    c["dot_a"] = rng.standard_normal((2, 4, 3)).astype(np.float32)
    c["dot_b"] = rng.standard_normal((2, 5, 3)).astype(np.float32)
    c["dot_c"] = rng.standard_normal((2, 4, 6)).astype(np.float32)
    c["dot_v"] = rng.standard_normal((3, 7)).astype(np.float32)
    c["dot_w"] = rng.standard_normal((3, 7)).astype(np.float32)
    c["loss_x"] = rng.standard_normal((8, 4)).astype(np.float32)
    c["loss_y"] = rng.standard_normal((8, 2)).astype(np.float32)
    inp = ember.Input(shape=(4,))
    d = layers.Dense(3, kernel_regularizer=ember.regularizers.L2(0.1))
    out = layers.Dense(2, activity_regularizer=ember.regularizers.L2(0.05))(Penalty()(d(inp)))
    models["loss"] = ember.Model(inp, out)
    ws = [rng.standard_normal(w.shape).astype(np.float32) for w in models["loss"].get_weights()]
    models["loss"].set_weights(ws)
    c.update({f"loss_w{i}": w for i, w in enumerate(ws)})
    inp = ember.Input(shape=(6, 5))
    h = layers.Activation("tanh")(layers.Dropout(0.3)(layers.Dense(4)(layers.Masking()(inp))))
    models["chain"] = ember.Model(inp, [layers.GlobalAveragePooling1D()(h), layers.LSTM(3)(h)])
    ws = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in models["chain"].get_weights()]
    models["chain"].set_weights(ws)
    c.update({f"chain_w{i}": w for i, w in enumerate(ws)})
    c["merge_a"] = np.array([[1, 2, 3, 0, 0], [4, 0, 0, 0, 0]], dtype=np.int32)
    c["merge_b"] = np.array([[5, 6, 0, 0, 0], [7, 8, 1, 2, 0]], dtype=np.int32)
    a, b = ember.Input(shape=(None,), dtype="int32"), ember.Input(shape=(None,), dtype="int32")
    ea = layers.Embedding(9, 3, mask_zero=True)(a)
    eb = layers.Embedding(9, 3, mask_zero=True)(b)
    lstm_add, lstm_cat = layers.LSTM(2), layers.LSTM(2)
    models["merge"] = ember.Model([a, b], [lstm_add(layers.add([ea, eb])),
                                           lstm_cat(layers.concatenate([ea, eb], axis=1))])
    ws = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in models["merge"].get_weights()]
    models["merge"].set_weights(ws)
    c.update({f"merge_w{i}": w for i, w in enumerate(ws)})
    return c, models


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
        pytest.skip("needs keras and torch (pip install keras torch==2.13.0) to run Keras 3")
    d = tmp_path_factory.mktemp("keras_layer_api")
    c, models = _cases(np.random.default_rng(0))
    np.savez(d / "cases.npz", **c)
    env = dict(os.environ, KERAS_BACKEND="torch", OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, os.path.join(HERE, "data", "keras", "keras_layer_api.py"), str(d)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    with np.load(d / "keras.npz") as f:
        return c, models, {k: f[k] for k in f.files}


@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("back", [0, 1])
def test_rnn_cells_behind_masking_match_keras(answers, kind, back):
    c, models, k = answers
    key = f"rnn_{kind}_{back}"
    got = models[key].predict(c["rnn_x"], verbose=0)
    n = len([name for name in k if name.startswith(key + "_y")])
    assert n == len(got)
    for i, y in enumerate(got):
        np.testing.assert_allclose(y, k[f"{key}_y{i}"], rtol=1e-5, atol=1e-5, err_msg=f"{key} output {i}")


def test_dot_and_merges_match_keras(answers):
    c, _, k = answers
    np.testing.assert_allclose(layers.Dot(axes=(2, 2), normalize=True)([c["dot_a"], c["dot_b"]]).numpy(),
                               k["dot_2_2_norm"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layers.Dot(axes=1)([c["dot_a"], c["dot_c"]]).numpy(), k["dot_1_1"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layers.Dot(axes=1)([c["dot_v"], c["dot_w"]]).numpy(), k["dot_vec"], rtol=1e-5)
    np.testing.assert_allclose(layers.minimum([c["dot_v"], c["dot_w"]]).numpy(), k["minimum"])
    np.testing.assert_allclose(layers.average([c["dot_v"], c["dot_w"]]).numpy(), k["average"], rtol=1e-6)


def test_add_loss_and_regularizer_losses_match_keras(answers):
    c, models, k = answers
    model = models["loss"]
    model(c["loss_x"])
    np.testing.assert_allclose([float(v) for v in model.losses], k["losses"], rtol=1e-5)
    model.compile(loss="mse")
    np.testing.assert_allclose(model.evaluate(c["loss_x"], c["loss_y"], verbose=0, batch_size=8), k["evaluate"],
                               rtol=1e-5)


def test_mask_flows_through_dense_dropout_activation_like_keras(answers):
    """Keras' Dense / Dropout / Activation pass the mask on; GlobalAveragePooling1D then
    averages the unmasked steps and the LSTM skips the masked ones."""
    c, models, k = answers
    pooled, last = models["chain"].predict(c["rnn_x"], verbose=0)
    np.testing.assert_allclose(pooled, k["chain_pooled"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(last, k["chain_lstm"], rtol=1e-5, atol=1e-6)


def test_merge_masks_like_keras(answers):
    c, models, k = answers
    y_add, y_cat = models["merge"].predict([c["merge_a"], c["merge_b"]], verbose=0)
    np.testing.assert_allclose(y_add, k["merge_add"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y_cat, k["merge_cat"], rtol=1e-5, atol=1e-6)
