"""model.save keeps the compile state (optimizer config, slot variables, iteration count,
loss, metrics) and the random state; load_model(compile=True) restores them so a resumed
run is bit-exact against the uninterrupted one (Keras' compile_config / optimizer vars)."""
import importlib.util
import json
import zipfile

import numpy as np
import pytest

import ember
from ember import layers
from ember.models import load_model

HAS_H5PY = importlib.util.find_spec("h5py") is not None
FORMATS = ["npz", pytest.param("keras", marks=pytest.mark.skipif(not HAS_H5PY, reason="h5py not installed"))]


def _data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 5)).astype(np.float32)
    y = (x[:, :1] * 0.7 - x[:, 1:2] > 0).astype(np.float32)
    return x, y


def _model(dropout_seed=None, optimizer="adam"):
    ember.set_seed(7)
    m = ember.Sequential([layers.Dense(16, activation="relu", input_shape=(5,)), layers.Dropout(0.3),
                          layers.Dense(8, activation="tanh"), layers.Dropout(0.2, seed=dropout_seed),
                          layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return m


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dropout_seed", [None, 11])
def test_resume_is_bit_exact(tmp_path, fmt, dropout_seed):
    x, y = _data()
    ref = _model(dropout_seed)
    ref.fit(x, y, batch_size=8, epochs=4, shuffle=True, verbose=0)
    want = ref.get_weights()

    m = _model(dropout_seed)
    m.fit(x, y, batch_size=8, epochs=2, shuffle=True, verbose=0)
    path = str(tmp_path / ("m.keras" if fmt == "keras" else "m.ember"))
    m.save(path)
    ember.set_seed(12345)  # anything drawn meanwhile must not matter: the file holds the random state
    ember.random.normal((3,))
    loaded = load_model(path)
    assert loaded.compiled and type(loaded.optimizer).__name__ == "Adam"
    assert loaded.optimizer.iterations == m.optimizer.iterations == 10
    loaded.fit(x, y, batch_size=8, epochs=2, shuffle=True, verbose=0)
    got = loaded.get_weights()
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("fmt", FORMATS)
def test_compile_state_round_trip(tmp_path, fmt):
    x, y = _data()
    ember.set_seed(1)
    m = ember.Sequential([layers.Dense(4, input_shape=(5,)), layers.Dense(1)])
    opt = ember.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, clipnorm=1.5)
    m.compile(optimizer=opt, loss=ember.losses.Huber(delta=0.5), metrics=["mae", ember.metrics.RootMeanSquaredError()])
    m.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / ("m.keras" if fmt == "keras" else "m.ember"))
    m.save(path)
    loaded = load_model(path)
    o = loaded.optimizer
    assert isinstance(o, ember.optimizers.SGD)
    assert (o.learning_rate, o.momentum, o.nesterov, o.clipnorm) == (0.05, 0.9, True, 1.5)
    assert isinstance(loaded.loss, ember.losses.Huber) and loaded.loss.delta == 0.5
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(m.evaluate(x, y, verbose=0))
    names = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert set(names) == {"loss", "mae", "root_mean_squared_error"}
    # weights only: no compile state
    bare = load_model(path, compile=False)
    assert not bare.compiled
    for a, b in zip(bare.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not HAS_H5PY, reason="h5py not installed")
def test_keras_archive_layout(tmp_path):
    """compile_config in config.json and the optimizer's variables under optimizer/vars, as Keras 3 writes them."""
    import h5py
    x, y = _data()
    m = _model()
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    m.save(path)
    with zipfile.ZipFile(path) as zf:
        cfg = json.loads(zf.read("config.json"))
        zf.extract("model.weights.h5", tmp_path)
    cc = cfg["compile_config"]
    assert cc["optimizer"]["class_name"] == "Adam" and cc["optimizer"]["module"] == "keras.optimizers"
    assert cc["optimizer"]["config"]["learning_rate"] == pytest.approx(0.001)
    with h5py.File(tmp_path / "model.weights.h5", "r") as f:
        g = f["optimizer/vars"]
        assert int(np.asarray(g["0"])) == 5            # iterations
        assert float(np.asarray(g["1"])) == pytest.approx(0.001)  # learning rate
        tv = m.trainable_variables
        assert len(g.keys()) == 2 + 2 * len(tv)          # Adam: m and v per variable
        np.testing.assert_array_equal(np.asarray(g["2"]), m.optimizer._slots(tv[0])["m"])
        np.testing.assert_array_equal(np.asarray(g["3"]), m.optimizer._slots(tv[0])["v"])
    # the weights alone still load into a fresh model (the optimizer group is not a layer)
    fresh = _model()
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_uncompiled_model_saves_and_loads_uncompiled(tmp_path):
    m = ember.Sequential([layers.Dense(2, input_shape=(3,))])
    m.save(str(tmp_path / "u.ember"))
    assert not load_model(str(tmp_path / "u.ember")).compiled


