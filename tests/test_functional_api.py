"""Functional API (ember.Input / ember.Model), merge layers, subclassed models."""
import os

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


# -- saving functional models ------------------------------------------------------------
class _Scale(Layer):
    """A user layer with a constructor argument and a call keyword (for custom_objects)."""

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x, shift=0.0):
        return x * self.factor + shift

    def get_config(self):
        return dict(super().get_config(), factor=self.factor)


def _branched_model():
    """Two inputs, a shared layer called twice, merges (Add / Concatenate with several
    inbound tensors), a nested functional model, a call keyword, two outputs."""
    ember.set_seed(0)
    a, b = ember.Input(shape=(4,), name="a"), ember.Input(shape=(3,), name="b")
    shared = Dense(5, activation="tanh", name="shared")
    ha, hb = shared(a), shared(Dense(4, name="proj_b")(b))
    merged = Concatenate()([Add()([ha, hb]), ha, Dropout(0.2)(hb)])
    inner_in = ember.Input(shape=(15,))
    inner = ember.Model(inner_in, Dense(6, activation="relu")(inner_in), name="inner")
    h = _Scale(0.5)(inner(merged), shift=0.25)
    return ember.Model([a, b], [Dense(1, name="reg")(h), Dense(3, activation="softmax", name="cls")(h)])


def test_functional_save_load_round_trip_bit_exact(tmp_path):
    m = _branched_model()
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((50, 4)).astype(np.float32), rng.standard_normal((50, 3)).astype(np.float32)]
    y = [rng.standard_normal((50, 1)).astype(np.float32), rng.integers(0, 3, 50)]
    m.compile("adam", ["mse", "sparse_categorical_crossentropy"])
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = str(tmp_path / "branched.npz")
    m.save(path)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]
    with pytest.raises(ValueError, match="unknown layer class '_Scale'.*custom_objects"):
        ember.models.load_model(path)
    m2 = ember.models.load_model(path, custom_objects={"_Scale": _Scale})
    assert m2.output_names == ["reg", "cls"] and m2.name == m.name
    assert [l.name for l in m2.layers] == [l.name for l in m.layers]
    assert len(m2.trainable_variables) == len(m.trainable_variables)  # the shared layer stays shared
    for p, q in zip(m.predict(x), m2.predict(x)):
        np.testing.assert_array_equal(p, q)
    # the loaded model trains like the original (same output names, same steps)
    m2.compile("adam", ["mse", "sparse_categorical_crossentropy"])
    m.compile("adam", ["mse", "sparse_categorical_crossentropy"])
    ember.set_seed(5)  # the same dropout masks
    ha = m.fit(x, y, epochs=1, verbose=0).history
    ember.set_seed(5)
    hb = m2.fit(x, y, epochs=1, verbose=0).history
    assert ha == hb and set(ha) == {"loss", "reg_loss", "cls_loss"}


def test_functional_save_single_input_dict_outputs_and_in_sequential(tmp_path):
    ember.set_seed(1)
    inp = ember.Input(shape=(2, 3))
    h = Flatten()(inp)
    m = ember.Model(inp, {"mean": Dense(2)(h), "logits": Dense(4)(h)})
    x = np.random.default_rng(0).standard_normal((7, 2, 3)).astype(np.float32)
    m.save(str(tmp_path / "d.npz"))
    m2 = ember.models.load_model(str(tmp_path / "d.npz"))
    p, q = m.predict(x), m2.predict(x)
    assert isinstance(q, dict) and list(q) == ["mean", "logits"]
    for k in p:
        np.testing.assert_array_equal(p[k], q[k])
    # a functional model inside a Sequential one
    inner_in = ember.Input(shape=(3,))
    inner = ember.Model(inner_in, Dense(4, activation="relu")(inner_in))
    seq = ember.Sequential([ember.Input(shape=(3,)), inner, Dense(1)])
    seq.save(str(tmp_path / "s.npz"))
    xs = x[:, 0]
    np.testing.assert_array_equal(ember.models.load_model(str(tmp_path / "s.npz")).predict(xs), seq.predict(xs))


def test_save_subclassed_raises_and_old_format_loads(tmp_path):
    import json

    class Sub(ember.Model):
        def __init__(self):
            super().__init__()
            self.d = Dense(2)

        def call(self, x, training=False):
            return self.d(x)

    s = Sub()
    s(np.zeros((1, 3), np.float32))
    with pytest.raises(NotImplementedError, match="save_weights"):
        s.save(str(tmp_path / "sub.npz"))
    inp = ember.Input(shape=(3,))
    with pytest.raises(NotImplementedError, match="subclassed"):
        ember.Model(inp, Dense(1)(s(inp))).save(str(tmp_path / "outer.npz"))
    # a file in the first format (Sequential only), as earlier versions wrote it
    ember.set_seed(2)
    seq = ember.Sequential([Dense(3, activation="relu", input_shape=(2,)), Dense(1)])
    cfg = {"format": "ember-model-v1", "class_name": "Sequential",
           "config": {"name": "old", "input_shape": [None, 2], "input_dtype": "float32",
                      "layers": [{"class_name": "Dense", "config": l.get_config()} for l in seq.layers]}}
    arrays = {f"w{i:04d}": w for i, w in enumerate(seq.get_weights())}
    np.savez(str(tmp_path / "v1.npz"), config=np.array(json.dumps(cfg)), **arrays)
    old = ember.models.load_model(str(tmp_path / "v1.npz"))
    x = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    np.testing.assert_array_equal(old.predict(x), seq.predict(x))
    cfg["format"] = "ember-model-v9"
    np.savez(str(tmp_path / "v9.npz"), config=np.array(json.dumps(cfg)), **arrays)
    with pytest.raises(ValueError, match="ember-model-v9"):
        ember.models.load_model(str(tmp_path / "v9.npz"))


