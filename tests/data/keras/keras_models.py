"""The Keras 3 side of ember's interoperability tests; needs keras (any backend) and h5py.

    python tests/data/keras/keras_models.py fixtures
        writes the small committed fixtures beside this file: <name>.keras (written by Keras)
        and <name>.npz (inputs "x" and Keras' predictions "y"). Re-run after changing them.
    python tests/data/keras/keras_models.py roundtrip DIR
        (a) loads every DIR/ember_<name>.keras (written by ember) with keras.models.load_model
            and writes its predictions on the inputs DIR/x_<name>.npz ("x0", "x1", ...) to
            DIR/keras_pred_<name>.npz ("y0", "y1", ...);
            and the same for DIR/ember_<name>.weights.h5 loaded into Keras' own model of that
            architecture (DIR/keras_wpred_<name>.npz);
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
    if name == "zoo":
        return _zoo()
    raise ValueError(name)


def _zoo():
    """The other layers .keras carries, two inputs, two outputs (as tests/_interop_models.py)."""
    import keras
    from keras import layers as L
    img, seq = keras.Input((6, 5, 3)), keras.Input((7, 5))
    x = L.Conv2DTranspose(4, 3, strides=2, padding="same")(img)
    x = L.Cropping2D(((1, 2), (0, 1)))(L.ZeroPadding2D(1)(x))
    x = L.SpatialDropout2D(0.2)(L.GaussianNoise(0.1)(L.Rescaling(0.5, offset=0.1)(x)))
    x = L.UpSampling2D(2)(L.AveragePooling2D(3)(x))
    x = L.GlobalMaxPooling2D()(L.ReLU(max_value=6.0)(x))
    t = L.Cropping1D((1, 1))(L.Conv1DTranspose(3, 2, strides=2, activation="elu")(seq))
    t = L.TimeDistributed(L.Dense(4))(L.UpSampling1D(2)(t))
    t = L.SimpleRNN(4, return_sequences=True)(t)
    t = L.Add()([L.Attention(use_scale=True)([t, t]), L.AdditiveAttention()([t, t])])
    t = L.GaussianDropout(0.1)(L.SpatialDropout1D(0.1)(t))
    t = L.Flatten()(L.Permute((2, 1))(t))
    m = L.Dense(4)(L.Concatenate()([x, t]))
    m = L.Subtract()([L.Maximum()([m, L.LeakyReLU(0.1)(m)]), L.Average()([m, L.ELU()(m)])])
    m = L.Multiply()([m, L.Activation("sigmoid")(m)])
    block = keras.Sequential([keras.Input((4,)), L.Dense(4, activation="relu"), L.Dense(4)])  # nested models
    i = keras.Input((4,))
    m = keras.Model(i, L.Dense(4)(i))(block(m))
    out1 = L.Softmax()(L.Dense(3)(L.Identity()(m)))
    out2 = L.Dense(2)(L.Reshape((2, 2))(m))
    return keras.Model([img, seq], [out1, L.Flatten()(L.RepeatVector(2)(L.Flatten()(out2)))])


def inputs(name, model, n=5, seed=0):
    rng = np.random.default_rng(seed)
    if name == "zoo":
        return [rng.normal(size=(n,) + tuple(t.shape[1:])).astype("float32") for t in model.inputs]
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
    """stem.keras, and stem.npz: the inputs "x" (or "x0", "x1", ...) and the predictions
    "y" (or "y0", "y1", ...)."""
    x = inputs(name, model)
    model.save(stem + ".keras")
    y = model.predict(x, verbose=0)
    arrays = {"x": x} if not isinstance(x, list) else {f"x{i}": a for i, a in enumerate(x)}
    arrays.update({"y": np.asarray(y)} if not isinstance(y, list) else {f"y{i}": np.asarray(a) for i, a in enumerate(y)})
    np.savez(stem + ".npz", **arrays)


def _deflate(path):
    """The same archive members, compressed (Keras stores them uncompressed; the HDF5 file
    is mostly padding), to keep the committed fixtures small."""
    import zipfile
    with zipfile.ZipFile(path) as zf:
        members = [(i.filename, zf.read(i.filename)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in members:
            zf.writestr(name, data)


def main(argv):
    import keras
    keras.utils.set_random_seed(0)
    if argv[1] == "fixtures":
        here = os.path.dirname(os.path.abspath(__file__))
        for name in NAMES:
            m = build(name, small=True)
            perturb(m)
            write(m, name, os.path.join(here, name), small=True)
            _deflate(os.path.join(here, name + ".keras"))
        return
    d = argv[2]
    for name in sorted(f[len("ember_"):-len(".keras")] for f in os.listdir(d)
                       if f.startswith("ember_") and f.endswith(".keras")):
        xs = _load_inputs(d, name)
        m = keras.models.load_model(os.path.join(d, f"ember_{name}.keras"))
        _save_outputs(os.path.join(d, f"keras_pred_{name}.npz"), m.predict(xs, verbose=0))
        path = os.path.join(d, f"ember_{name}.weights.h5")
        if os.path.exists(path) and name in NAMES:
            m = build(name)
            m.load_weights(path)
            _save_outputs(os.path.join(d, f"keras_wpred_{name}.npz"), m.predict(xs, verbose=0))
    for name in NAMES + ("zoo",):
        m = build(name)
        perturb(m)
        write(m, name, os.path.join(d, f"keras_{name}"))


def _load_inputs(d, name):
    with np.load(os.path.join(d, f"x_{name}.npz")) as f:
        xs = [f[f"x{i}"] for i in range(len(f.files))]
    return xs[0] if len(xs) == 1 else xs


def _save_outputs(path, ys):
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    np.savez(path, **{f"y{i}": np.asarray(y) for i, y in enumerate(ys)})


if __name__ == "__main__":
    main(sys.argv)
