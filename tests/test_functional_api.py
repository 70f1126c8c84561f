"""Functional API (ember.Input / ember.Model), merge layers, subclassed models."""
import numpy as np
import pytest

import ember
from ember.layers import Add, Concatenate, Dense, Dropout, Flatten, Layer, Multiply


def test_input_and_symbolic_shapes():
    x = ember.Input(shape=(5,))
    assert x.shape == (None, 5)
    h = Dense(7, activation="relu")(x)
    assert h.shape == (None, 7)
    s = ember.Input(shape=(None, 3))  # unknown time axis stays unknown
    assert Dense(4)(s).shape == (None, None, 4)


def test_functional_model_trains_like_sequential(capsys):
    ember.set_seed(0)
    inp = ember.Input(shape=(2,))
    h = Dense(8, activation="tanh")(inp)
    out = Dense(1, activation="sigmoid")(h)
    model = ember.Model(inp, out)
    assert len(model.layers) == 3  # InputLayer + 2 Dense
    model.compile(ember.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([0, 1, 1, 0], np.float32)
    h = model.fit(x, y, epochs=300, batch_size=4, verbose=0)
    assert h.history["accuracy"][-1] == 1.0
    assert model.predict(x).shape == (4, 1)
    model.summary()
    out = capsys.readouterr().out
    assert "(None, 8)" in out and "Total params: 33" in out


def test_multi_input_merge_and_shared_layer():
    a, b = ember.Input(shape=(4,), name="a"), ember.Input(shape=(4,), name="b")
    shared = Dense(3)
    ha, hb = shared(a), shared(b)
    s = Add()([ha, hb])
    c = Concatenate()([ha, hb])
    p = Multiply()([ha, hb])
    out = Dense(1)(Concatenate(axis=-1)([s, c, p]))
    assert c.shape == (None, 6)
    model = ember.Model([a, b], out)
    xa = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    xb = np.random.default_rng(1).standard_normal((10, 4)).astype(np.float32)
    y = model.predict([xa, xb])
    assert y.shape == (10, 1)
    # matches a manual evaluation of the same layers
    with ember.no_grad():
        A, B = shared(xa), shared(xb)
        want = model.layers[-1](ember.concatenate([A + B, ember.concatenate([A, B], 1), A * B], 1)).numpy()
    np.testing.assert_allclose(y, want, rtol=1e-5)
    assert len(model.trainable_variables) == 4  # shared Dense counted once
    model.compile("adam", "mse")
    model.fit([xa, xb], np.zeros((10, 1), np.float32), epochs=2, verbose=0)
    with pytest.raises(ValueError, match="2 inputs"):
        model.predict(xa)


def test_layer_with_several_inputs_and_kwargs():
    class Mix(Layer):
        def call(self, query, value, scale=1.0):
            return query * scale + value

    q, v = ember.Input(shape=(3,)), ember.Input(shape=(3,))
    out = Mix()(q, v, scale=2.0)
    model = ember.Model([q, v], out)
    xq, xv = np.ones((2, 3), np.float32), np.full((2, 3), 5.0, np.float32)
    np.testing.assert_allclose(model.predict([xq, xv]), 7.0)


def test_graph_disconnected_and_bad_merge():
    a, b = ember.Input(shape=(2,)), ember.Input(shape=(2,))
    out = Add()([a, b])
    with pytest.raises(ValueError, match="Graph disconnected"):
        ember.Model(a, out)
    with pytest.raises(ValueError, match="list of at least 2"):
        Add()(a)
    with pytest.raises(ValueError, match="Concatenate"):
        Concatenate()([ember.Input(shape=(2, 3)), ember.Input(shape=(4, 3))])


def test_dropout_training_flag_in_graph():
    ember.set_seed(0)
    inp = ember.Input(shape=(100,))
    model = ember.Model(inp, Dropout(0.5)(inp))
    x = np.ones((4, 100), np.float32)
    np.testing.assert_array_equal(model(x).numpy(), x)
    assert (model(x, training=True).numpy() == 0).any()


def test_nested_model_as_layer():
    inner_in = ember.Input(shape=(3,))
    inner = ember.Model(inner_in, Dense(2)(inner_in))
    outer_in = ember.Input(shape=(3,))
    outer = ember.Model(outer_in, Dense(1)(inner(outer_in)))
    assert outer.predict(np.zeros((5, 3), np.float32)).shape == (5, 1)
    assert len(outer.trainable_variables) == 4


def test_subclassed_model():
    class MLP(ember.Model):
        def __init__(self):
            super().__init__()
            self.hidden = Dense(16, activation="relu")
            self.drop = Dropout(0.1)
            self.out = Dense(1)

        def call(self, x, training=False):
            return self.out(self.drop(self.hidden(x), training=training))

    ember.set_seed(0)
    m = MLP()
    x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(32, 2)
    y = (x[:, :1] * 2 - x[:, 1:]).astype(np.float32)
    m.compile(ember.optimizers.Adam(0.01), "mse")
    h = m.fit(x, y, epochs=30, batch_size=8, verbose=0)
    assert h.history["loss"][-1] < 0.3 * h.history["loss"][0]
    assert len(m.trainable_variables) == 4
    assert m.predict(x).shape == (32, 1)


def test_sequential_with_flatten_and_input_first():
    m = ember.Sequential([ember.Input(shape=(2, 3)), Flatten(), Dense(4)])
    assert m.output_shape == (None, 4)
    assert m.predict(np.zeros((3, 2, 3), np.float32)).shape == (3, 4)
