"""Keras 3's Trainer seam: fit / evaluate / predict call train_step / test_step /
predict_step (an override is honoured), compute_loss / compute_metrics / metrics, compile
with only an optimizer, fit(x) without y, dict inputs by Input name, Keras keywords only,
and the from_logits semantics."""
import warnings

import numpy as np
import pytest

import ember
import ember as keras
from ember import layers


def _data(n=64, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ np.arange(1, d + 1, dtype=np.float32)[:, None] * 0.1).astype(np.float32)
    return x, y


def _mlp(d=4):
    inputs = keras.Input(shape=(d,))
    return inputs, layers.Dense(1)(layers.Dense(8, activation="relu")(inputs))


class Raising(keras.Model):
    def train_step(self, data):
        raise RuntimeError("user train_step ran")


def test_overridden_train_step_is_called_and_raises_out_of_fit():
    inputs, outputs = _mlp()
    m = Raising(inputs, outputs)
    m.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    with pytest.raises(RuntimeError, match="user train_step ran"):
        m.fit(x, y, epochs=1, verbose=0)


class TapeModel(keras.Model):
    """The TensorFlow version of Keras' "Customizing what happens in fit()" guide."""

    def train_step(self, data):
        x, y = data
        with keras.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply(gradients, trainable_vars)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_gradient_tape_train_step_learns_and_logs_compiled_metrics():
    ember.set_seed(0)
    inputs, outputs = _mlp()
    m = TapeModel(inputs, outputs)
    m.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    assert m.metrics_names == ["loss", "compile_metrics"]
    x, y = _data()
    h = m.fit(x, y, epochs=15, batch_size=16, verbose=0, validation_data=(x, y))
    assert set(h.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    res = m.evaluate(x, y, verbose=0, return_dict=True)
    assert set(res) == {"loss", "mae"}
    assert abs(res["loss"] - h.history["val_loss"][-1]) < 0.05


def test_default_steps_give_the_same_numbers_as_a_custom_copy():
    """A train_step that only calls super() trains as the built-in one, bit for bit."""
    class Super(keras.Model):
        def train_step(self, data):
            return super().train_step(data)

    x, y = _data()
    runs = []
    for cls in (keras.Model, Super):
        ember.set_seed(3)
        ember.utils.clear_session()
        inputs, outputs = _mlp()
        m = cls(inputs, outputs)
        m.compile(optimizer="adam", loss="mse", metrics=["mae"])
        runs.append(m.fit(x, y, epochs=2, batch_size=10, verbose=0).history)
    assert runs[0] == runs[1]


class OwnLoss(keras.Model):
    """Compiled with only an optimizer: the loss and its tracker are the model's own."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.dense = layers.Dense(1)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

    def call(self, x, training=False):
        return self.dense(x)

    def train_step(self, data):
        x, y = data
        with keras.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = keras.ops.mean(keras.ops.square(y_pred - y))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


def test_compile_with_only_an_optimizer_and_attribute_metrics():
    ember.set_seed(0)
    m = OwnLoss()
    m.compile(optimizer=keras.optimizers.Adam(0.02))
    x, y = _data()
    h = m.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert set(h.history) == {"loss", "mae"}
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]


def test_attribute_trackers_are_in_metrics_and_reset_each_epoch():
    class Counting(keras.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.dense = layers.Dense(1)
            self.seen = keras.metrics.Sum(name="seen")

        def call(self, x, training=False):
            return self.dense(x)

        def train_step(self, data):
            self.seen.update_state(np.ones(len(data[0])))
            return {"seen": self.seen.result()}

    m = Counting()
    m.compile(optimizer="sgd")
    assert [mt.name for mt in m.metrics] == ["seen"]
    x, y = _data(n=30)
    h = m.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert h.history["seen"] == [30.0, 30.0, 30.0]  # reset at each epoch, as Keras


def test_fit_without_y():
    class AutoEncoder(keras.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.dense = layers.Dense(4)

        def call(self, x, training=False):
            return self.dense(x)

        def train_step(self, data):
            x = data
            with keras.GradientTape() as tape:
                loss = self.compute_loss(y=x, y_pred=self(x, training=True))
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
            return {"loss": loss}

    ember.set_seed(1)
    m = AutoEncoder()
    m.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    x, _ = _data()
    h = m.fit(x, epochs=30, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]


def test_predict_step_override():
    class Doubled(keras.Model):
        def predict_step(self, data):
            return self(data, training=False) * 2.0

    inputs, outputs = _mlp()
    m = Doubled(inputs, outputs)
    x, _ = _data(n=10)
    np.testing.assert_allclose(m.predict(x, batch_size=3), 2 * keras.Model(inputs, outputs).predict(x), rtol=1e-6)


def test_compute_metrics_and_reset_metrics():
    inputs, outputs = _mlp()
    m = keras.Model(inputs, outputs)
    m.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x, y = _data(n=8)
    res = m.compute_metrics(x, y, m(x), None)
    assert set(res) == {"loss", "mae"}
    np.testing.assert_allclose(res["mae"], np.mean(np.abs(m.predict(x) - y)), rtol=1e-5)
    m.reset_metrics()
    assert m.get_metrics_result()["mae"] == 0.0


def test_dict_inputs_are_matched_by_input_name():
    a = keras.Input(shape=(3,), name="a")
    b = keras.Input(shape=(3,), name="b")
    m = keras.Model([a, b], layers.Subtract()([a, b]))
    xa, xb = np.ones((5, 3), np.float32), np.zeros((5, 3), np.float32)
    np.testing.assert_array_equal(m.predict({"b": xb, "a": xa}), xa - xb)
    np.testing.assert_array_equal(m({"b": xb, "a": xa}).numpy(), xa - xb)
    with pytest.raises(ValueError, match=r"input names \['a', 'b'\].*missing: \['b'\]"):
        m.predict({"a": xa})
    with pytest.raises(ValueError, match=r"unknown: \['c'\]"):
        m.predict({"a": xa, "b": xb, "c": xb})
    m.compile(optimizer="sgd", loss="mse")
    assert m.evaluate({"b": xb, "a": xa}, xa - xb, verbose=0) == 0.0


@pytest.mark.parametrize("call, kw", [("compile", {"optimiser": "sgd"}), ("fit", {"epoch": 2}),
                                      ("evaluate", {"batchsize": 4}), ("predict", {"verbos": 0})])
def test_misspelled_keywords_raise_type_error(call, kw):
    inputs, outputs = _mlp()
    m = keras.Model(inputs, outputs)
    m.compile(optimizer="sgd", loss="mse")
    x, y = _data(n=8)
    args = {"compile": (), "fit": (x, y), "evaluate": (x, y), "predict": (x,)}[call]
    with pytest.raises(TypeError, match=list(kw)[0]):
        getattr(m, call)(*args, **kw)


def test_keras_keywords_are_accepted():
    inputs, outputs = _mlp()
    m = keras.Model(inputs, outputs)
    m.compile(optimizer="sgd", loss="mse", jit_compile=False, steps_per_execution=1, auto_scale_loss=True,
              run_eagerly=True, weighted_metrics=["mae"])
    x, y = _data(n=8)
    m.fit(x, y, verbose=0, workers=2, use_multiprocessing=False, max_queue_size=4, validation_steps=None)
    assert "mae" in m.evaluate(x, y, verbose=0, workers=1, return_dict=True)
    m.predict(x, workers=1, use_multiprocessing=False, max_queue_size=3)


def test_from_logits_on_a_sigmoid_output_uses_the_logits_and_warns():
    """The classic GradientTape XOR script: Dense(1, sigmoid) with BinaryCrossentropy(
    from_logits=True) learns on TensorFlow, where the loss uses the pre-sigmoid logits."""
    ember.set_seed(0)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(8, activation="tanh"),
                              layers.Dense(1, activation="sigmoid")])
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
    opt = keras.optimizers.Adam(0.05)
    with pytest.warns(UserWarning, match="from_logits=True.*Sigmoid activation"):
        with keras.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(300):
            with keras.GradientTape() as tape:
                logits_out = model(x, training=True)
                loss = loss_fn(y, logits_out)
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
    assert float(loss) < 0.1
    np.testing.assert_array_equal(np.round(model.predict(x)), y)
    # the value is that of the logits, not of sigmoid(sigmoid(z)): as without from_logits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model(x)
        a = float(loss_fn(y, out))
    assert abs(a - float(keras.losses.BinaryCrossentropy()(y, out))) < 1e-6


def test_from_logits_on_a_softmax_output_uses_the_logits():
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    lab = np.array([0, 1, 2, 0, 1, 2])
    dense = layers.Dense(3, activation="softmax")
    out = dense(x)
    with pytest.warns(UserWarning, match="Softmax activation"):
        a = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(lab, out))
    b = float(keras.losses.SparseCategoricalCrossentropy()(lab, out))
    assert abs(a - b) < 1e-6
    with pytest.warns(UserWarning, match="Softmax activation"):
        c = float(keras.losses.CategoricalCrossentropy(from_logits=True)(np.eye(3)[lab], out))
    assert abs(c - b) < 1e-6


def test_dict_inputs_of_a_model_built_on_a_dict_use_its_keys():
    a = keras.Input(shape=(2,), name="in_a")
    b = keras.Input(shape=(2,), name="in_b")
    m = keras.Model({"first": a, "second": b}, layers.Subtract()([a, b]))
    xa, xb = np.full((3, 2), 5.0, np.float32), np.ones((3, 2), np.float32)
    np.testing.assert_array_equal(m.predict({"second": xb, "first": xa}), xa - xb)
    with pytest.raises(ValueError, match=r"\['first', 'second'\]"):
        m.predict({"in_a": xa, "in_b": xb})
