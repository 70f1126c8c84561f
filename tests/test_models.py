"""Sequential / Model training API: fit, evaluate, predict, callbacks, errors, memory, seeds."""
import gc
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


# -- models with several outputs ---------------------------------------------------------
def _two_head_data(n=96):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y_reg = (x[:, :1] * 2 - x[:, 1:2]).astype(np.float32)
    y_cls = ((x[:, 2] > 0).astype(np.int64) + (x[:, 3] > 0)).astype(np.int64)  # 3 classes
    return x, y_reg, y_cls


def two_head_model(seed=0, reg=None):
    """A regression head "reg" (mse) and a 3-class head "cls" (softmax) on a shared trunk."""
    ember.set_seed(seed)
    inp = ember.Input(shape=(4,))
    h = Dense(16, activation="relu", kernel_regularizer=reg)(inp)
    return ember.Model(inp, [Dense(1, name="reg")(h), Dense(3, activation="softmax", name="cls")(h)])


def test_multi_output_fit_learns_with_keras_log_keys(one_thread):
    x, yr, yc = _two_head_data()
    m = two_head_model()
    assert m.output_names == ["reg", "cls"]
    m.compile(ember.optimizers.Adam(0.02), loss=["mse", "sparse_categorical_crossentropy"],
              metrics={"reg": ["mae"], "cls": ["accuracy"]})
    seen = []

    class Keys(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(sorted(logs))

    h = m.fit(x, [yr, yc], epochs=40, batch_size=16, validation_split=0.25, verbose=0,
              callbacks=[Keys(), EarlyStopping(monitor="val_cls_loss", patience=100)])
    keys = {"loss", "reg_loss", "cls_loss", "reg_mae", "cls_accuracy"}
    assert set(h.history) == keys | {"val_" + k for k in keys}
    assert seen[-1] == sorted(h.history) and len(h.history["loss"]) == 40
    assert h.history["reg_loss"][-1] < 0.05 * h.history["reg_loss"][0]
    assert h.history["cls_accuracy"][-1] >= 0.9 and h.history["val_cls_accuracy"][-1] >= 0.8
    # no loss_weights, no regularizer: the total is the sum of the per-output losses
    np.testing.assert_allclose(h.history["val_loss"], np.add(h.history["val_reg_loss"], h.history["val_cls_loss"]),
                               rtol=1e-5)
    # evaluate: [loss, reg_loss, cls_loss, reg_mae, cls_accuracy]; predict: one array per output
    ev = m.evaluate(x, [yr, yc], verbose=0)
    assert isinstance(ev, list) and len(ev) == 5
    assert list(m.evaluate(x, [yr, yc], verbose=0, return_dict=True)) == \
        ["loss", "reg_loss", "cls_loss", "reg_mae", "cls_accuracy"]
    p = m.predict(x, batch_size=40)
    assert isinstance(p, list) and p[0].shape == (96, 1) and p[1].shape == (96, 3)
    pb = m.predict_on_batch(x[:5])
    assert [a.shape for a in pb] == [(5, 1), (5, 3)]
    d = m.train_on_batch(x[:8], [yr[:8], yc[:8]], return_dict=True)
    assert set(d) == {"loss", "reg_loss", "cls_loss", "reg_mae", "cls_accuracy"}
    assert len(m.test_on_batch(x[:8], {"reg": yr[:8], "cls": yc[:8]})) == 5


def test_multi_output_loss_is_weighted_sum_plus_regularization():
    x, yr, yc = _two_head_data()
    m = two_head_model(reg=ember.regularizers.L2(0.01))
    m.compile("adam", loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"}, loss_weights=[0.3, 2.0])
    m.fit(x, [yr, yc], epochs=2, batch_size=32, verbose=0)
    d = m.evaluate(x, [yr, yc], batch_size=40, verbose=0, return_dict=True)
    pr, pc = (a.astype(np.float64) for a in m.predict(x))
    mse = np.mean((pr - yr) ** 2)
    ce = np.mean(-np.log(pc[np.arange(len(yc)), yc]))
    penalty = sum(float(p.numpy()) for p in m.losses)
    assert penalty > 0
    np.testing.assert_allclose(d["reg_loss"], mse, rtol=1e-5)
    np.testing.assert_allclose(d["cls_loss"], ce, rtol=1e-5)
    np.testing.assert_allclose(d["loss"], 0.3 * mse + 2.0 * ce + penalty, rtol=1e-5)


def test_multi_output_loss_weight_zero_leaves_that_head_untrained():
    x, yr, yc = _two_head_data()
    m = two_head_model()
    m.compile("adam", ["mse", "sparse_categorical_crossentropy"], loss_weights={"cls": 0.0})
    cls0, reg0 = m.get_layer("cls").get_weights(), m.get_layer("reg").get_weights()
    h = m.fit(x, [yr, yc], epochs=2, batch_size=32, verbose=0)
    for a, b in zip(m.get_layer("cls").get_weights(), cls0):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(m.get_layer("reg").get_weights()[0], reg0[0])
    np.testing.assert_allclose(h.history["loss"], h.history["reg_loss"], rtol=1e-6)
    assert h.history["cls_loss"][-1] > 0


def test_multi_output_dict_and_list_forms_agree():
    x, yr, yc = _two_head_data()
    sw = np.linspace(0.5, 1.5, len(x)).astype(np.float32)

    def run(loss, loss_weights, metrics, y, sample_weight, val_y):
        m = two_head_model(seed=3)
        m.compile(ember.optimizers.Adam(0.01), loss, loss_weights=loss_weights, metrics=metrics)
        h = m.fit(x, y, sample_weight=sample_weight, epochs=2, batch_size=16, verbose=0,
                  validation_data=(x[:20], val_y))
        return h.history, m.get_weights()

    ha, wa = run(["mse", "sparse_categorical_crossentropy"], [1.0, 0.5], [["mae"], ["accuracy"]],
                 [yr, yc], [sw, sw], [yr[:20], yc[:20]])
    hb, wb = run({"cls": "sparse_categorical_crossentropy", "reg": "mse"}, {"cls": 0.5}, {"reg": "mae", "cls": "accuracy"},
                 {"cls": yc, "reg": yr}, sw, {"reg": yr[:20], "cls": yc[:20]})
    assert ha == hb
    for a, b in zip(wa, wb):
        np.testing.assert_array_equal(a, b)
    # one loss and a flat metrics list apply to every output
    m = two_head_model()
    m.compile("sgd", "mse", metrics=["mae"])
    ev = m.evaluate(x, [yr, yr.repeat(3, 1)], verbose=0, return_dict=True)
    assert list(ev) == ["loss", "reg_loss", "cls_loss", "reg_mae", "cls_mae"]


def test_multi_output_dict_outputs_subclassed_and_missing_loss():
    x, yr, yc = _two_head_data(40)
    ember.set_seed(0)
    inp = ember.Input(shape=(4,))
    h = Dense(8, activation="relu")(inp)
    m = ember.Model(inp, {"value": Dense(1)(h), "probs": Dense(3, activation="softmax")(h)})
    assert m.output_names == ["value", "probs"]
    m.compile("adam", {"value": "mse"})  # "probs" has no loss: no target needed, not logged
    hist = m.fit(x, {"value": yr}, epochs=2, verbose=0)
    assert set(hist.history) == {"loss", "value_loss"} and hist.history["loss"] == hist.history["value_loss"]
    p = m.predict(x)
    assert isinstance(p, dict) and list(p) == ["value", "probs"] and p["probs"].shape == (40, 3)

    class TwoHeads(ember.Model):
        def __init__(self):
            super().__init__()
            self.trunk, self.a, self.b = Dense(8, activation="relu"), Dense(1), Dense(3)

        def call(self, x, training=False):
            t = self.trunk(x)
            return self.a(t), self.b(t)

    s = TwoHeads()
    s.compile("adam", ["mse", ember.losses.SparseCategoricalCrossentropy(from_logits=True)], metrics=[[], ["acc"]])
    hist = s.fit(x, (yr, yc), epochs=2, verbose=0)
    assert set(hist.history) == {"loss", "output_1_loss", "output_2_loss", "output_2_acc"}
    assert [a.shape for a in s.predict(x)] == [(40, 1), (40, 3)]


def test_multi_output_errors():
    x, yr, yc = _two_head_data(20)
    m = two_head_model()
    with pytest.raises(ValueError, match="2 outputs.*list of 3"):
        m.compile("adam", ["mse", "mse", "mse"])
    with pytest.raises(ValueError, match=r"\['clss'\].*Output names: \['reg', 'cls'\]"):
        m.compile("adam", {"reg": "mse", "clss": "mse"})
    with pytest.raises(ValueError, match="loss_weights.*name no output"):
        m.compile("adam", "mse", loss_weights={"nope": 1.0})
    with pytest.raises(ValueError, match="metrics.*name no output"):
        m.compile("adam", "mse", metrics={"nope": ["mae"]})
    with pytest.raises(ValueError, match="no output has a loss"):
        m.compile("adam", [None, None])
    m.compile("adam", ["mse", "sparse_categorical_crossentropy"])
    with pytest.raises(ValueError, match=r"2 outputs \['reg', 'cls'\]; pass y as a list"):
        m.fit(x, yr, verbose=0)
    with pytest.raises(ValueError, match="y is a list of 3"):
        m.fit(x, [yr, yc, yc], verbose=0)
    with pytest.raises(ValueError, match=r"\['dense'\] that name no output"):
        m.fit(x, {"reg": yr, "dense": yc}, verbose=0)
    with pytest.raises(ValueError, match="no target for output 'cls'"):
        m.evaluate(x, {"reg": yr}, verbose=0)
    with pytest.raises(ValueError, match=r"same number of samples.*y\['cls'\] has 19"):
        m.fit(x, [yr, yc[:19]], verbose=0)
    with pytest.raises(ValueError, match=r"same number of samples.*sample_weight\['reg'\] has 5"):
        m.fit(x, [yr, yc], sample_weight={"reg": np.ones(5)}, verbose=0)
    with pytest.raises(ValueError, match="validation y is a list of 1"):
        m.fit(x, [yr, yc], validation_data=(x, [yr]), verbose=0)
    with pytest.raises(ValueError, match="class_weight is only supported for models with a single output"):
        m.fit(x, [yr, yc], class_weight={0: 1.0}, verbose=0)


def test_metric_objects_start_from_zero_in_evaluate():
    """A Metric object given to compile is reset by evaluate (fit's validation too), so a
    validation metric does not mix in the epoch's training batches."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = x.sum(1, keepdims=True) * 3
    ember.set_seed(0)
    m = ember.Sequential([Dense(1, input_shape=(3,))])
    m.compile("sgd", "mse", metrics=[ember.metrics.MeanSquaredError()])
    h = m.fit(x[:30], y[:30], validation_data=(x[30:], y[30:]), epochs=1, verbose=0)
    np.testing.assert_allclose(h.history["val_mean_squared_error"], h.history["val_loss"], rtol=1e-5)
    loss, mse = m.evaluate(x[30:], y[30:], verbose=0)
    np.testing.assert_allclose(mse, loss, rtol=1e-5)
