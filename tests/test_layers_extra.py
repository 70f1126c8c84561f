"""Keras layers beyond the core set: Rescaling, Normalization (adapt), Lambda, Identity,
RepeatVector, Permute, Cropping1D/2D, UpSampling1D/2D, SpatialDropout1D/2D, GaussianNoise,
GaussianDropout, Conv1DTranspose / Conv2DTranspose, Attention, AdditiveAttention.

Forward values against NumPy references, float64 finite-difference gradients, the
training flag of the noise layers, configs that survive save / load_model, and errors."""
import json
import os

import numpy as np
import pytest

import ember
from ember import functional as F
from ember import layers as L
from ember.testing import check_op, gradcheck


def T(a):
    return ember.Tensor(np.asarray(a, np.float64), dtype=np.float64)


# -- Rescaling, Normalization ----------------------------------------------------------------
def test_rescaling_values_dtypes_and_gradient():
    img = np.arange(24, dtype=np.uint8).reshape(1, 2, 4, 3) * 10
    y = L.Rescaling(1.0 / 255)(img)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), img / 255.0, rtol=1e-6)
    # per-channel scale and an offset ([-1, 1] images)
    scale, offset = [1 / 127.5, 2 / 255, 1.0], -1.0
    check_op(lambda x: L.Rescaling(scale, offset)(x), lambda x: x * np.array(scale) + offset,
             [np.random.default_rng(0).uniform(0, 255, (2, 3, 3))])
    assert L.Rescaling(2.0).compute_output_shape((None, 5)) == (None, 5)
    with pytest.raises(ValueError, match="Rescaling layer .*scale"):
        L.Rescaling("big")
    with pytest.raises(ValueError, match=r"Rescaling layer .*do not broadcast.*\(2, 4\)"):
        L.Rescaling([1.0, 2.0, 3.0])(np.ones((2, 4), np.float32))


def test_normalization_adapt_matches_numpy_and_batches_agree():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((40, 3, 5)) * rng.uniform(0.5, 4, 5) + rng.uniform(-3, 3, 5)
    norm = L.Normalization()
    norm.adapt(data)
    assert norm.mean.shape == (5,) and not norm.mean.requires_grad
    assert [w.name.split("/")[-1] for w in norm.non_trainable_weights] == ["mean", "variance"]
    assert norm.trainable_weights == []
    np.testing.assert_allclose(norm.mean.numpy(), data.mean((0, 1)), rtol=1e-6)
    np.testing.assert_allclose(norm.variance.numpy(), data.var((0, 1)), rtol=1e-6)
    x = rng.standard_normal((4, 3, 5))
    want = (x - data.mean((0, 1))) / np.sqrt(data.var((0, 1)))
    np.testing.assert_allclose(norm(x.astype(np.float32)).numpy(), want, rtol=1e-5, atol=1e-5)
    # batches (a generator of (x, y) pairs, as a dataset yields) give the same statistics
    streamed = L.Normalization()
    streamed.adapt((data[i:i + 7], None) for i in range(0, 40, 7))
    np.testing.assert_allclose(streamed.mean.numpy(), norm.mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(streamed.variance.numpy(), norm.variance.numpy(), rtol=1e-6)
    by_size = L.Normalization()
    by_size.adapt(data, batch_size=9)
    np.testing.assert_allclose(by_size.variance.numpy(), norm.variance.numpy(), rtol=1e-6)
    # several kept axes, one scalar statistic (axis=None), invert, and the gradient
    two = L.Normalization(axis=(1, 2))
    two.adapt(data)
    np.testing.assert_allclose(two.mean.numpy(), data.mean(0), rtol=1e-6)
    one = L.Normalization(axis=None)
    one.adapt(data)
    assert one.mean.shape == () and np.isclose(float(one.variance.numpy()), data.var())
    inv = L.Normalization(invert=True)
    inv.adapt(data)
    np.testing.assert_allclose(inv(norm(x)).numpy(), x, rtol=1e-5, atol=1e-5)
    gradcheck(lambda t: two(t), [x[:2]])


def test_normalization_given_statistics_and_errors():
    norm = L.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0])
    y = norm(np.array([[3.0, 2.5]], np.float32)).numpy()
    np.testing.assert_allclose(y, [[1.0, 0.5 / 1e-7]], rtol=1e-6)  # sqrt(variance) floored at 1e-7
    assert norm.weights == []
    scalar = L.Normalization(mean=2.0, variance=4.0)
    np.testing.assert_allclose(scalar(np.full((2, 3), 4.0, np.float32)).numpy(), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"was built for inputs of shape \(None, 2\).*\(1, 3\)"):
        norm(np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="both mean and variance"):
        L.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="adapt"):
        norm.adapt(np.ones((3, 2)))
    with pytest.raises(ValueError, match="batch axis"):
        L.Normalization(axis=0)
    with pytest.raises(ValueError, match=r"do not broadcast to the kept axes' shape \(3,\)"):
        L.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0])(np.ones((2, 3), np.float32))
    fitted = L.Normalization()
    fitted.adapt(np.ones((5, 4)))
    with pytest.raises(ValueError, match=r"adapt\(\) received data of: shape=\(5, 3\)"):
        fitted.adapt(np.ones((5, 3)))


