"""Dense (fused op), activations, Dropout, Flatten, InputLayer: gradients, shapes, errors."""
import numpy as np
import pytest

import _refs as refs

import ember
from ember.layers import Activation, Dense, Dropout, Flatten, InputLayer, LeakyReLU, ReLU, Softmax
from ember.ops.dense import dense
from ember.testing import check_op, gradcheck

FUSED = ["linear", "relu", "sigmoid", "tanh", "gelu", "leaky_relu"]


_ref_act = refs.activation


@pytest.mark.parametrize("act", FUSED + ["softmax", "elu"])
@pytest.mark.parametrize("xshape", [(5, 3), (1, 1), (2, 3, 7)])
def test_dense_op_forward_and_gradcheck(act, xshape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xshape)
    w = rng.standard_normal((xshape[-1], 4))
    b = rng.standard_normal(4) * 0.1
    # keep away from the relu kinks so finite differences are valid
    z = x @ w + b
    if act in ("relu", "leaky_relu"):
        assert np.min(np.abs(z)) > 1e-4
    check_op(lambda x, w, b: dense(x, w, b, act), lambda x, w, b: _ref_act(x @ w + b, act), [x, w, b])


@pytest.mark.parametrize("act", FUSED)
def test_dense_op_fused_sigmoid_and_no_bias(act):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((6, 5)), rng.standard_normal((5, 3))
    gradcheck(lambda x, w: dense(x, w, None, act, fuse_sigmoid=True), [x, w])


def test_dense_op_broadcast_gradient_and_noncontiguous_input():
    rng = np.random.default_rng(2)
    big = rng.standard_normal((8, 10))
    x = big[::2, ::2]  # non-contiguous
    w = rng.standard_normal((5, 3))
    b = rng.standard_normal(3)
    gradcheck(lambda x, w, b: dense(x, w, b, "tanh").mean(), [x, w, b])  # mean -> broadcast (zero-stride) grad
    gradcheck(lambda x, w, b: dense(x.T, w.T, b, "gelu").sum(), [big[:5, :7], rng.standard_normal((3, 5)), b])


def test_dense_layer_nd_input_and_shapes():
    layer = Dense(4, activation="relu")
    y = layer(np.ones((2, 3, 5), np.float32))
    assert y.shape == (2, 3, 4) and y.dtype == np.float32
    assert layer.kernel.shape == (5, 4) and layer.bias.shape == (4,)
    assert layer.compute_output_shape((None, 3, 5)) == (None, 3, 4)
    assert len(layer.trainable_variables) == 2


def test_dense_wrong_shape_error_names_layer_and_shapes():
    layer = Dense(3, name="my_dense")
    layer(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError) as e:
        layer(np.zeros((2, 5), np.float32))
    msg = str(e.value)
    assert "my_dense" in msg and "4" in msg and "(2, 5)" in msg
    with pytest.raises(ValueError, match="units"):
        Dense(0)
    with pytest.raises(ValueError, match="Unknown activation"):
        Dense(3, activation="nope")


def test_dense_no_bias_and_regularizer():
    layer = Dense(2, use_bias=False, kernel_regularizer="l2")
    layer(np.zeros((1, 3), np.float32))
    assert layer.bias is None and len(layer.weights) == 1
    (pen,) = layer.losses
    np.testing.assert_allclose(pen.item(), 0.01 * np.sum(layer.kernel.numpy() ** 2), rtol=1e-5)


def test_activation_layers():
    x = np.array([[-2.0, -0.5, 0.5, 3.0]], np.float32)
    np.testing.assert_allclose(Activation("relu")(x).numpy(), np.maximum(x, 0))
    np.testing.assert_allclose(Activation("linear")(x).numpy(), x)
    np.testing.assert_allclose(ReLU(max_value=1.0)(x).numpy(), np.clip(x, 0, 1))
    np.testing.assert_allclose(LeakyReLU(0.1)(x).numpy(), np.where(x > 0, x, 0.1 * x), rtol=1e-6)
    s = Softmax()(x).numpy()
    np.testing.assert_allclose(s.sum(-1), 1, rtol=1e-6)
    for name in ["sigmoid", "tanh", "gelu", "softmax", "elu", "selu", "softplus", "swish"]:
        assert Activation(name)(x).shape == x.shape


def test_dropout_training_and_inference():
    ember.set_seed(0)
    x = np.ones((200, 50), np.float32)
    d = Dropout(0.3)
    np.testing.assert_array_equal(d(x).numpy(), x)  # inference: identity
    y = d(x, training=True).numpy()
    kept = y != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    y2 = Dropout(0.5, noise_shape=(None, 1))(x, training=True).numpy()
    assert np.all((y2 == 0).all(1) | (y2 != 0).all(1))  # one mask value per row
    a = Dropout(0.5, seed=3)(x, training=True).numpy()
    b = Dropout(0.5, seed=3)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="rate"):
        Dropout(1.0)
    # gradient flows only through kept units
    t = ember.Tensor(x, requires_grad=True)
    out = Dropout(0.5, seed=1)(t, training=True)
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), out.numpy())


def test_flatten_and_input_layer():
    y = Flatten()(np.zeros((3, 2, 4, 5), np.float32))
    assert y.shape == (3, 40)
    assert Flatten().compute_output_shape((None, 2, 4)) == (None, 8)
    il = InputLayer(shape=(4,))
    assert il.output.shape == (None, 4)
    inp = ember.layers.Input(shape=(7,))
    assert inp.shape == (None, 7)


