"""Masking, the merge layers (Minimum, Dot and Keras' lowercase functions) and symbolic
shapes that keep None dimensions."""
import numpy as np
import pytest

import ember
from ember import layers
from ember.models import load_model
from ember.testing import check_op, gradcheck


def _padded(rng, B=3, T=7, F=5):
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    x[0, 4:] = 0.0
    x[2, :2] = 0.0
    x[1, 3, :2] = 0.0  # only some features zero: not masked
    return x


def test_masking_output_and_mask_match_numpy():
    x = _padded(np.random.default_rng(0))
    out = layers.Masking(mask_value=0.0)(x)
    keep = np.any(x != 0.0, axis=-1)
    np.testing.assert_array_equal(out._mask, keep)
    np.testing.assert_array_equal(out.numpy(), x * keep[..., None])
    assert keep[1, 3] and not keep[0, 5] and not keep[2, 0]
    y = x.copy()
    y[1, 1] = -1.0
    out = layers.Masking(mask_value=-1.0)(y)
    assert not out._mask[1, 1] and out._mask.sum() == out._mask.size - 1


def test_masking_reference_and_gradcheck_float64():
    x = _padded(np.random.default_rng(1), B=3, T=4, F=3).astype(np.float64)
    ref = lambda a: a * np.any(a != 0, -1, keepdims=True)  # noqa: E731
    # (a masked step is a jump: finite differences there would unmask it, so the gradient
    # is checked where no step sits on the mask value, and the masked zeros separately)
    check_op(lambda t: layers.Masking(dtype="float64")(t), ref, [x], gradients=False)
    gradcheck(lambda t: layers.Masking(dtype="float64")(t), [x + 3.0])
    t = ember.Tensor(x, requires_grad=True)
    g = ember.autograd.grad(layers.Masking(dtype="float64")(t).sum(), [t])[0].numpy()
    np.testing.assert_array_equal(g, np.broadcast_to(np.any(x != 0, -1, keepdims=True), x.shape).astype(float))