# -- Lambda, Identity ----------------------------------------------------------------------
def scaled_square(x, factor=1.0):
    return x * x * factor


def test_lambda_forward_arguments_training_mask_and_shapes():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    lam = L.Lambda(scaled_square, arguments={"factor": 0.5})
    np.testing.assert_allclose(lam(x).numpy(), x * x * 0.5)
    gradcheck(lambda t: L.Lambda(scaled_square)(t), [x.astype(np.float64) + 0.5])
    seen = []
    L.Lambda(lambda t, training=None: seen.append(training) or t)(x, training=True)
    assert seen == [True]
    # a list input, and output_shape as a tuple or a function of the input shape
    both = L.Lambda(lambda ts: F.concatenate(ts, axis=-1), output_shape=(6,))
    assert both([x, x]).shape == (2, 6) and both.compute_output_shape((None, 3)) == (None, 6)
    assert L.Lambda(lambda t: t, output_shape=lambda s: s[:1] + (9,)).compute_output_shape((4, 3)) == (4, 9)
    assert L.Lambda(lambda t: t[:, :2]).compute_output_shape((None, 3)) == (None, 2)  # runs on zeros
    # mask: none by default, or computed by a function of (inputs, mask)
    ids = ember.Input(shape=(4,), dtype="int64")
    emb = L.Embedding(5, 2, mask_zero=True)(ids)
    lam_m = L.Lambda(lambda t: t * 2, mask=lambda t, m: m)
    m = ember.Model(ids, [lam_m(emb), L.Identity()(emb)])
    out, ident = m(np.array([[1, 2, 0, 0]]))
    assert out._mask.tolist() == [[True, True, False, False]] == ident._mask.tolist()
    assert getattr(L.Lambda(lambda t: t * 2)(emb), "_mask", None) is None
    with pytest.raises(TypeError, match="callable"):
        L.Lambda(3)


def test_lambda_save_needs_a_named_function(tmp_path):
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    anon = ember.Sequential([L.Input(shape=(4,)), L.Lambda(lambda t: t * 2), L.Dense(2)])
    with pytest.raises(NotImplementedError, match=r"Lambda layer .*anonymous.*save_weights.*custom_objects"):
        anon.save(str(tmp_path / "anon.npz"))
    assert os.listdir(tmp_path) == []  # nothing half-written
    named = ember.Sequential([L.Input(shape=(4,)), L.Lambda(scaled_square, arguments={"factor": 3.0}),
                              L.Dense(2)])
    path = str(tmp_path / "named.npz")
    named.save(path)
    with pytest.raises(ValueError, match=r"custom_objects=\{'scaled_square': scaled_square\}"):
        ember.models.load_model(path)
    back = ember.models.load_model(path, custom_objects={"scaled_square": scaled_square})
    np.testing.assert_array_equal(back.predict(x), named.predict(x))
    assert back.layers[0].arguments == {"factor": 3.0}


