"""Keras' answers for tests/test_layer_api_keras.py (run by it in a subprocess with
KERAS_BACKEND=torch, so that torch's OpenMP runtime never shares a process with ember's).

    python keras_layer_api.py DIR

reads DIR/cases.npz (inputs and weights written by the test) and writes DIR/keras.npz.
"""
import os
import sys

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402
from keras import layers  # noqa: E402

CELLS = {"lstm": layers.LSTMCell, "gru": layers.GRUCell, "simple": layers.SimpleRNNCell}


def rnn_cases(c, out):
    x = c["rnn_x"]
    for kind, cell in CELLS.items():
        for back in (False, True):
            key = f"rnn_{kind}_{int(back)}"
            inp = keras.Input(shape=x.shape[1:])
            rnn = layers.RNN(cell(4), return_sequences=True, return_state=True, go_backwards=back)
            model = keras.Model(inp, rnn(layers.Masking(mask_value=0.0)(inp)))
            rnn.set_weights([c[f"{key}_w{i}"] for i in range(3)])
            for i, y in enumerate(model.predict(x, verbose=0)):
                out[f"{key}_y{i}"] = np.asarray(y)


def dot_cases(c, out):
    a, b = c["dot_a"], c["dot_b"]
    out["dot_2_2_norm"] = np.asarray(layers.Dot(axes=(2, 2), normalize=True)([a, b]))
    out["dot_1_1"] = np.asarray(layers.Dot(axes=1)([a, c["dot_c"]]))
    v, w = c["dot_v"], c["dot_w"]
    out["dot_vec"] = np.asarray(layers.Dot(axes=1)([v, w]))
    out["minimum"] = np.asarray(layers.minimum([v, w]))
    out["average"] = np.asarray(layers.average([v, w]))


class Penalty(layers.Layer):
    def call(self, inputs):
        self.add_loss(0.5 * keras.ops.mean(inputs * inputs))
        return inputs


def loss_cases(c, out):
    x = c["loss_x"]
    inp = keras.Input(shape=x.shape[1:])
    d = layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.1))
    y = layers.Dense(2, activity_regularizer=keras.regularizers.L2(0.05))(Penalty()(d(inp)))
    model = keras.Model(inp, y)
    model.set_weights([c[f"loss_w{i}"] for i in range(4)])
    model(x)
    out["losses"] = np.array([float(v) for v in model.losses])
    model.compile(loss="mse")
    out["evaluate"] = np.array(model.evaluate(x, c["loss_y"], verbose=0, batch_size=len(x)))


def mask_chain_cases(c, out):
    """A mask through Dense / Dropout / Activation into a masked mean and into an LSTM."""
    x = c["rnn_x"]
    inp = keras.Input(shape=x.shape[1:])
    h = layers.Activation("tanh")(layers.Dropout(0.3)(layers.Dense(4)(layers.Masking()(inp))))
    model = keras.Model(inp, [layers.GlobalAveragePooling1D()(h), layers.LSTM(3)(h)])
    model.set_weights([c[f"chain_w{i}"] for i in range(5)])
    pooled, last = model.predict(x, verbose=0)
    out["chain_pooled"], out["chain_lstm"] = np.asarray(pooled), np.asarray(last)


def merge_mask_cases(c, out):
    """Masks through add (any input keeps the step) and concatenate along time."""
    ids_a, ids_b = c["merge_a"], c["merge_b"]
    a, b = keras.Input(shape=(None,), dtype="int32"), keras.Input(shape=(None,), dtype="int32")
    ea = layers.Embedding(9, 3, mask_zero=True)(a)
    eb = layers.Embedding(9, 3, mask_zero=True)(b)
    lstm_add, lstm_cat = layers.LSTM(2), layers.LSTM(2)
    model = keras.Model([a, b], [lstm_add(layers.add([ea, eb])), lstm_cat(layers.concatenate([ea, eb], axis=1))])
    model.set_weights([c[f"merge_w{i}"] for i in range(len(model.weights))])
    y_add, y_cat = model.predict([ids_a, ids_b], verbose=0)
    out["merge_add"], out["merge_cat"] = np.asarray(y_add), np.asarray(y_cat)


def main(d):
    with np.load(os.path.join(d, "cases.npz")) as f:
        c = {k: f[k] for k in f.files}
    out = {}
    rnn_cases(c, out)
    dot_cases(c, out)
    loss_cases(c, out)
    mask_chain_cases(c, out)
    merge_mask_cases(c, out)
    np.savez(os.path.join(d, "keras.npz"), **out)


if __name__ == "__main__":
    main(sys.argv[1])
