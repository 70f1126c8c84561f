"""The interoperability tests' models in ember, the same architectures as
tests/data/keras/keras_models.py builds in Keras (layer for layer, so that the weights of
one load into the other)."""
import numpy as np

import ember
from ember import layers as L

NAMES = ("cnn", "lstm", "transformer", "misc")


def build(name, small=False):
    if name == "cnn":  # the seed CNN
        side, f, u = (8, 4, 8) if small else (28, 32, 128)
        return ember.Sequential([L.InputLayer(shape=(side, side, 1)), L.Conv2D(f, 3, activation="relu"),
                                 L.MaxPooling2D(), L.Flatten(), L.Dense(u, activation="relu"), L.Dense(10)])
    if name == "lstm":  # an LSTM text classifier
        v, d, u = (30, 6, 5) if small else (1000, 32, 32)
        return ember.Sequential([L.InputLayer(shape=(12,), dtype="int32"), L.Embedding(v, d), L.LSTM(u),
                                 L.Dense(2, activation="softmax")])
    if name == "transformer":  # a small Transformer encoder
        v, d = (30, 8) if small else (1000, 32)
        inp = ember.Input(shape=(10,), dtype="int32")
        x = L.Embedding(v, d)(inp)
        a = L.MultiHeadAttention(num_heads=2, key_dim=d // 2)(x, x)
        x = L.LayerNormalization()(L.Add()([x, a]))
        f = L.Dense(2 * d, activation="relu")(x)
        x = L.LayerNormalization()(L.Add()([x, L.Dense(d)(f)]))
        return ember.Model(inp, L.Dense(3)(L.GlobalAveragePooling1D()(x)))
    if name == "misc":
        inp = ember.Input(shape=(9, 3))
        c = L.Conv1D(4, 3, padding="causal", activation="relu")(inp)
        g = L.GRU(5, return_sequences=True)(c)
        b = L.Bidirectional(L.LSTM(3, return_sequences=True))(c)
        x = L.BatchNormalization()(L.Concatenate()([g, b]))
        p = L.GlobalMaxPooling1D()(x)
        q = L.GlobalAveragePooling1D()(L.AveragePooling1D(2, padding="same")(c))
        return ember.Model(inp, L.Dense(2, activation="tanh")(L.Dropout(0.5)(L.Concatenate()([p, q]))))
    if name == "zoo":
        return _zoo()
    if name == "shared":  # one layer called three times (Keras node indices 0, 1, 2)
        a, b = ember.Input(shape=(4,)), ember.Input(shape=(4,))
        shared = L.Dense(3, activation="tanh")
        x, y = shared(L.Dense(4)(b)), shared(a)
        return ember.Model([a, b], L.Concatenate()([x, y, shared(L.Add()([a, b]))]))
    raise ValueError(name)


def _zoo():
    """ember -> Keras only: the other layers .keras carries, two inputs, two outputs."""
    img, seq = ember.Input(shape=(6, 5, 3)), ember.Input(shape=(7, 5))
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
    block = ember.Sequential([L.InputLayer(shape=(4,)), L.Dense(4, activation="relu"), L.Dense(4)])  # nested models
    i = ember.Input(shape=(4,))
    m = ember.Model(i, L.Dense(4)(i))(block(m))
    out1 = L.Softmax()(L.Dense(3)(L.Identity()(m)))
    out2 = L.Dense(2)(L.Reshape((2, 2))(m))
    return ember.Model([img, seq], [out1, L.Flatten()(L.RepeatVector(2)(L.Flatten()(out2)))])


def inputs(name, model, n=5, seed=0):
    rng = np.random.default_rng(seed)
    if name in ("zoo", "shared"):
        return [rng.normal(size=(n,) + tuple(t.shape[1:])).astype("float32") for t in model.inputs]
    if name in ("lstm", "transformer"):
        vocab = next(l for l in model.layers if isinstance(l, L.Embedding)).input_dim
        return rng.integers(0, vocab, (n, 12 if name == "lstm" else 10)).astype("int32")
    shape = model.input_shape if name == "cnn" else model.inputs[0].shape
    return rng.normal(size=(n,) + tuple(shape[1:])).astype("float32")


def perturb(model, seed=1):
    """Non-trivial values for every weight (biases, BN statistics), so that a weight in the
    wrong place shows."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        v = w.numpy()
        scale = 0.5 * v.std() if v.std() > 0 else 0.1  # keep the initializer's scale: outputs stay O(1)
        v = rng.uniform(0.5, 1.5, v.shape) if "variance" in w.name else v + rng.normal(0, scale, v.shape)
        values.append(v.astype(w.dtype))
    model.set_weights(values)
    return model