# -- reshaping: RepeatVector, Permute, Cropping, UpSampling -----------------------------------
def _bilinear_ref(x, sh, sw):
    """Half-pixel-centre bilinear upsampling of (N, H, W, C), element by element."""
    N, H, W, C = x.shape
    out = np.zeros((N, H * sh, W * sw, C))
    for i in range(H * sh):
        fy = min(max((i + 0.5) / sh - 0.5, 0), H - 1)
        y0 = int(np.floor(fy))
        y1, ay = min(y0 + 1, H - 1), fy - y0
        for j in range(W * sw):
            fx = min(max((j + 0.5) / sw - 0.5, 0), W - 1)
            x0 = int(np.floor(fx))
            x1, ax = min(x0 + 1, W - 1), fx - x0
            out[:, i, j] = ((1 - ay) * ((1 - ax) * x[:, y0, x0] + ax * x[:, y0, x1])
                            + ay * ((1 - ax) * x[:, y1, x0] + ax * x[:, y1, x1]))
    return out


def test_reshaping_layers_against_numpy():
    rng = np.random.default_rng(2)
    v, s3, s4 = rng.standard_normal((2, 3)), rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 3, 4, 2))
    cases = [
        (L.RepeatVector(4), v, lambda a: np.repeat(a[:, None], 4, axis=1)),
        (L.Permute((2, 1)), s3, lambda a: a.transpose(0, 2, 1)),
        (L.Permute((3, 1, 2)), s4, lambda a: a.transpose(0, 3, 1, 2)),
        (L.Cropping1D((1, 2)), s3, lambda a: a[:, 1:3]),
        (L.Cropping1D(2), s3, lambda a: a[:, 2:3]),
        (L.Cropping2D(((1, 0), (1, 2))), s4, lambda a: a[:, 1:, 1:2]),
        (L.Cropping2D((1, 0), data_format="channels_first"), s4, lambda a: a[:, :, 1:3, :]),
        (L.UpSampling1D(3), s3, lambda a: np.repeat(a, 3, axis=1)),
        (L.UpSampling2D((2, 3)), s4, lambda a: np.repeat(np.repeat(a, 2, axis=1), 3, axis=2)),
        (L.UpSampling2D(2, data_format="channels_first"), s4, lambda a: np.repeat(np.repeat(a, 2, 2), 2, 3)),
        (L.UpSampling2D((2, 3), interpolation="bilinear"), s4, lambda a: _bilinear_ref(a, 2, 3)),
        (L.UpSampling2D(3, data_format="channels_first", interpolation="bilinear"), s4,
         lambda a: _bilinear_ref(a.transpose(0, 2, 3, 1), 3, 3).transpose(0, 3, 1, 2)),
    ]
    for layer, x, ref in cases:
        check_op(lambda t: layer(t), ref, [x])
        assert layer.compute_output_shape(x.shape) == ref(x).shape, layer.name
        assert layer.compute_output_shape((None,) + x.shape[1:]) == (None,) + ref(x).shape[1:]


def test_reshaping_layer_errors():
    x3 = np.zeros((2, 4, 3), np.float32)
    with pytest.raises(ValueError, match=r"RepeatVector layer .*2-D input \(batch, features\).*\(2, 4, 3\)"):
        L.RepeatVector(2)(x3)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        L.RepeatVector(0)
    with pytest.raises(ValueError, match=r"Permute layer .*permutation of 1\.\.2.*\(0, 1\)"):
        L.Permute((0, 1))
    with pytest.raises(ValueError, match=r"Permute layer .*expects a 3-D input.*\(2, 4\)"):
        L.Permute((2, 1))(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"Cropping1D layer .*removes all 4 entries of axis 1.*\(2, 4, 3\)"):
        L.Cropping1D((2, 2))(x3)
    with pytest.raises(ValueError, match="Cropping2D layer .*cropping must be"):
        L.Cropping2D((1, 2, 3))
    with pytest.raises(ValueError, match=r"Cropping2D layer .*4-D input \(batch, height, width, channels\)"):
        L.Cropping2D(1)(x3)
    with pytest.raises(ValueError, match=r"UpSampling2D layer .*4-D input.*\(2, 4, 3\)"):
        L.UpSampling2D()(x3)
    with pytest.raises(NotImplementedError, match="bicubic"):
        L.UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match="interpolation must be"):
        L.UpSampling2D(interpolation="cubist")