@pytest.mark.parametrize("rnn", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_masking_makes_rnn_skip_padding(rnn):
    """A masked sequence gives the final state of its unpadded part (as Keras)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    x[0, 4:] = 0.0
    inp = ember.Input(shape=(None, 3))
    r = rnn(4)
    model = ember.Model(inp, r(layers.Masking()(inp)))
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got[0], r(x[:1, :4]).numpy()[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], r(x[1:]).numpy()[0], rtol=1e-5, atol=1e-6)


def test_masking_errors_and_round_trip(tmp_path):
    with pytest.raises(ValueError, match=r"Masking layer 'm'.*rank >= 2.*Received: shape=\(4,\)"):
        layers.Masking(name="m")(np.ones(4, np.float32))
    inp = ember.Input(shape=(None, 3))
    model = ember.Model(inp, layers.LSTM(2)(layers.Masking(mask_value=-1.0)(inp)))
    path = str(tmp_path / "m.npz")
    model.save(path)
    back = load_model(path)
    assert back.layers[1].mask_value == -1.0
    x = _padded(np.random.default_rng(3), T=5, F=3)
    x[0, 3:] = -1.0
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


# -- merges --------------------------------------------------------------------------------

def test_lowercase_merges_match_numpy():
    rng = np.random.default_rng(4)
    a, b, c = (rng.standard_normal((3, 5)).astype(np.float32) for _ in range(3))
    cases = [(layers.add, a + b + c), (layers.subtract, None), (layers.multiply, a * b * c),
             (layers.average, (a + b + c) / 3), (layers.maximum, np.maximum(np.maximum(a, b), c)),
             (layers.minimum, np.minimum(np.minimum(a, b), c)), (layers.concatenate, np.concatenate([a, b, c], -1))]
    for fn, want in cases:
        if fn is layers.subtract:
            np.testing.assert_allclose(fn([a, b]).numpy(), a - b, rtol=1e-6)
            continue
        np.testing.assert_allclose(fn([a, b, c]).numpy(), want, rtol=1e-6, err_msg=fn.__name__)
    x1, x2 = ember.Input(shape=(5,)), ember.Input(shape=(5,))
    model = ember.Model([x1, x2], [layers.minimum([x1, x2]), layers.dot([x1, x2], axes=1),
                                   layers.average([x1, x2])])
    mn, d, av = model.predict([a, b], verbose=0)
    np.testing.assert_allclose(mn, np.minimum(a, b))
    np.testing.assert_allclose(d, np.sum(a * b, axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(av, (a + b) / 2, rtol=1e-6)


def _dot_ref(x, y, axes, normalize=False):
    if normalize:
        x = x / np.sqrt(np.maximum(np.sum(x * x, axis=axes[0], keepdims=True), 1e-12))
        y = y / np.sqrt(np.maximum(np.sum(y * y, axis=axes[1], keepdims=True), 1e-12))
    out = np.stack([np.tensordot(x[i], y[i], axes=(axes[0] - 1, axes[1] - 1)) for i in range(x.shape[0])])
    return out[:, None] if out.ndim == 1 else out


@pytest.mark.parametrize("xs,ys,axes", [((3, 5), (3, 5), 1), ((2, 4, 3), (2, 6, 3), 2), ((2, 4, 3), (2, 4, 5), 1),
                                        ((2, 3, 5), (2, 5), (2, 1)), ((1, 3, 2, 4), (1, 4, 3), (3, 1))])
@pytest.mark.parametrize("normalize", [False, True])
def test_dot_matches_numpy_and_gradcheck(xs, ys, axes, normalize):
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal(xs), rng.standard_normal(ys)
    ax = axes if isinstance(axes, tuple) else (axes, axes)
    check_op(lambda a, b: layers.Dot(axes=axes, normalize=normalize)([a, b]),
             lambda a, b: _dot_ref(a, b, ax, normalize), [x, y], rtol=1e-5, atol=1e-6)


def test_dot_errors_and_round_trip(tmp_path):
    with pytest.raises(ValueError, match=r"Dot layer 'dd'.*Received shapes: \[\(2, 3\), \(2, 4\)\]"):
        layers.Dot(axes=1, name="dd")([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="not the batch axis 0"):
        layers.Dot(axes=0)([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.Dot(axes=1)([np.ones((2, 3))] * 3)
    x1, x2 = ember.Input(shape=(4, 3)), ember.Input(shape=(6, 3))
    model = ember.Model([x1, x2], layers.Dot(axes=(2, 2), normalize=True)([x1, x2]))
    model.save(str(tmp_path / "d.npz"))
    back = load_model(str(tmp_path / "d.npz"))
    assert back.layers[-1].get_config()["axes"] == [2, 2] and back.layers[-1].normalize
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((2, 4, 3)).astype(np.float32), rng.standard_normal((2, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.predict([a, b], verbose=0), model.predict([a, b], verbose=0))


def test_minimum_gradcheck():
    rng = np.random.default_rng(7)
    gradcheck(lambda a, b: layers.Minimum(dtype="float64")([a, b]),
              [rng.standard_normal((2, 3)), rng.standard_normal((2, 3))])


# -- None dimensions in symbolic shapes -------------------------------------------------

def test_variable_length_sequence_model_builds_and_runs():
    inp = ember.Input(shape=(None, 10))
    x = layers.Conv1D(3, 3)(inp)
    assert x.shape == (None, None, 3)
    x = layers.MaxPooling1D(2)(x)
    assert x.shape == (None, None, 3)  # 2 and 3 once both pooled to 1: now tells them apart
    x = layers.LSTM(4, return_sequences=True)(x)
    x = layers.Dense(5)(x)
    assert x.shape == (None, None, 5)
    out = layers.GlobalAveragePooling1D()(x)
    assert out.shape == (None, 5)
    model = ember.Model(inp, out)
    assert [l.output_shape for l in model.layers][1:] == [(None, None, 3), (None, None, 3), (None, None, 4),
                                                          (None, None, 5), (None, 5)]
    for T in (6, 9, 40):
        assert model.predict(np.zeros((2, T, 10), np.float32), verbose=0).shape == (2, 5)
    img = ember.Input(shape=(None, None, 3))
    c = layers.Conv2D(4, 5)(img)
    assert c.shape == (None, None, None, 4) and layers.GlobalMaxPooling2D()(c).shape == (None, 4)


def test_fixed_dims_stay_fixed_and_long_kernels_fall_back():
    inp = ember.Input(shape=(None, 4))
    assert layers.Conv1D(2, 20)(inp).shape == (None, None, 2)  # longer than the first probe size
    assert layers.Dense(3)(ember.Input(shape=(7, 4))).shape == (None, 7, 3)
    with pytest.raises(ValueError, match=r"symbolic inputs of shape \(None, None, 4\)"):
        layers.Conv1D(2, 500)(inp)


def test_merge_layers_round_trip(tmp_path):
    x1, x2 = ember.Input(shape=(3,)), ember.Input(shape=(3,))
    outs = [layers.minimum([x1, x2]), layers.maximum([x1, x2]), layers.subtract([x1, x2]),
            layers.average([x1, x2]), layers.dot([x1, x2], axes=-1)]
    model = ember.Model([x1, x2], outs)
    model.save(str(tmp_path / "merge.npz"))
    back = load_model(str(tmp_path / "merge.npz"))
    assert [type(l).__name__ for l in back.layers[2:]] == ["Minimum", "Maximum", "Subtract", "Average", "Dot"]
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    for u, v in zip(back.predict([a, b], verbose=0), model.predict([a, b], verbose=0)):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match=r"Minimum layer .* at least 2 inputs"):
        layers.Minimum()([a])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_average_pooling1d_masked_mean(data_format):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 7, 5))
    m = np.ones((3, 7), bool)
    m[0, 4:] = False
    m[2, :3] = False
    xx = x if data_format == "channels_last" else x.transpose(0, 2, 1)
    pool = layers.GlobalAveragePooling1D(data_format=data_format, dtype="float64")
    want = np.stack([x[i][m[i]].mean(0) for i in range(3)])
    np.testing.assert_allclose(pool(xx, mask=m).numpy(), want, rtol=1e-12)
    gradcheck(lambda t: pool(t, mask=m), [xx])
    assert pool.compute_mask(xx, m) is None
    with pytest.raises(ValueError, match=r"the mask must have shape \(batch, steps\) = \(3, 7\). Received: mask"):
        pool(xx, mask=m[:, :4])


def test_mask_passes_through_dense_dropout_activation():
    x = np.zeros((2, 4, 3), np.float32)
    x[:, :2] = 1.0
    out = layers.Activation("relu")(layers.Dropout(0.2)(layers.Dense(2)(layers.Masking()(x))))
    np.testing.assert_array_equal(out._mask, [[True, True, False, False]] * 2)
    assert getattr(layers.Flatten()(layers.Masking()(x)), "_mask", None) is None  # Flatten drops it, as Keras


def test_compute_output_shape_keeps_none_and_the_given_batch():
    assert layers.Conv1D(3, 3).compute_output_shape((None, None, 10)) == (None, None, 3)
    assert layers.Dense(4).compute_output_shape((32, 10)) == (32, 4)
    assert layers.LSTM(3, return_sequences=True, return_state=True).compute_output_shape((None, None, 2)) == \
        [(None, None, 3), (None, 3), (None, 3)]
    assert layers.Concatenate().compute_output_shape([(None, 3), (None, 4)]) == (None, 7)
    assert layers.RNN(layers.GRUCell(5)).compute_output_shape((8, None, 2)) == (8, 5)


def test_masking_guide_idioms_keras_mask_and_per_output_masks():
    """Keras' "Masking and padding" guide: ``_keras_mask``, a layer's own compute_mask
    and one mask per output of a layer that splits its input."""
    padded = np.array([[711, 632, 71, 0, 0, 0], [73, 8, 3215, 55, 927, 0]])
    emb = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
    out = emb(padded)
    np.testing.assert_array_equal(out._keras_mask, padded != 0)
    np.testing.assert_array_equal(emb.compute_mask(padded), padded != 0)

    class TemporalSplit(layers.Layer):
        def call(self, inputs):
            return [inputs[:, :3], inputs[:, 3:]]

        def compute_mask(self, inputs, mask=None):
            if mask is None:
                return None
            return [mask[:, :3], mask[:, 3:]]

    first, second = TemporalSplit()(out)
    np.testing.assert_array_equal(first._keras_mask, padded[:, :3] != 0)
    np.testing.assert_array_equal(second._keras_mask, padded[:, 3:] != 0)
    t = ember.Tensor(np.ones((2, 3)))
    t._keras_mask = np.array([[True, False, True]] * 2)
    assert t._mask is t._keras_mask and ember.Tensor([1.0])._keras_mask is None


def test_merge_layers_combine_input_masks():
    a = layers.Masking()(np.array([[[1.0], [0.0], [0.0]]], np.float32))
    b = layers.Masking()(np.array([[[0.0], [2.0], [0.0]]], np.float32))
    np.testing.assert_array_equal(layers.add([a, b])._mask, [[True, True, False]])
    assert getattr(layers.add([a, ember.Tensor(np.ones((1, 3, 1), np.float32))]), "_mask", None) is None
    np.testing.assert_array_equal(layers.concatenate([a, b], axis=1)._mask, [[True, False, False, False, True, False]])
    np.testing.assert_array_equal(layers.concatenate([a, b], axis=-1)._mask, [[True, True, False]])
    assert getattr(layers.dot([a, b], axes=2), "_mask", None) is None


class TemporalSoftmax(layers.Layer):
    """Keras' masking guide: a layer that needs its mask, even while the graph is built."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        assert mask is not None
        w = ember.ops.expand_dims(ember.ops.cast(mask, "float32"), -1)
        e = ember.ops.exp(inputs) * w
        return e / (ember.ops.sum(e, axis=1, keepdims=True) + 1e-9)


def test_symbolic_graph_carries_masks_to_layers_that_need_them():
    inp = ember.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=4, mask_zero=True)(inp)
    x = layers.Dense(1)(x)
    assert x.mask_ndim == 2
    out = TemporalSoftmax()(x)
    model = ember.Model(inp, out)
    ids = np.array([[3, 1, 2, 0, 0], [4, 5, 0, 0, 0]])
    y = model.predict(ids, verbose=0)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)   # a softmax over the kept steps
    np.testing.assert_array_equal(y[ids == 0], 0.0)
    assert layers.Dense(2)(ember.Input(shape=(3,))).mask_ndim is None
