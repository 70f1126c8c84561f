"""Keras 3 layer / model API: add_loss and model.losses, add_weight's signature and
constraints, custom Metric subclasses, layer.input / output / shapes on functional graphs,
optimizer.apply, Tensor.__format__."""
import numpy as np
import pytest

import ember
from ember import layers
from ember.testing import gradcheck


# -- add_loss ------------------------------------------------------------------------------

class ActivityPenalty(layers.Layer):
    """Keras' guide example: adds rate * mean(x^2) of its input as a loss."""

    def __init__(self, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * (inputs * inputs).mean())
        return inputs


class Block(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(3, kernel_regularizer="l2")
        self.penalty = ActivityPenalty(0.5)

    def call(self, inputs):
        return self.penalty(self.dense(inputs))


def test_add_loss_collected_from_nested_layers_and_reset_each_call():
    block = Block()
    x = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    y = block(x)
    # the nested layer's add_loss, then the nested Dense's kernel penalty
    assert len(block.losses) == 2
    np.testing.assert_allclose(float(block.losses[0]), 0.5 * np.mean(y.numpy() ** 2), rtol=1e-6)
    kernel = block.dense.kernel.numpy()
    np.testing.assert_allclose(float(block.losses[1]), 0.01 * np.sum(kernel ** 2), rtol=1e-5)
    block(x)
    block(x)
    assert len(block.losses) == 2  # the outermost call cleared the previous call's losses
    assert len(block.penalty.losses) == 1


def test_add_loss_is_differentiable_float64():
    def f(x):
        layer = ActivityPenalty(0.3, dtype="float64")
        layer(x)
        return layer.losses[0]
    gradcheck(f, [np.random.default_rng(1).standard_normal((3, 5))])


def test_add_loss_in_functional_model_and_fit_uses_it():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = rng.standard_normal((64, 1)).astype(np.float32)
    inp = ember.Input(shape=(4,))
    h = ActivityPenalty(1.0)(layers.Dense(8)(inp))
    model = ember.Model(inp, layers.Dense(1)(h))
    assert model.losses == []  # symbolic probing adds no loss
    model.compile(optimizer="sgd", loss="mse")
    ev = model.evaluate(x, y, verbose=0)
    pred = model.predict(x, verbose=0)
    hid = model.layers[2](model.layers[1](x)).numpy()
    want = np.mean((pred - y) ** 2) + np.mean(hid ** 2)
    np.testing.assert_allclose(ev, want, rtol=1e-4)
    assert len(model.losses) == 1
    # training drives the activity penalty down
    before = float(np.mean(hid ** 2))
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    after = float(np.mean(model.layers[2](model.layers[1](x)).numpy() ** 2))
    assert after < before


class VAEish(ember.Model):
    """A subclassed model calling add_loss on itself (the VAE idiom)."""

    def __init__(self):
        super().__init__()
        self.enc = layers.Dense(3)
        self.dec = layers.Dense(2)

    def call(self, inputs, training=False):
        z = self.enc(inputs)
        self.add_loss(0.1 * (z * z).sum(axis=1).mean())
        return self.dec(z)


def test_model_add_loss_on_itself_enters_training_loss():
    x = np.random.default_rng(2).standard_normal((32, 2)).astype(np.float32)
    m = VAEish()
    m.compile(optimizer="adam", loss="mse")
    ev = m.evaluate(x, x, verbose=0)
    z = m.enc(x).numpy()
    want = np.mean((m.predict(x, verbose=0) - x) ** 2) + 0.1 * np.mean(np.sum(z ** 2, axis=1))
    np.testing.assert_allclose(ev, want, rtol=1e-4)
    assert len(m.losses) == 1


def test_add_loss_rejects_non_tensors():
    layer = layers.Dense(2)
    with pytest.raises(ValueError, match="add_loss on layer .* Received: str"):
        layer.add_loss("nope")


# -- add_weight --------------------------------------------------------------------------

class Linear(layers.Layer):
    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                 trainable=True, name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

    def call(self, inputs):
        return inputs @ self.w + self.b


def test_add_weight_keras3_keywords():
    layer = Linear(3)
    out = layer(np.ones((2, 4), np.float32))
    assert out.shape == (2, 3)
    assert layer.w.shape == (4, 3) and layer.b.shape == (3,) and layer.count.shape == ()
    assert [w.name for w in layer.trainable_weights] == [f"{layer.name}/w", f"{layer.name}/variable_1"]
    assert layer.non_trainable_weights == [layer.count]
    np.testing.assert_array_equal(layer.b.numpy(), 0)


def test_add_weight_positional_forms_and_defaults():
    layer = layers.Layer(name="host")
    a = layer.add_weight((2, 3), "ones", "float64")             # Keras 3: shape, initializer, dtype
    b = layer.add_weight("legacy", (2,), "zeros", False)        # ember's older name-first form
    c = layer.add_weight()                                      # shape () with glorot_uniform
    assert a.dtype == np.float64 and a.shape == (2, 3) and float(a.numpy().sum()) == 6
    assert b.name == "host/legacy" and not b.trainable
    assert c.shape == ()
    d = layer.add_weight(shape=(2,), dtype="int32")             # integer weights default to zeros
    np.testing.assert_array_equal(d.numpy(), [0, 0])
    e = layer.add_weight(shape=(1,), autocast=False, aggregation="mean")  # Keras options with no effect here
    assert e.shape == (1,)
    with pytest.raises(TypeError, match="add_weight on layer 'host': unexpected keyword"):
        layer.add_weight(shape=(2,), initialiser="zeros")
    with pytest.raises(TypeError, match="at most 3 positional"):
        layer.add_weight((2,), "zeros", "float32", True)
    with pytest.raises(TypeError, match="shape given both"):
        layer.add_weight((2,), shape=(3,))


def test_add_weight_constraint_applied_after_each_step():
    layer = layers.Layer()
    w = layer.add_weight(shape=(4,), initializer="ones", constraint=lambda v: np.clip(v.numpy(), 0.0, None))
    opt = ember.optimizers.SGD(learning_rate=1.0)
    opt.apply([ember.Tensor(np.array([2.0, -1.0, 0.5, 3.0], np.float32))], [w])
    np.testing.assert_allclose(w.numpy(), [0.0, 2.0, 0.5, 0.0])
    with pytest.raises(TypeError, match="constraint .* callable"):
        layer.add_weight(shape=(1,), constraint="non_neg")


# -- optimizer.apply ---------------------------------------------------------------------

def test_optimizer_apply_matches_apply_gradients():
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    g = rng.standard_normal((3, 2)).astype(np.float32)
    a, b = ember.Tensor(w0.copy(), requires_grad=True), ember.Tensor(w0.copy(), requires_grad=True)
    oa, ob = ember.optimizers.Adam(0.1), ember.optimizers.Adam(0.1)
    for _ in range(3):
        oa.apply([ember.Tensor(g)], [a])
        ob.apply_gradients([(ember.Tensor(g), b)])
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert oa.iterations == 3
    with pytest.raises(ValueError, match="one gradient per variable. Received: 2 gradients for 1"):
        oa.apply([g, g], [a])


# -- Tensor.__format__ -------------------------------------------------------------------

def test_tensor_format_like_numpy():
    t = ember.Tensor(np.float32(1.23456))
    assert f"{t:.2f}" == "1.23" == f"{np.float32(1.23456):.2f}"
    assert f"loss: {t:.3e}" == f"loss: {np.array(1.23456, np.float32):.3e}"
    assert f"{t}" == str(t)
    with pytest.raises(TypeError, match=r"shape \(1,\)"):
        f"{ember.Tensor([1.5]):.2f}"
    with pytest.raises(TypeError):  # NumPy refuses too
        f"{np.array([1.5]):.2f}"


# -- custom metrics ----------------------------------------------------------------------

class CategoricalTruePositives(ember.metrics.Metric):
    """Keras' guide metric, written the Keras 3 way."""

    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.argmax(np.asarray(y_pred), axis=1).reshape(-1, 1)
        values = (np.asarray(y_true).astype("int32") == y_pred.astype("int32")).astype("float32")
        if sample_weight is not None:
            values = values * np.asarray(sample_weight, "float32").reshape(-1, 1)
        self.true_positives.assign_add(values.sum())

    def result(self):
        return self.true_positives

    def reset_state(self):
        self.true_positives.assign(0.0)


class MeanOfTwo(ember.metrics.Metric):
    """Keras' default reset_state zeroes every variable."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.total = self.add_weight(shape=(2,), initializer="ones", name="total")
        self.count = self.add_variable((), "zeros", name="count")

    def update_state(self, values):
        self.total.assign_add(np.asarray(values, np.float32))
        self.count.assign_add(1.0)

    def result(self):
        return self.total / self.count


def test_custom_metric_state_api():
    m = CategoricalTruePositives()
    assert float(m.result()) == 0.0
    m.update_state(np.array([[0], [1], [1]]), np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]))
    assert float(m.result()) == 2.0
    m.update_state(np.array([[1]]), np.array([[0.1, 0.9]]), sample_weight=np.array([0.5]))
    assert float(m.result()) == 2.5
    m.reset_state()
    assert float(m.result()) == 0.0
    assert m.variables == [m.true_positives]

    two = MeanOfTwo()
    two.update_state([1.0, 3.0])
    np.testing.assert_allclose(two.result().numpy(), [2.0, 4.0])  # ones + values, one update
    two.reset_state()
    np.testing.assert_array_equal(two.total.numpy(), [0.0, 0.0])
    two.total.assign_sub([1.0, 1.0])
    np.testing.assert_array_equal(two.total.numpy(), [-1.0, -1.0])


def test_custom_metric_in_compile_fit_and_evaluate_logs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.int64)
    model = ember.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    model.compile(optimizer="adam", loss=ember.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[CategoricalTruePositives()])
    hist = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    vals = hist.history["categorical_true_positives"]
    assert len(vals) == 2 and all(isinstance(v, float) for v in vals)
    out = model.evaluate(x, y, verbose=0, return_dict=True)
    want = float(np.sum(np.argmax(model.predict(x, verbose=0), axis=1) == y[:, 0]))
    assert out["categorical_true_positives"] == want


# -- layer.input / layer.output ------------------------------------------------------------

def test_feature_extraction_from_layer_outputs():
    inp = ember.Input(shape=(5,), name="x")
    d1 = layers.Dense(4, activation="relu", name="d1")
    d2 = layers.Dense(2, name="d2")
    model = ember.Model(inp, d2(d1(inp)))
    assert model.get_layer("d1") is d1
    assert d1.input is inp and d1.output.shape == (None, 4)
    assert d1.input_shape == (None, 5) and d1.output_shape == (None, 4)
    assert model.layers[0].output is inp and model.layers[0].output_shape == (None, 5)
    feats = ember.Model(model.inputs, [l.output for l in model.layers])
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    outs = feats.predict(x, verbose=0)
    np.testing.assert_allclose(outs[2], model.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(outs[1], d1(x).numpy(), rtol=1e-6)
    with pytest.raises(AttributeError, match="never been called"):
        layers.Dense(1).output


def test_sequential_layers_outputs_for_feature_extraction():
    seq = ember.Sequential([layers.Input(shape=(3,)), layers.Dense(4), layers.Dense(1)])
    feats = ember.Model(seq.inputs, [l.output for l in seq.layers])
    x = np.ones((2, 3), np.float32)
    a, b = feats.predict(x, verbose=0)
    np.testing.assert_allclose(b, seq.predict(x, verbose=0), rtol=1e-6)
    seq2 = ember.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(1)])
    assert seq2.layers[1].input_shape == (None, 4) and seq2.layers[1].output_shape == (None, 1)
    ember.Model(seq2.inputs, seq2.layers[0].output)


def test_functional_model_input_output_and_assignable_attributes():
    a, b = ember.Input(shape=(3,)), ember.Input(shape=(2,))
    out = layers.concatenate([layers.Dense(4)(a), b])
    model = ember.Model([a, b], out)
    assert model.input == [a, b] and model.output is out
    assert model.input_shape == [(None, 3), (None, 2)] and model.output_shape == (None, 6)
    single = ember.Model(a, {"y": layers.Dense(1)(a)})
    assert single.input is a and single.output_shape == {"y": (None, 1)}

    class Custom(layers.Layer):  # Keras 3 layers have no input_shape of their own: a layer may set it
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.output_shape = (None, 7)

        def call(self, inputs):
            return inputs
    assert Custom().output_shape == (None, 7)


def test_keras_custom_loop_idiom_sum_of_model_losses_with_optimizer_apply():
    """The custom-training-loop guide: loss += sum(model.losses); optimizer.apply(grads, w)."""
    inp = ember.Input(shape=(6,))
    first = layers.Dense(5, activation="relu")
    x = ActivityPenalty(0.5)(first(inp))
    model = ember.Model(inp, layers.Dense(3)(x))
    loss_fn = ember.losses.SparseCategoricalCrossentropy(from_logits=True)
    rng = np.random.default_rng(0)
    xb, yb = rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, 8)
    with ember.GradientTape() as tape:
        logits = model(xb, training=True)
        loss = loss_fn(yb, logits)
        loss += sum(model.losses)
    grads = tape.gradient(loss, model.trainable_weights)
    with ember.GradientTape() as tape2:
        plain = loss_fn(yb, model(xb, training=True))
    grads_plain = tape2.gradient(plain, model.trainable_weights)
    # the penalty on the first layer's output changes the first kernel's gradient only there
    assert not np.allclose(grads[0].numpy(), grads_plain[0].numpy())
    np.testing.assert_allclose(grads[-1].numpy(), grads_plain[-1].numpy(), rtol=1e-5, atol=1e-7)
    before = [w.numpy().copy() for w in model.trainable_weights]
    opt = ember.optimizers.SGD(learning_rate=0.1)
    opt.apply(grads, model.trainable_weights)
    for w, b, g in zip(model.trainable_weights, before, grads):
        np.testing.assert_allclose(w.numpy(), b - 0.1 * g.numpy(), rtol=1e-5, atol=1e-7)
    assert f"{loss:.3f}" == f"{float(loss):.3f}"


def test_metric_add_weight_keras2_name_first():
    class Count(ember.metrics.Metric):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.n = self.add_weight("n", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.n.assign_add(len(y_true))

        def result(self):
            return self.n

    m = Count(name="count")
    m.update_state(np.zeros(5), np.zeros(5))
    assert m.n.shape == () and m.n.name == "count/n" and float(m.result()) == 5.0


def test_activity_regularizer_adds_a_loss_per_call_and_round_trips(tmp_path):
    inp = ember.Input(shape=(3,))
    model = ember.Model(inp, layers.Dense(2, activity_regularizer=ember.regularizers.L1(0.1), name="act")(inp))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    y = model(x).numpy()
    assert len(model.losses) == 1
    np.testing.assert_allclose(float(model.losses[0]), 0.1 * np.abs(y).sum() / 5, rtol=1e-5)
    model.save(str(tmp_path / "a.npz"))
    back = ember.models.load_model(str(tmp_path / "a.npz"))
    back(x)
    np.testing.assert_allclose(float(back.losses[0]), float(model.losses[0]), rtol=1e-6)
    gradcheck(lambda t: _act_loss(t), [np.random.default_rng(1).standard_normal((3, 4))])


def _act_loss(t):
    layer = layers.Activation("tanh", activity_regularizer="l2", dtype="float64")
    layer(t)
    return layer.losses[0]


def test_frozen_layers_add_no_weight_penalty_like_keras():
    """Keras 3 regularizes trainable weights only (Layer._get_regularization_losses)."""
    inp = ember.Input(shape=(3,))
    base = layers.Dense(4, kernel_regularizer="l2")
    head = layers.Dense(1, kernel_regularizer="l1")
    model = ember.Model(inp, head(base(inp)))
    assert len(model.losses) == 2
    base.trainable = False
    assert len(model.losses) == 1
    np.testing.assert_allclose(float(model.losses[0]), 0.01 * np.abs(head.kernel.numpy()).sum(), rtol=1e-6)
    model.trainable = False
    assert model.losses == []


def test_tensor_equality_is_elementwise_and_hash_stays_identity():
    a = ember.Tensor(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal((a == np.array([1.0, 0.0, 3.0])).numpy(), [True, False, True])
    np.testing.assert_array_equal((a != 2.0).numpy(), [True, False, True])
    assert (a == ember.Tensor(np.array([1.0, 2.0, 3.0]))).numpy().all()
    assert (a == None) is False and (a != "x") is True  # noqa: E711 (not comparable: by identity)
    b = ember.Tensor(np.array([1.0, 2.0, 3.0]))
    assert a in [a] and b not in {a} and [a, b] == [a, b]  # containers find tensors by identity
    layer = layers.Layer()
    w = layer.add_weight(shape=(2,), constraint=lambda v: v.numpy() * 0)  # the constraint registry too
    ember.optimizers.SGD(0.1).apply([np.ones(2, np.float32)], [w])
    np.testing.assert_array_equal(w.numpy(), [0.0, 0.0])