def test_custom_loss_function_needs_custom_objects(tmp_path):
    def my_loss(y_true, y_pred):
        return ember.ops.mean(ember.ops.square(y_pred - ember.as_tensor(y_true)), axis=-1)
    x, y = _data()
    m = ember.Sequential([layers.Dense(1, input_shape=(5,))])
    m.compile(optimizer="sgd", loss=my_loss)
    m.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "c.ember")
    m.save(path)
    with pytest.raises(ValueError, match="my_loss"):
        load_model(path)
    loaded = load_model(path, custom_objects={"my_loss": my_loss})
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(m.evaluate(x, y, verbose=0))
    assert load_model(path, compile=False).compiled is False


def test_from_config_with_custom_objects():
    class Twice(layers.Layer):
        def call(self, x):
            return x * 2.0
    inp = ember.Input(shape=(3,))
    model = ember.Model(inp, layers.Dense(2)(Twice(name="tw")(inp)))
    cfg = model.get_config()
    with pytest.raises(ValueError, match="Twice"):
        ember.Model.from_config(cfg)
    again = ember.Model.from_config(cfg, custom_objects={"Twice": Twice})
    assert [type(l).__name__ for l in again.layers][-2:] == ["Twice", "Dense"]
    seq = ember.Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(1)])
    s2 = ember.Sequential.from_config(seq.get_config())
    assert isinstance(s2, ember.Sequential) and [w.shape for w in s2.weights] == [w.shape for w in seq.weights]


def test_wrapped_optimizer_saves_the_inner_one(tmp_path):
    """A DistributedOptimizer (single process here) is saved as the optimizer it wraps."""
    from ember.distributed import DistributedOptimizer
    x, y = _data()
    m = _model()
    m.compile(optimizer=DistributedOptimizer(ember.optimizers.Adam(0.01)), loss="binary_crossentropy")
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    m.save(str(tmp_path / "d.ember"))
    loaded = load_model(str(tmp_path / "d.ember"))
    assert type(loaded.optimizer).__name__ == "Adam" and loaded.optimizer.learning_rate == 0.01
    assert loaded.optimizer.iterations == 5


class _NoisyDense(layers.Layer):
    """A layer with its own SeedGenerator (Keras 3's idiom for per-layer randomness)."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = layers.Dense(units)
        self.seed_gen = ember.random.SeedGenerator(5)

    def call(self, x, training=False):
        y = self.dense(x)
        return ember.random.dropout(y, 0.4, seed=self.seed_gen) if training else y

    def get_config(self):
        return dict(super().get_config(), units=self.units)


def test_functional_resume_with_seed_generator_is_bit_exact(tmp_path):
    x, y = _data()

    def build():
        ember.set_seed(4)
        inp = ember.Input(shape=(5,))
        h = _NoisyDense(8, name="noisy")(inp)
        out = layers.Dense(1, activation="sigmoid")(layers.Dropout(0.25)(h))
        m = ember.Model(inp, out)
        m.compile(optimizer="adam", loss="binary_crossentropy")
        return m

    ref = build()
    ref.fit(x, y, batch_size=8, epochs=4, verbose=0)
    m = build()
    m.fit(x, y, batch_size=8, epochs=2, verbose=0)
    m.save(str(tmp_path / "f.ember"))
    ember.set_seed(99)
    loaded = load_model(str(tmp_path / "f.ember"), custom_objects={"_NoisyDense": _NoisyDense})
    noisy = [l for l in loaded.layers if l.name == "noisy"][0]
    assert noisy.seed_gen.state.tolist() == [l for l in m.layers if l.name == "noisy"][0].seed_gen.state.tolist()
    loaded.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for a, b in zip(loaded.get_weights(), ref.get_weights()):
        assert np.array_equal(a, b)


@pytest.mark.skipif(not HAS_H5PY, reason="h5py not installed")
@pytest.mark.parametrize("opt", [lambda: ember.optimizers.Adam(amsgrad=True),
                                 lambda: ember.optimizers.RMSprop(momentum=0.5, centered=True),
                                 lambda: ember.optimizers.Nadam(), lambda: ember.optimizers.Adadelta()])
def test_keras_slot_groups_round_trip(tmp_path, opt):
    """Optimizers whose Keras slot order differs from ember's (Adam's velocity_hat after all
    momenta and velocities; RMSprop's groups) come back slot for slot, and resume bit for bit."""
    x, y = _data()
    ref = _model(optimizer=opt())
    ref.fit(x, y, batch_size=8, epochs=2, verbose=0)
    m = _model(optimizer=opt())
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    m.save(str(tmp_path / "o.keras"))
    loaded = load_model(str(tmp_path / "o.keras"))
    for v, w in zip(m.trainable_variables, loaded.trainable_variables):
        a, b = m.optimizer._slots(v), loaded.optimizer._slots(w)
        assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for a, b in zip(loaded.get_weights(), ref.get_weights()):
        assert np.array_equal(a, b)