def _layer_cases():
    from ember import layers as L
    return [
        (lambda: L.Dense(3, activation="relu", use_bias=False), (4,)),
        (lambda: L.Activation("tanh"), (4,)),
        (lambda: L.ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2), (4,)),
        (lambda: L.LeakyReLU(0.2), (4,)),
        (lambda: L.ELU(0.5), (4,)),
        (lambda: L.Softmax(axis=1), (3, 4)),
        (lambda: L.Reshape((3, 2)), (6,)),
        (lambda: L.ZeroPadding2D(((1, 0), (2, 1))), (3, 3, 2)),
        (lambda: L.Conv1D(4, 3, strides=2, padding="same", activation="relu"), (7, 2)),
        (lambda: L.Conv2D(4, (2, 3), strides=(1, 2), padding="same", activation="tanh"), (5, 6, 2)),
        (lambda: L.MaxPooling1D(3, strides=1, padding="same"), (6, 2)),
        (lambda: L.AveragePooling1D(3, strides=2), (7, 2)),
        (lambda: L.MaxPooling2D((2, 2), strides=1), (5, 5, 2)),
        (lambda: L.AveragePooling2D(3, padding="same"), (5, 5, 2)),
        (lambda: L.GlobalAveragePooling1D(data_format="channels_first"), (5, 3)),
        (lambda: L.GlobalMaxPooling1D(keepdims=True), (5, 3)),
        (lambda: L.GlobalAveragePooling2D(keepdims=True), (4, 4, 2)),
        (lambda: L.GlobalMaxPooling2D(data_format="channels_first"), (4, 4, 2)),
        (lambda: L.BatchNormalization(epsilon=0.5), (4,)),
        (lambda: L.LayerNormalization(epsilon=0.5), (3, 4)),
        (lambda: L.SimpleRNN(3, return_sequences=True, activation="relu"), (5, 2)),
        (lambda: L.LSTM(3, return_state=True, go_backwards=True), (5, 2)),
        (lambda: L.GRU(3, return_sequences=True), (5, 2)),
        (lambda: L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum"), (5, 2)),
        (lambda: L.TimeDistributed(L.Dense(2, activation="sigmoid")), (4, 3)),
        (lambda: L.PositionalEncoding(max_wavelength=7.0), (5, 4)),
        (lambda: L.PositionEmbedding(8), (5, 4)),
        (lambda: L.TransformerEncoder(8, num_heads=2, normalize_first=True, activation="gelu",
                                      layer_norm_epsilon=0.5), (5, 4)),
    ]


def test_every_layer_survives_save_and_load(tmp_path):
    """get_config carries every constructor argument that changes the output: a model of
    one layer, with random weights, predicts the same bits after a round trip."""
    import json
    rng = np.random.default_rng(0)
    for i, (make, shape) in enumerate(_layer_cases()):
        inp = ember.Input(shape=shape)
        layer = make()
        m = ember.Model(inp, layer(inp))
        m.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in m.get_weights()])
        path = str(tmp_path / f"{i}.npz")
        m.save(path)
        m2 = ember.models.load_model(path)
        loaded = m2.layers[-1]
        assert type(loaded) is type(layer)
        assert json.dumps(loaded.get_config()) == json.dumps(layer.get_config())
        x = rng.standard_normal((3,) + shape).astype(np.float32)
        p, q = m.predict(x), m2.predict(x)
        for a, b in zip(p if isinstance(p, list) else [p], q if isinstance(q, list) else [q]):
            np.testing.assert_array_equal(a, b, err_msg=type(layer).__name__)
    # integer inputs (Embedding with its mask, consumed by an LSTM)
    tok = ember.Input(shape=(6,), dtype="int64")
    m = ember.Model(tok, ember.layers.LSTM(3)(ember.layers.Embedding(10, 4, mask_zero=True)(tok)))
    m.save(str(tmp_path / "emb.npz"))
    ids = rng.integers(0, 10, (4, 6))
    ids[:, -2:] = 0
    np.testing.assert_array_equal(ember.models.load_model(str(tmp_path / "emb.npz")).predict(ids), m.predict(ids))