# -- noise and structured dropout ---------------------------------------------------------------
def test_noise_layers_are_identity_at_inference():
    x = np.random.default_rng(3).standard_normal((2, 4, 3)).astype(np.float32)
    for layer in (L.GaussianNoise(0.5), L.GaussianDropout(0.4), L.SpatialDropout1D(0.5), L.Identity()):
        t = ember.Tensor(x)
        assert layer(t) is t and layer(t, training=False) is t
        assert layer.compute_output_shape((None, 4, 3)) == (None, 4, 3)
    assert L.SpatialDropout2D(0.5)(ember.Tensor(x[None])).shape == (1, 2, 4, 3)


def test_gaussian_noise_and_dropout_statistics_seed_and_gradient():
    x = np.full((200, 100), 2.0, np.float32)
    ember.set_seed(7)
    a = L.GaussianNoise(0.5)(x, training=True).numpy()
    ember.set_seed(7)
    b = L.GaussianNoise(0.5)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    assert abs((a - 2).mean()) < 0.01 and abs((a - 2).std() - 0.5) < 0.01
    c = L.GaussianNoise(0.5)(x, training=True).numpy()
    assert not np.array_equal(a, c)
    d = L.GaussianDropout(0.2)(x, training=True).numpy() / 2  # multiplier ~ N(1, sqrt(0.2 / 0.8))
    assert abs(d.mean() - 1) < 0.01 and abs(d.std() - 0.5) < 0.01
    # a layer seed gives its own reproducible stream
    s1, s2 = L.GaussianDropout(0.3, seed=3), L.GaussianDropout(0.3, seed=3)
    np.testing.assert_array_equal(s1(x, training=True).numpy(), s2(x, training=True).numpy())
    # gradients: d(x + n)/dx = 1, d(x * m)/dx = m
    t = ember.Tensor(np.ones((3, 4)), requires_grad=True, dtype=np.float64)
    y = L.GaussianDropout(0.5)(t, training=True)
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), y.numpy())
    t.zero_grad()
    L.GaussianNoise(1.0)(t, training=True).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.ones((3, 4)))
    with pytest.raises(ValueError, match="GaussianDropout layer .*rate"):
        L.GaussianDropout(1.0)
    with pytest.raises(ValueError, match="GaussianNoise layer .*stddev"):
        L.GaussianNoise(-1)


def test_spatial_dropout_drops_whole_channels():
    x = np.ones((50, 6, 40), np.float32)
    ember.set_seed(11)
    y = L.SpatialDropout1D(0.25)(x, training=True).numpy()
    ember.set_seed(11)
    np.testing.assert_array_equal(L.SpatialDropout1D(0.25)(x, training=True).numpy(), y)
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert (y == y[:, :1]).all()  # one draw per (sample, channel), shared over the steps
    assert abs((y[:, 0] == 0).mean() - 0.25) < 0.03
    img = np.ones((30, 3, 3, 20), np.float32)
    z = L.SpatialDropout2D(0.5)(img, training=True).numpy()
    assert (z == z[:, :1, :1]).all() and 0.4 < (z[:, 0, 0] == 0).mean() < 0.6
    zf = L.SpatialDropout2D(0.5, data_format="channels_first")(img.transpose(0, 3, 1, 2), training=True).numpy()
    assert (zf == zf[:, :, :1, :1]).all()
    t = ember.Tensor(np.ones((4, 3, 5)), requires_grad=True, dtype=np.float64)
    out = L.SpatialDropout1D(0.5)(t, training=True)
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), out.numpy())
    with pytest.raises(ValueError, match=r"SpatialDropout1D layer .*3-D input.*\(4, 3\)"):
        L.SpatialDropout1D(0.5)(np.ones((4, 3), np.float32), training=True)


