"""ember.random (Keras 3's keras.random): seeds (None / int / SeedGenerator), distributions,
dtypes, shuffle and dropout gradients, errors."""
import numpy as np
import pytest

import ember
from ember import ops
from ember import random as R
from ember.testing import gradcheck

DRAWS = [
    ("normal", lambda seed, **k: R.normal((400, 50), mean=2.0, stddev=3.0, seed=seed, **k)),
    ("uniform", lambda seed, **k: R.uniform((400, 50), minval=-2.0, maxval=4.0, seed=seed, **k)),
    ("truncated_normal", lambda seed, **k: R.truncated_normal((400, 50), mean=1.0, stddev=2.0, seed=seed, **k)),
    ("randint", lambda seed, **k: R.randint((400, 50), 3, 9, seed=seed, **k)),
    ("gamma", lambda seed, **k: R.gamma((400, 50), 2.0, seed=seed, **k)),
    ("binomial", lambda seed, **k: R.binomial((400, 50), 10, 0.3, seed=seed, **k)),
    ("beta", lambda seed, **k: R.beta((400, 50), 2.0, 5.0, seed=seed, **k)),
]


@pytest.mark.parametrize("name,draw", DRAWS, ids=[d[0] for d in DRAWS])
def test_seed_semantics(name, draw):
    # an int seed is stateless: the same numbers at every call
    a, b = draw(42).numpy(), draw(42).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, draw(43).numpy())
    # a SeedGenerator advances: new numbers each call, the same sequence from the same seed
    g1, g2 = R.SeedGenerator(7), R.SeedGenerator(7)
    x1, y1 = draw(g1).numpy(), draw(g1).numpy()
    x2, y2 = draw(g2).numpy(), draw(g2).numpy()
    assert not np.array_equal(x1, y1)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    # None: the global generator, reproducible through ember.set_seed
    ember.set_seed(3)
    n1 = draw(None).numpy()
    n2 = draw(None).numpy()
    ember.set_seed(3)
    np.testing.assert_array_equal(draw(None).numpy(), n1)
    assert not np.array_equal(n1, n2)
    out = draw(1)
    assert isinstance(out, ember.Tensor) and out.shape == (400, 50) and not out.requires_grad
    assert out.dtype == (np.int32 if name == "randint" else np.float32)


def test_distribution_moments_and_ranges():
    n = R.normal((200_000,), mean=2.0, stddev=3.0, seed=1).numpy()
    assert abs(n.mean() - 2.0) < 0.03 and abs(n.std() - 3.0) < 0.03
    u = R.uniform((200_000,), -2.0, 4.0, seed=1).numpy()
    assert u.min() >= -2.0 and u.max() < 4.0 and abs(u.mean() - 1.0) < 0.03
    t = R.truncated_normal((200_000,), 1.0, 2.0, seed=1).numpy()
    assert np.abs(t - 1.0).max() <= 4.0  # two standard deviations
    assert abs(t.std() - 2.0 * 0.8796) < 0.02  # the std of a normal truncated at +-2 sigma
    i = R.randint((10_000,), 3, 9, seed=1).numpy()
    assert i.min() == 3 and i.max() == 8
    assert R.normal((3,), dtype="float64", seed=0).dtype == np.float64
    assert R.randint((3,), 0, 5, dtype="int64", seed=0).dtype == np.int64
    assert R.normal((0, 3), seed=0).shape == (0, 3)


def test_categorical_follows_the_softmax():
    logits = np.log(np.array([[0.1, 0.6, 0.3], [1.0, 1e-9, 1e-9]]))
    s = R.categorical(logits, 20_000, seed=2)
    assert s.dtype == np.int32 and s.shape == (2, 20_000)
    freq = np.bincount(s.numpy()[0], minlength=3) / 20_000
    np.testing.assert_allclose(freq, [0.1, 0.6, 0.3], atol=0.015)
    assert (s.numpy()[1] == 0).all()
    with pytest.raises(ValueError, match=r"categorical: logits must have shape \(batch_size, num_classes\)"):
        R.categorical(np.zeros(3), 2)


def test_shuffle_permutes_along_an_axis_and_passes_gradients():
    x = np.arange(24.0).reshape(4, 6)
    for axis in (0, 1, -1):
        s = R.shuffle(x, axis=axis, seed=5).numpy()
        np.testing.assert_array_equal(np.sort(s, axis=axis), np.sort(x, axis=axis))
        other = 1 - (axis % 2)
        np.testing.assert_array_equal(np.sort(s, axis=other), s)  # whole slices moved
    np.testing.assert_array_equal(R.shuffle(x, seed=5).numpy(), R.shuffle(x, seed=5).numpy())
    assert R.shuffle(np.arange(5), seed=1).dtype.kind == "i"  # integers stay integers
    gradcheck(lambda t: R.shuffle(t, axis=1, seed=3), [np.random.default_rng(0).standard_normal((3, 5))])
    with pytest.raises(ValueError, match=r"shuffle: axis 2 is out of range for a tensor of shape \(4, 6\)"):
        R.shuffle(x, axis=2)


