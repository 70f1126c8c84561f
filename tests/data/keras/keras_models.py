"""The Keras 3 side of ember's interoperability tests; needs keras (any backend) and h5py.

    python tests/data/keras/keras_models.py fixtures
        writes the small committed fixtures beside this file: <name>.keras (written by Keras)
        and <name>.npz (inputs "x" and Keras' predictions "y"). Re-run after changing them.
    python tests/data/keras/keras_models.py roundtrip DIR
        (a) loads DIR/ember_<name>.keras (written by ember) with keras.models.load_model and
            writes its predictions on DIR/x_<name>.npy to DIR/keras_pred_<name>.npy;
            and the same for DIR/ember_<name>.weights.h5 loaded into Keras' own model of that
            architecture (DIR/keras_wpred_<name>.npy);
        (b) builds the full-size models in Keras, writes DIR/keras_<name>.keras and
            DIR/keras_<name>.npz (inputs and predictions) for ember to load.

The architectures: the seed CNN (Conv2D(32, 3) -> MaxPooling2D -> Flatten -> Dense(128) ->
Dense(10)), an LSTM text classifier (Embedding -> LSTM -> Dense), a small Transformer
encoder (Input -> Embedding -> MultiHeadAttention + residual -> LayerNormalization -> Dense
FFN -> GlobalAveragePooling1D -> Dense), and "misc" (Conv1D, GRU, Bidirectional LSTM,
BatchNormalization, pooling, merges). "Small" variants shrink widths for the fixtures."""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import numpy as np  # noqa: E402

NAMES = ("cnn", "lstm", "transformer", "misc")


def build(name, small=False):
    import keras
    from keras import layers as L
    if name == "cnn":
        side, f, u = (8, 4, 8) if small else (28, 32, 128)
        return keras.Sequential([keras.Input((side, side, 1)), L.Conv2D(f, 3, activation="relu"), L.MaxPooling2D(),
                                 L.Flatten(), L.Dense(u, activation="relu"), L.Dense(10)])
    if name == "lstm":
        v, d, u = (30, 6, 5) if small else (1000, 32, 32)
        return keras.Sequential([keras.Input((12,), dtype="int32"), L.Embedding(v, d), L.LSTM(u),
                                 L.Dense(2, activation="softmax")])
    if name == "transformer":
        v, d = (30, 8) if small else (1000, 32)
        inp = keras.Input((10,), dtype="int32")
        x = L.Embedding(v, d)(inp)
        a = L.MultiHeadAttention(num_heads=2, key_dim=d // 2)(x, x)
        x = L.LayerNormalization()(L.Add()([x, a]))
        f = L.Dense(2 * d, activation="relu")(x)
        x = L.LayerNormalization()(L.Add()([x, L.Dense(d)(f)]))
        return keras.Model(inp, L.Dense(3)(L.GlobalAveragePooling1D()(x)))
    if name == "misc":
        inp = keras.Input((9, 3))
        c = L.Conv1D(4, 3, padding="causal", activation="relu")(inp)
        g = L.GRU(5, return_sequences=True)(c)
        b = L.Bidirectional(L.LSTM(3, return_sequences=True))(c)
        x = L.BatchNormalization()(L.Concatenate()([g, b]))
        p = L.GlobalMaxPooling1D()(x)
        q = L.GlobalAveragePooling1D()(L.AveragePooling1D(2, padding="same")(c))
        return keras.Model(inp, L.Dense(2, activation="tanh")(L.Dropout(0.5)(L.Concatenate()([p, q]))))
    raise ValueError(name)


def inputs(name, model, n=5, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n,) + tuple(model.inputs[0].shape[1:])
    if name in ("lstm", "transformer"):
        vocab = model.layers[0].input_dim if name == "lstm" else model.layers[1].input_dim
        return rng.integers(0, vocab, shape).astype("int32")
    return rng.normal(size=shape).astype("float32")


def perturb(model, seed=1):
    """Non-trivial values for every variable (biases, BN statistics), so that a variable in
    the wrong place shows."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        v = np.asarray(w.numpy())
        if "variance" in w.path:
            v = rng.uniform(0.5, 1.5, v.shape)
        else:  # keep the initializer's scale: outputs stay O(1)
            v = v + rng.normal(0, 0.5 * v.std() if v.std() > 0 else 0.1, v.shape)
        w.assign(v.astype("float32"))


def write(model, name, stem, small=False):
    x = inputs(name, model)
    model.save(stem + ".keras")
    np.savez(stem + ".npz", x=x, y=np.asarray(model.predict(x, verbose=0)))


def main(argv):
    import keras
    keras.utils.set_random_seed(0)
    if argv[1] == "fixtures":
        here = os.path.dirname(os.path.abspath(__file__))
        for name in NAMES:
            m = build(name, small=True)
            perturb(m)
            write(m, name, os.path.join(here, name), small=True)
        return
    d = argv[2]
    for name in NAMES:
        path = os.path.join(d, f"ember_{name}.keras")
        if os.path.exists(path):
            m = keras.models.load_model(path)
            np.save(os.path.join(d, f"keras_pred_{name}.npy"),
                    np.asarray(m.predict(np.load(os.path.join(d, f"x_{name}.npy")), verbose=0)))
        path = os.path.join(d, f"ember_{name}.weights.h5")
        if os.path.exists(path):
            m = build(name)
            m.load_weights(path)
            np.save(os.path.join(d, f"keras_wpred_{name}.npy"),
                    np.asarray(m.predict(np.load(os.path.join(d, f"x_{name}.npy")), verbose=0)))
        m = build(name)
        perturb(m)
        write(m, name, os.path.join(d, f"keras_{name}"))


if __name__ == "__main__":
    main(sys.argv)