# -- transposed convolutions ------------------------------------------------------------------
def ref_conv_transpose(x, w, b, strides, padding, output_padding, dilation):
    """The transposed convolution as a convolution: the input dilated by the stride (zeros
    between entries), padded as Keras' JAX backend pads it, correlated with the flipped
    kernel. x (N, H, W, C), w (KH, KW, F, C)."""
    xd = x
    lo_hi = []
    for ax in (0, 1):
        k, s, d = w.shape[ax], strides[ax], dilation[ax]
        op = None if output_padding is None else output_padding[ax]
        ke = (k - 1) * d + 1
        if padding == "valid":
            op = max(ke, s) - ke if op is None else op
            lo, hi = ke - 1, ke - 1 + op
        else:
            n = s + ke - 2 if op is None else ke + ke % 2 - 2 + op
            lo = min(n // 2 + n % 2, ke - 1)
            hi = n - lo
        lo_hi.append((lo, hi))
    N, H, W, C = x.shape
    (t, bo), (l, r) = lo_hi
    xd = np.zeros((N, (H - 1) * strides[0] + 1 + t + bo, (W - 1) * strides[1] + 1 + l + r, C))
    xd[:, t:t + (H - 1) * strides[0] + 1:strides[0], l:l + (W - 1) * strides[1] + 1:strides[1]] = x
    wf = w[::-1, ::-1]
    KH, KW = w.shape[:2]
    OH = xd.shape[1] - (KH - 1) * dilation[0]
    OW = xd.shape[2] - (KW - 1) * dilation[1]
    y = np.zeros((N, OH, OW, w.shape[2]))
    for i in range(KH):
        for j in range(KW):
            win = xd[:, i * dilation[0]:i * dilation[0] + OH, j * dilation[1]:j * dilation[1] + OW]
            y += np.einsum("nhwc,fc->nhwf", win, wf[i, j])
    return y if b is None else y + b


CT_CASES = [  # N, H, W, C, KH, KW, F, strides, padding, output_padding, dilation
    (2, 3, 4, 3, 3, 3, 5, (1, 1), "valid", None, (1, 1)),
    (2, 3, 4, 3, 3, 3, 5, (1, 1), "same", None, (1, 1)),
    (1, 5, 3, 2, 3, 2, 4, (2, 2), "valid", None, (1, 1)),
    (1, 5, 3, 2, 3, 2, 4, (2, 2), "same", None, (1, 1)),
    (2, 4, 3, 3, 3, 3, 2, (2, 2), "same", (1, 0), (1, 1)),
    (1, 3, 4, 2, 2, 3, 3, (2, 3), "valid", (1, 2), (1, 1)),
    (1, 3, 3, 2, 1, 2, 3, (3, 2), "valid", None, (1, 1)),    # kernel smaller than the stride
    (1, 4, 3, 2, 4, 2, 3, (2, 1), "same", None, (1, 1)),     # even kernel
    (1, 4, 4, 2, 3, 2, 2, (1, 1), "same", None, (2, 2)),     # dilation
]


@pytest.mark.parametrize("case", CT_CASES)
def test_conv2d_transpose_against_numpy(case):
    N, H, W, C, KH, KW, Fo, st, pad, op, dil = case
    rng = np.random.default_rng(sum(case[:7]))
    x, w, b = rng.standard_normal((N, H, W, C)), rng.standard_normal((KH, KW, Fo, C)), rng.standard_normal(Fo)
    check_op(lambda x, w, b: F.conv2d_transpose(x, w, b, st, pad, op, dil),
             lambda x, w, b: ref_conv_transpose(x, w, b, st, pad, op, dil), [x, w, b], gradients=False)
    small = (x[:1, :3, :3], w, b)  # the finite-difference check on a smaller input
    gradcheck(lambda x, w, b: F.conv2d_transpose(x, w, b, st, pad, op, dil), small)
    layer = L.Conv2DTranspose(Fo, (KH, KW), strides=st, padding=pad, output_padding=op, dilation_rate=dil)
    y = layer(x.astype(np.float32))
    assert layer.kernel.shape == (KH, KW, Fo, C)
    assert layer.compute_output_shape((None, H, W, C)) == (None,) + y.shape[1:]


def test_conv_transpose_layouts_1d_and_layer():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 3, 4, 3)), rng.standard_normal((3, 2, 4, 3)), rng.standard_normal(4)
    nchw = lambda a: a.transpose(0, 3, 1, 2)  # noqa: E731
    check_op(lambda x, w, b: F.conv2d_transpose(x, w, b, 2, "same", None, 1, "channels_first"),
             lambda x, w, b: nchw(ref_conv_transpose(x.transpose(0, 2, 3, 1), w, b, (2, 2), "same", None, (1, 1))),
             [nchw(x), w, b], gradients=False)
    gradcheck(lambda x, w: F.conv2d_transpose(x, w, None, 2, "valid", 1, 1, "channels_first"),
              [nchw(x)[:1, :, :2], w])
    # 1-D: height-1 2-D
    x1, w1 = rng.standard_normal((2, 5, 3)), rng.standard_normal((3, 4, 3))
    for pad, op in (("same", None), ("valid", 1), ("same", 1)):
        check_op(lambda x, w: F.conv1d_transpose(x, w, None, 2, pad, op),
                 lambda x, w: ref_conv_transpose(x[:, None], w[None], None, (1, 2), pad,
                                                 None if op is None else (0, op), (1, 1))[:, 0],
                 [x1, w1], gradients=pad == "same" and op is None)
    layer = L.Conv1DTranspose(4, 3, strides=2, padding="same", activation="relu")
    y = layer(x1.astype(np.float32))
    assert y.shape == (2, 10, 4) == layer.compute_output_shape((2, 5, 3)) and y.numpy().min() >= 0
    assert layer.kernel.shape == (3, 4, 3)