def test_dense_accepts_float64_and_lists():
    layer = Dense(2)
    assert layer(ember.Tensor([[1.0, 2.0, 3.0]])).shape == (1, 2)
    assert layer(np.ones((1, 3), np.float64)).dtype == np.float32


# --- weight regularizers on every layer that has them (Keras arguments) and their configs ---

def _penalty(layer):
    return sum(float(p.data) for p in layer.losses)


def test_conv_and_embedding_regularizers_add_exact_penalties_and_gradients():
    from ember.layers import Conv1D, Conv2D, Embedding
    rng = np.random.default_rng(3)
    c2 = Conv2D(4, 3, kernel_regularizer=ember.regularizers.L2(0.01), bias_regularizer="l1", bias_initializer="ones")
    c2(rng.standard_normal((2, 6, 6, 3)).astype(np.float32))
    k = c2.kernel.data.astype(np.float64)
    assert len(c2.losses) == 2
    assert np.isclose(_penalty(c2), 0.01 * np.sum(k * k) + 0.01 * 4.0, rtol=1e-5)
    # d penalty / d kernel = 2 * l2 * kernel
    g = ember.grad(sum(c2.losses[:1], ember.Tensor(np.float32(0))), [c2.kernel])[0]
    assert np.allclose(g, 2 * 0.01 * c2.kernel.data, rtol=1e-6)
    c1 = Conv1D(3, 2, kernel_regularizer=ember.regularizers.L1L2(l1=0.1, l2=0.2), use_bias=False)
    c1(rng.standard_normal((2, 5, 4)).astype(np.float32))
    k1 = c1.kernel.data.astype(np.float64)
    assert np.isclose(_penalty(c1), 0.1 * np.abs(k1).sum() + 0.2 * (k1 * k1).sum(), rtol=1e-5)
    emb = Embedding(10, 3, embeddings_regularizer="l2")
    emb(np.array([[1, 2]]))
    e = emb.embeddings.data.astype(np.float64)
    assert np.isclose(_penalty(emb), 0.01 * (e * e).sum(), rtol=1e-5)
    assert Conv2D(2, 3).losses == [] and Embedding(4, 2).losses == []


def test_fit_adds_layer_regularization_to_the_loss():
    from ember.layers import Conv2D, Flatten
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 5, 5, 1)).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    ember.set_seed(0)
    m = ember.Sequential([Conv2D(2, 3, kernel_regularizer=ember.regularizers.L2(0.5), input_shape=(5, 5, 1)),
                          Flatten(), Dense(1)])
    m.compile("sgd", "mse")
    penalty = 0.5 * float(np.sum(m.layers[0].kernel.data.astype(np.float64) ** 2))
    data_loss = float(np.mean((m.predict(x, verbose=0) - y) ** 2))
    assert np.isclose(m.test_on_batch(x, y), data_loss + penalty, rtol=1e-5)


def test_initializer_and_regularizer_configs_round_trip():
    from ember.layers import Conv2D, Embedding
    layers = [Dense(3, kernel_initializer=ember.initializers.RandomNormal(0.5, 0.1), kernel_regularizer="l1_l2",
                    bias_regularizer=ember.regularizers.L2(0.3)),
              Conv2D(2, 3, kernel_initializer="he_normal", kernel_regularizer=ember.regularizers.L1(0.2)),
              Embedding(5, 2, embeddings_initializer=ember.initializers.Constant(0.25),
                        embeddings_regularizer=ember.regularizers.L2(0.02))]
    for layer in layers:
        cfg = layer.get_config()
        clone = type(layer).from_config(cfg)
        assert clone.get_config() == cfg
        for key in ("kernel_regularizer", "bias_regularizer", "embeddings_regularizer"):
            a, b = getattr(layer, key, None), getattr(clone, key, None)
            assert (a is None) == (b is None)
            if a is not None:
                assert (a.l1, a.l2) == (b.l1, b.l2)
    w = Dense(4, kernel_initializer=ember.initializers.RandomNormal(0.5, 0.1))
    w2 = Dense.from_config(w.get_config())
    x = np.ones((1, 200), np.float32)
    ember.set_seed(1)
    w(x)
    ember.set_seed(1)
    w2(x)
    assert np.array_equal(w.kernel.data, w2.kernel.data) and abs(float(w.kernel.data.mean()) - 0.5) < 0.05


def test_plain_callable_initializer_is_left_out_of_the_config_with_a_warning():
    layer = Dense(2, kernel_initializer=lambda shape, dtype="float32": np.ones(shape, dtype))
    with pytest.warns(RuntimeWarning, match="plain callable"):
        cfg = layer.get_config()
    assert "kernel_initializer" not in cfg and cfg["bias_initializer"] == {"class_name": "Zeros", "config": {}}
    with pytest.raises(ValueError, match="Unknown regularizer class"):
        Dense(2, kernel_regularizer={"class_name": "L3", "config": {}})
    with pytest.raises(ValueError, match="Unknown initializer class"):
        Dense(2, kernel_initializer={"class_name": "Nope", "config": {}})


def test_saved_model_keeps_its_regularizers(tmp_path):
    from ember.layers import Conv2D, Flatten
    m = ember.Sequential([Conv2D(2, 3, kernel_regularizer=ember.regularizers.L2(0.05), input_shape=(6, 6, 1)),
                          Flatten(), Dense(2, bias_regularizer="l1")])
    path = str(tmp_path / "reg.npz")
    m.save(path)
    back = ember.models.load_model(path)
    assert [float(p.data) for p in back.losses] == [float(p.data) for p in m.losses]
    assert len(back.losses) == 2
