"""Sequential / Model training API: fit, evaluate, predict, callbacks, errors, memory, seeds."""
import gc
import io
import os
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

import ember
from ember.callbacks import Callback, EarlyStopping, TerminateOnNaN
from ember.layers import Dense, Dropout, Flatten, Input

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], np.float32)


@pytest.fixture
def one_thread():
    """Small models: threads do not help, and on a loaded shared machine they hurt."""
    prev = ember.get_num_threads()
    ember.set_num_threads(1)
    yield
    ember.set_num_threads(prev)


def xor_model(seed=0):
    ember.set_seed(seed)
    m = ember.Sequential([Dense(8, activation="tanh", input_shape=(2,)), Dense(1, activation="sigmoid")])
    m.compile(optimizer=ember.optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy", metrics=["accuracy"])
    return m


def test_xor_reaches_100_percent(one_thread):
    m = xor_model()
    h = m.fit(XOR_X, XOR_Y, epochs=300, batch_size=4, verbose=0)
    assert h.history["accuracy"][-1] == 1.0
    assert h.history["loss"][-1] < h.history["loss"][0]
    loss, acc = m.evaluate(XOR_X, XOR_Y, verbose=0)
    assert acc == 1.0
    np.testing.assert_array_equal(m.predict(XOR_X) > 0.5, XOR_Y > 0.5)


def test_digits_mlp_97_percent(one_thread):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    pytest.importorskip("sklearn")
    import digits_mlp
    acc = digits_mlp.main(verbose=0)
    assert acc >= 0.97


def test_evaluate_predict_shapes_and_return_types():
    m = xor_model()
    assert isinstance(m.evaluate(XOR_X, XOR_Y, verbose=0), list)
    d = m.evaluate(XOR_X, XOR_Y, verbose=0, return_dict=True)
    assert set(d) == {"loss", "accuracy"}
    m2 = ember.Sequential([Dense(1, input_shape=(2,))])
    m2.compile("sgd", "mse")
    assert isinstance(m2.evaluate(XOR_X, XOR_Y, verbose=0), float)
    p = m.predict(np.zeros((70, 2), np.float32), batch_size=32)
    assert isinstance(p, np.ndarray) and p.shape == (70, 1)
    assert m(XOR_X).shape == (4, 1)  # direct call


def test_fit_logs_validation_and_metrics():
    ember.set_seed(1)
    x = np.random.default_rng(0).standard_normal((64, 5)).astype(np.float32)
    y = (x.sum(1) > 0).astype(np.int64)
    m = ember.Sequential([Dense(16, activation="relu"), Dense(2)])
    m.compile(optimizer="adam", loss=ember.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["acc"])
    h = m.fit(x, y, epochs=3, batch_size=10, validation_split=0.25, verbose=0)
    assert set(h.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert len(h.history["loss"]) == 3
    h = m.fit(x, y, epochs=2, validation_data=(x, y), verbose=0)
    assert "val_loss" in h.history
    r = ember.Sequential([Dense(1, input_shape=(5,))])
    r.compile("rmsprop", "mse", metrics=["mae", "mse"])
    h = r.fit(x, x[:, :1], epochs=1, verbose=0)
    assert set(h.history) == {"loss", "mae", "mse"}


def test_verbose_output(capsys):
    m = xor_model()
    m.fit(XOR_X, XOR_Y, epochs=2, batch_size=2, verbose="auto")
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss:" in out and "accuracy:" in out
    m.fit(XOR_X, XOR_Y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_summary_lists_layers_and_params(capsys):
    m = ember.Sequential([Input(shape=(784,)), Dense(64, activation="relu", name="hidden"), Dense(10, name="out")])
    m.summary()
    out = capsys.readouterr().out
    assert "hidden (Dense)" in out and "(None, 64)" in out and "50,240" in out
    assert "Total params: 50,890" in out and "Trainable params: 50,890" in out and "Non-trainable params: 0" in out


def test_lazy_build_from_first_batch_and_layers_weights():
    m = ember.Sequential()
    m.add(Flatten())
    m.add(Dense(3))
    assert not m.built
    m.compile("adam", "mse")
    m.fit(np.zeros((8, 2, 2), np.float32), np.zeros((8, 3), np.float32), verbose=0)
    assert m.built and len(m.layers) == 2 and len(m.trainable_variables) == 2
    w = m.get_weights()
    m.set_weights([np.ones_like(a) for a in w])
    np.testing.assert_array_equal(m.layers[1].kernel.numpy(), 1)


def test_callbacks_early_stopping_and_custom():
    class Count(Callback):
        def __init__(self):
            super().__init__()
            self.batches, self.epochs = 0, 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1

        def on_epoch_end(self, epoch, logs=None):
            self.epochs += 1

    m = ember.Sequential([Dense(1, input_shape=(2,))])
    m.compile(ember.optimizers.SGD(0.0), "mse")  # lr 0: no improvement -> stops after patience
    c = Count()
    h = m.fit(XOR_X, XOR_Y, epochs=20, batch_size=2, callbacks=[EarlyStopping(monitor="loss", patience=2), c],
              verbose=0)
    assert len(h.history["loss"]) == 3 and c.epochs == 3 and c.batches == 6


def test_nan_learning_rate_is_reported_not_crash():
    m = ember.Sequential([Dense(8, activation="relu", input_shape=(2,)), Dense(1)])
    m.compile(ember.optimizers.SGD(learning_rate=1e30), "mse")
    x = np.random.default_rng(0).standard_normal((64, 2)).astype(np.float32)
    with pytest.warns(RuntimeWarning, match="not finite"):
        h = m.fit(x, x[:, :1] * 100, epochs=5, batch_size=8, verbose=0)
    assert not np.isfinite(h.history["loss"][-1])
    assert len(h.history["loss"]) < 5
    m.compile(ember.optimizers.SGD(learning_rate=1e30), "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = m.fit(x, x[:, :1] * 100, epochs=5, batch_size=8, verbose=0, callbacks=[TerminateOnNaN()])
    assert not np.isfinite(h.history["loss"][-1])


def test_bad_input_errors():
    m = xor_model()
    with pytest.raises(TypeError, match="numeric"):
        m.fit(np.array([["a", "b"]] * 4), XOR_Y, verbose=0)
    with pytest.raises(TypeError, match="numeric"):
        ember.Tensor(np.array(["x", "y"]))
    with pytest.raises(ValueError, match="same number of samples"):
        m.fit(XOR_X, XOR_Y[:3], verbose=0)
    with pytest.raises(ValueError, match="expects inputs whose last dimension is 2"):
        m.fit(np.zeros((4, 3), np.float32), XOR_Y, verbose=0)
    with pytest.raises(RuntimeError, match="compiled"):
        ember.Sequential([Dense(1)]).fit(XOR_X, XOR_Y, verbose=0)
    with pytest.raises(TypeError, match="expected a Layer"):
        ember.Sequential([lambda x: x])


def test_set_seed_reproducible_training():
    def run():
        ember.set_seed(123)
        m = ember.Sequential([Dense(16, activation="relu", input_shape=(4,)), Dropout(0.3), Dense(1)])
        m.compile("adam", "mse")
        x = np.linspace(-1, 1, 200, dtype=np.float32).reshape(50, 4)
        m.fit(x, x[:, :1] ** 2, epochs=3, batch_size=8, verbose=0)
        return m.get_weights()

    a, b = run(), run()
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_memory_flat_over_many_steps():
    m = ember.Sequential([Dense(32, activation="relu", input_shape=(16,)), Dense(4)])
    m.compile("adam", ember.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).standard_normal((32, 16)).astype(np.float32)
    y = np.arange(32) % 4
    for _ in range(200):
        m.train_on_batch(x, y)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(2000):
        m.train_on_batch(x, y)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 200_000, f"memory grew by {grown} bytes over 2000 steps"


def test_save_and_load_model(tmp_path):
    m = xor_model()
    m.fit(XOR_X, XOR_Y, epochs=5, verbose=0)
    path = str(tmp_path / "xor.npz")
    m.save(path)
    m2 = ember.models.load_model(path)
    np.testing.assert_allclose(m2.predict(XOR_X), m.predict(XOR_X), rtol=1e-6)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]
    m.save_weights(str(tmp_path / "w.npz"))
    m3 = xor_model(seed=5)
    m3.load_weights(str(tmp_path / "w.npz"))
    np.testing.assert_allclose(m3.predict(XOR_X), m.predict(XOR_X), rtol=1e-6)


def test_to_categorical_and_class_weight():
    oh = ember.utils.to_categorical(np.array([0, 2, 1]), 3)
    np.testing.assert_array_equal(oh, np.eye(3)[[0, 2, 1]])
    assert ember.utils.to_categorical(np.array([[1], [0]])).shape == (2, 2)
    with pytest.raises(ValueError):
        ember.utils.to_categorical([3], 2)
    m = ember.Sequential([Dense(3, activation="softmax", input_shape=(2,))])
    m.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(XOR_X, ember.utils.to_categorical([0, 1, 2, 0], 3), epochs=2, class_weight={0: 1.0, 1: 2.0}, verbose=0)
    assert len(h.history["accuracy"]) == 2