def test_conv_transpose_is_thread_count_independent():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((9, 7, 7, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 3)).astype(np.float32)
    prev, res = ember.get_num_threads(), []
    try:
        for n in (1, 2):
            ember.set_num_threads(n)
            xt, wt = ember.Tensor(x, requires_grad=True), ember.Tensor(w, requires_grad=True)
            y = F.conv2d_transpose(xt, wt, None, 2, "same")
            (y * y).sum().backward()
            res.append((y.numpy(), xt.grad.numpy(), wt.grad.numpy()))
    finally:
        ember.set_num_threads(prev)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


def test_conv_transpose_errors():
    x = np.zeros((1, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match=r"Conv2DTranspose layer .*output_padding must be smaller than strides"):
        L.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="Conv2DTranspose layer .*padding must be"):
        L.Conv2DTranspose(2, 3, padding="causal")
    with pytest.raises(ValueError, match=r"Conv2DTranspose layer .*4-D input.*\(4, 4, 3\)"):
        L.Conv2DTranspose(2, 3)(x[0])
    layer = L.Conv2DTranspose(2, 3)
    layer(x)
    with pytest.raises(ValueError, match=r"built for 3 input channels .*\(1, 4, 4, 5\)"):
        layer(np.zeros((1, 4, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"conv2d_transpose: the kernel expects 2 input channels but the input has 3"):
        F.conv2d_transpose(x, np.zeros((3, 3, 4, 2)))


# -- Attention, AdditiveAttention -------------------------------------------------------------
def ref_dense_attention(scores, v, q_mask=None, v_mask=None, causal=False):
    keep = np.ones(scores.shape, bool)
    if v_mask is not None:
        keep &= v_mask[:, None, :]
    if causal:
        keep &= np.tril(np.ones(scores.shape[1:], bool))
    s = scores - 1e9 * ~keep
    e = np.exp(s - s.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    out = p @ v
    return (out if q_mask is None else out * q_mask[:, :, None]), p


def test_attention_dot_and_concat_against_numpy():
    rng = np.random.default_rng(8)
    q, v, k = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 6)), rng.standard_normal((2, 5, 4))
    qm = np.array([[1, 1, 0], [1, 1, 1]], bool)
    vm = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    att = L.Attention()
    out, w = att([T(q), T(v), T(k)], mask=[qm, vm], return_attention_scores=True)
    want, want_w = ref_dense_attention(q @ k.transpose(0, 2, 1), v, qm, vm)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), want_w, rtol=1e-10, atol=1e-12)
    assert att.weights == [] and out._mask is qm
    causal = L.Attention()([T(q), T(v)[:, :3], T(k)[:, :3]], use_causal_mask=True)
    np.testing.assert_allclose(causal.numpy(), ref_dense_attention(q @ k[:, :3].transpose(0, 2, 1), v[:, :3],
                                                                   causal=True)[0], rtol=1e-10)
    scaled = L.Attention(use_scale=True, dtype="float64")
    scaled([T(q), T(v), T(k)])
    scaled.scale.assign(np.array(0.7))
    np.testing.assert_allclose(scaled([T(q), T(v), T(k)]).numpy(),
                               ref_dense_attention(0.7 * q @ k.transpose(0, 2, 1), v)[0], rtol=1e-10)
    concat = L.Attention(use_scale=True, score_mode="concat", dtype="float64")
    concat([T(q), T(v), T(k)])
    concat.scale.assign(np.array(0.5))
    concat.concat_score_weight.assign(np.array(1.5))
    s = 1.5 * np.tanh(0.5 * (q[:, :, None] + k[:, None])).sum(-1)
    np.testing.assert_allclose(concat([T(q), T(v), T(k)]).numpy(), ref_dense_attention(s, v)[0], rtol=1e-10)
    assert [p.name.split("/")[-1] for p in concat.trainable_weights] == ["scale", "concat_score_weight"]
    assert concat.compute_output_shape([(None, 3, 4), (None, 5, 6)]) == (None, 3, 6)
    # gradients through query, value and key (and the masks)
    gradcheck(lambda q, v, k: L.Attention()([q, v, k], mask=[qm, vm]), [q, v, k])
    gradcheck(lambda q, v, k: concat([q, v, k]), [q, v, k])