def test_dropout_scales_masks_and_gradient():
    x = np.ones((200, 50))
    y = R.dropout(x, 0.25, seed=1).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_array_equal(R.dropout(x, 0.25, seed=1).numpy(), y)  # int seed: stateless
    g = R.SeedGenerator(1)
    assert not np.array_equal(R.dropout(x, 0.5, seed=g).numpy(), R.dropout(x, 0.5, seed=g).numpy())
    # noise_shape broadcasts the mask: whole columns kept or dropped
    z = R.dropout(np.ones((6, 40)), 0.5, noise_shape=(1, 40), seed=4).numpy()
    assert (z == z[:1]).all()
    z = R.dropout(np.ones((6, 40)), 0.5, noise_shape=(None, 1), seed=4).numpy()
    assert (z == z[:, :1]).all()
    gradcheck(lambda t: R.dropout(t, 0.4, seed=9), [np.random.default_rng(1).standard_normal((4, 7))])
    ints = R.dropout(ops.ones((50,), dtype="int32"), 0.5, seed=2)
    assert ints.dtype == np.float32 and set(np.unique(ints.numpy())) <= {0.0, 2.0}
    with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\). Received: rate=1.5"):
        R.dropout(x, 1.5)
    with pytest.raises(ValueError, match="dropout: noise_shape must have one entry per axis"):
        R.dropout(x, 0.5, noise_shape=(1,))


def test_functional_dropout_still_draws_from_the_global_generator():
    # ember.functional.dropout (layers) and ember.random.dropout(seed=None) are one op
    x = np.ones((8, 9), np.float32)
    ember.set_seed(11)
    a = ember.functional.dropout(x, 0.5, training=True).numpy()
    ember.set_seed(11)
    b = R.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert ember.functional.dropout(x, 0.5, training=False).numpy() is not None


def test_seed_generator_errors_config_and_state():
    with pytest.raises(ValueError, match="SeedGenerator: seed must be an integer. Received: seed=1.5"):
        R.SeedGenerator(1.5)
    with pytest.raises(ValueError, match="SeedGenerator: unrecognized keyword arguments"):
        R.SeedGenerator(1, bogus=2)
    with pytest.raises(ValueError, match="normal: seed must be None, an integer or a SeedGenerator"):
        R.normal((2,), seed="x")
    with pytest.raises(ValueError, match="uniform: seed must be a non-negative integer"):
        R.uniform((2,), seed=-1)
    with pytest.raises(ValueError, match=r"randint: maxval must be greater than minval"):
        R.randint((2,), 5, 5)
    with pytest.raises(ValueError, match="normal: dtype must be a float dtype"):
        R.normal((2,), dtype="int32")
    with pytest.raises(ValueError, match="normal: shape must be a tuple of integers"):
        R.normal("ab")
    g = R.SeedGenerator(5, name="sg")
    assert R.SeedGenerator.from_config(g.get_config()).get_config() == {"seed": 5, "name": "sg"}
    R.normal((2,), seed=g)
    assert g.state.tolist() == [5, 1]
    ember.set_seed(4)
    s1 = R.SeedGenerator().state.tolist()
    ember.set_seed(4)
    assert R.SeedGenerator().state.tolist() == s1  # an unseeded generator follows ember.set_seed


def test_vae_sampling_idiom():
    """z = mean + exp(0.5 * log_var) * eps with eps from a layer's SeedGenerator: gradients
    reach mean and log_var (the Keras VAE example's Sampling layer)."""
    gen = R.SeedGenerator(1337)
    z_mean = ember.Tensor(np.zeros((4, 2)), requires_grad=True)
    z_log_var = ember.Tensor(np.zeros((4, 2)), requires_grad=True)
    with ember.GradientTape() as tape:
        batch, dim = ops.shape(z_mean)
        eps = R.normal(shape=(batch, dim), seed=gen)
        z = z_mean + ops.exp(0.5 * z_log_var) * eps
        loss = ops.sum(ops.square(z))
    gm, gv = tape.gradient(loss, [z_mean, z_log_var])
    e = eps.numpy().astype(np.float64)
    np.testing.assert_allclose(gm.numpy(), 2 * e, rtol=1e-6)
    np.testing.assert_allclose(gv.numpy(), e * e, rtol=1e-6)