def test_additive_attention_against_numpy_and_gradient():
    rng = np.random.default_rng(9)
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    add = L.AdditiveAttention(dtype="float64")
    out = add([T(q), T(v)])
    scale = add.scale.numpy()
    assert scale.shape == (4,)
    s = (scale * np.tanh(q[:, :, None] + v[:, None])).sum(-1)
    np.testing.assert_allclose(out.numpy(), ref_dense_attention(s, v)[0], rtol=1e-10)
    plain = L.AdditiveAttention(use_scale=False)
    np.testing.assert_allclose(plain([T(q), T(v)]).numpy(),
                               ref_dense_attention(np.tanh(q[:, :, None] + v[:, None]).sum(-1), v)[0], rtol=1e-10)
    gradcheck(lambda q, v, sc: L.AdditiveAttention(use_scale=False)([q, v * sc]), [q, v, np.ones((1, 1, 4))])
    q64 = T(q)
    q64.requires_grad = True
    add([q64, T(v)]).sum().backward()
    assert add.scale.grad is not None and q64.grad.shape == q.shape


def test_attention_dropout_masks_and_errors():
    rng = np.random.default_rng(10)
    q, v = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((2, 5, 4)).astype(np.float32)
    att = L.Attention(dropout=0.5)
    np.testing.assert_array_equal(att([q, v]).numpy(), L.Attention()([q, v]).numpy())  # inference: no dropout
    ember.set_seed(3)
    _, w1 = att([q, v], training=True, return_attention_scores=True)
    ember.set_seed(3)
    _, w2 = att([q, v], training=True, return_attention_scores=True)
    np.testing.assert_array_equal(w1.numpy(), w2.numpy())
    assert (w1.numpy() == 0).any()
    # masks carried by the inputs (Embedding(mask_zero=True)) are used
    ids = np.array([[3, 1, 0], [2, 0, 0]])
    emb = L.Embedding(5, 4, mask_zero=True)
    e = emb(ids)
    out, w = L.Attention()([e, e], return_attention_scores=True)
    assert np.all(w.numpy()[0, :, 2] < 1e-6) and np.all(w.numpy()[1, :, 1:] < 1e-6)
    assert np.all(out.numpy()[1, 1:] == 0) and out._mask.tolist() == (ids != 0).tolist()
    with pytest.raises(ValueError, match=r"Attention layer .*list \[query, value\]"):
        L.Attention()(q)
    with pytest.raises(ValueError, match=r"Attention layer .*same feature size.*\(2, 3, 4\).*\(2, 5, 3\)"):
        L.Attention()([q, v, v[..., :3]])
    with pytest.raises(ValueError, match=r"must agree on B and Tv"):
        L.Attention()([q, v, v[:, :4]])
    with pytest.raises(ValueError, match="score_mode"):
        L.Attention(score_mode="general")


# -- models: Sequential and functional, save / load_model --------------------------------------
def _extra_cases():
    return [
        (lambda: L.Rescaling([0.5, 2.0, -1.0], offset=0.25), (4, 3)),
        (lambda: L.Normalization(axis=(1, 2)), (4, 3)),
        (lambda: L.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 0.25], invert=True), (4, 3)),
        (lambda: L.Identity(), (4, 3)),
        (lambda: L.RepeatVector(3), (5,)),
        (lambda: L.Permute((2, 1)), (4, 3)),
        (lambda: L.Cropping1D((0, 2)), (5, 3)),
        (lambda: L.Cropping2D(((1, 0), (0, 2)), data_format="channels_first"), (2, 4, 5)),
        (lambda: L.UpSampling1D(3), (4, 3)),
        (lambda: L.UpSampling2D((1, 2), interpolation="bilinear"), (3, 4, 2)),
        (lambda: L.SpatialDropout1D(0.3, seed=2), (4, 3)),
        (lambda: L.SpatialDropout2D(0.3, data_format="channels_first"), (2, 4, 5)),
        (lambda: L.GaussianNoise(0.3), (4, 3)),
        (lambda: L.GaussianDropout(0.3), (4, 3)),
        (lambda: L.Conv2DTranspose(3, (3, 2), strides=2, padding="same", output_padding=(1, 0),
                                   activation="tanh", use_bias=False), (3, 4, 2)),
        (lambda: L.Conv2DTranspose(2, 3, strides=(1, 2), data_format="channels_first", dilation_rate=(2, 1)),
         (2, 4, 3)),
        (lambda: L.Conv1DTranspose(2, 3, strides=2, output_padding=1, activation="relu"), (5, 3)),
        (lambda: L.Lambda(scaled_square, output_shape=(4, 3), arguments={"factor": -2.0}), (4, 3)),
    ]


def test_new_layers_survive_save_and_load(tmp_path):
    """Every argument that changes the output is in the config: a one-layer model with random
    weights predicts the same bits after save / load_model (functional)."""
    rng = np.random.default_rng(0)
    for i, (make, shape) in enumerate(_extra_cases()):
        inp = ember.Input(shape=shape)
        layer = make()
        m = ember.Model(inp, layer(inp))
        m.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in m.get_weights()])
        path = str(tmp_path / f"{i}.npz")
        m.save(path)
        m2 = ember.models.load_model(path, custom_objects={"scaled_square": scaled_square})
        loaded = m2.layers[-1]
        assert type(loaded) is type(layer)
        assert json.dumps(loaded.get_config()) == json.dumps(layer.get_config())
        x = rng.standard_normal((3,) + shape).astype(np.float32)
        np.testing.assert_array_equal(m2.predict(x), m.predict(x), err_msg=type(layer).__name__)
    # Attention / AdditiveAttention take a list of inputs
    q, v = ember.Input(shape=(3, 4)), ember.Input(shape=(5, 4))
    outs = [L.Attention(use_scale=True, score_mode="concat")([q, v]),
            L.Attention(dropout=0.2)([q, v, v], use_causal_mask=True), L.AdditiveAttention(use_scale=True)([q, v])]
    m = ember.Model([q, v], outs)
    m.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in m.get_weights()])
    m.save(str(tmp_path / "att.npz"))
    m2 = ember.models.load_model(str(tmp_path / "att.npz"))
    xs = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))]
    for a, b in zip(m.predict(xs), m2.predict(xs)):
        np.testing.assert_array_equal(a, b)


def test_sequential_with_adapted_normalization_trains_and_reloads(tmp_path):
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((64, 6, 6, 1)) * 40 + 100).astype(np.float32)
    y = (x.mean((1, 2, 3)) > 100).astype(np.float32)[:, None]
    norm = L.Normalization(axis=None)
    norm.adapt(x)
    ember.set_seed(0)
    m = ember.Sequential([
        L.Input(shape=(6, 6, 1)), norm, L.GaussianNoise(0.1), L.Conv2D(4, 3, strides=2, padding="same"),
        L.UpSampling2D(), L.Cropping2D(1), L.SpatialDropout2D(0.1), L.Conv2DTranspose(2, 3, strides=2),
        L.Permute((3, 1, 2)), L.Reshape((-1,)), L.Dense(1, activation="sigmoid")])
    assert m.output_shape == (None, 1)
    m.compile(ember.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    path = str(tmp_path / "seq.npz")
    m.save(path)
    m2 = ember.models.load_model(path)
    np.testing.assert_array_equal(m2.predict(x), m.predict(x))
    np.testing.assert_array_equal(m2.layers[0].mean.numpy(), norm.mean.numpy())
