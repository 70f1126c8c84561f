"""DepthwiseConv2D, SeparableConv2D, Conv3D and the 3-D poolings: forward against direct
NumPy loops on odd shapes, float64 finite-difference gradients, Keras' parameter counts,
output shapes, save / load_model, and errors."""
import json

import numpy as np
import pytest

import ember
from ember import layers as L
from ember.ops.conv3d import avg_pool3d, conv3d, max_pool3d
from ember.tensor import Tensor
from ember.testing import check_op


def _same_pads(sizes, kernel, strides, dilation):
    out = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        out.append((total // 2, total - total // 2))
    return out


def _conv_ref(x, w, strides, padding, dilation, groups=1):
    """N-D grouped convolution of channels_last x (N, *S, C) with w (*K, C // groups, F)."""
    rank = len(strides)
    K, (Cg, F) = w.shape[:rank], w.shape[rank:]
    pads = _same_pads(x.shape[1:1 + rank], K, strides, dilation) if padding == "same" else [(0, 0)] * rank
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    out_sp = [(xp.shape[1 + i] - dilation[i] * (K[i] - 1) - 1) // strides[i] + 1 for i in range(rank)]
    out = np.zeros((x.shape[0], *out_sp, F))
    Fg = F // groups
    for tap in np.ndindex(*K):
        sl = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(tap, dilation, out_sp, strides))
        patch = xp[(slice(None),) + sl]
        for g in range(groups):
            out[..., g * Fg:(g + 1) * Fg] += patch[..., g * Cg:(g + 1) * Cg] @ w[tap][:, g * Fg:(g + 1) * Fg]
    return out


def _depthwise_ref(x, k, strides, padding, dilation):
    """Channel c, multiplier m -> output channel c * dm + m (Keras' order), one loop each."""
    C, dm = k.shape[-2], k.shape[-1]
    outs = [_conv_ref(x[..., c:c + 1], k[..., c:c + 1, m:m + 1], strides, padding, dilation)
            for c in range(C) for m in range(dm)]
    return np.concatenate(outs, axis=-1)


@pytest.mark.parametrize("strides,padding,dilation,dm", [((1, 1), "valid", (1, 1), 1), ((2, 1), "same", (1, 1), 2),
                                                         ((1, 1), "same", (2, 1), 3)])
def test_depthwise_matches_reference_and_gradients(strides, padding, dilation, dm):
    rng = np.random.default_rng(0)
    layer = L.DepthwiseConv2D((3, 2), strides=strides, padding=padding, dilation_rate=dilation, depth_multiplier=dm)
    x = rng.standard_normal((1, 7, 5, 3))
    layer.build(x.shape)
    k, b = rng.standard_normal((3, 2, 3, dm)), rng.standard_normal(3 * dm)

    def fn(x, k, b):
        layer.kernel, layer.bias = k, b
        return layer.call(x)
    check_op(fn, lambda x, k, b: _depthwise_ref(x, k, strides, padding, dilation) + b, [x, k, b])
    assert fn(Tensor(x), Tensor(k), Tensor(b)).shape == layer.compute_output_shape(x.shape)


def test_separable_matches_reference_and_gradients():
    rng = np.random.default_rng(1)
    layer = L.SeparableConv2D(5, 3, strides=2, padding="same", depth_multiplier=2, activation="tanh")
    x = rng.standard_normal((2, 7, 5, 3))
    layer.build(x.shape)
    dk, pk, b = rng.standard_normal((3, 3, 3, 2)), rng.standard_normal((1, 1, 6, 5)), rng.standard_normal(5)

    def fn(x, dk, pk, b):
        layer.depthwise_kernel, layer.pointwise_kernel, layer.bias = dk, pk, b
        return layer.call(x)

    def ref(x, dk, pk, b):
        return np.tanh(_depthwise_ref(x, dk, (2, 2), "same", (1, 1)) @ pk[0, 0] + b)
    check_op(fn, ref, [x, dk, pk, b])


@pytest.mark.parametrize("padding,strides,dilation", [("valid", 1, 1), ("same", 2, 1), ("same", 1, 3)])
def test_1d_depthwise_and_separable_match_reference(padding, strides, dilation):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 11, 3))
    dw = L.DepthwiseConv1D(3, strides=strides, padding=padding, dilation_rate=dilation, depth_multiplier=2)
    dw.build(x.shape)
    k, b = rng.standard_normal((3, 3, 2)), rng.standard_normal(6)

    def depthwise(x, k, b):
        dw.kernel, dw.bias = k, b
        return dw.call(x)
    check_op(depthwise, lambda x, k, b: _depthwise_ref(x, k, (strides,), padding, (dilation,)) + b, [x, k, b])
    sep = L.SeparableConv1D(4, 3, strides=strides, padding=padding, dilation_rate=dilation)
    sep.build(x.shape)
    dk, pk = rng.standard_normal((3, 3, 1)), rng.standard_normal((1, 3, 4))

    def separable(x, dk, pk, b):
        sep.depthwise_kernel, sep.pointwise_kernel, sep.bias = dk, pk, b
        return sep.call(x)
    check_op(separable, lambda x, dk, pk, b: _depthwise_ref(x, dk, (strides,), padding, (dilation,)) @ pk[0] + b,
             [x, dk, pk, b[:4]])
    assert separable(Tensor(x), Tensor(dk), Tensor(pk), Tensor(b[:4])).shape == sep.compute_output_shape(x.shape)


@pytest.mark.parametrize("strides,padding,dilation,groups", [((1, 1, 1), "valid", (1, 1, 1), 1),
                                                             ((2, 1, 2), "same", (1, 1, 1), 1),
                                                             ((1, 2, 1), "same", (2, 1, 1), 2)])
def test_conv3d_matches_reference_and_gradients(strides, padding, dilation, groups):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 5, 4, 3, 2))
    w, b = rng.standard_normal((3, 2, 2, 2 // groups, 4)), rng.standard_normal(4)
    check_op(lambda x, w, b: conv3d(x, w, b, strides, padding, dilation, groups),
             lambda x, w, b: _conv_ref(x, w, strides, padding, dilation, groups) + b, [x, w, b])


def test_conv3d_layer_channels_first_and_shapes():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 6, 7, 3)).astype(np.float32)
    last = L.Conv3D(4, (2, 3, 3), strides=(1, 2, 2), padding="same", activation="relu")
    y = last(x)
    assert y.shape == last.compute_output_shape(x.shape) == (2, 5, 3, 4, 4)
    assert last.compute_output_shape((None, None, 6, 7, 3)) == (None, None, 3, 4, 4)
    first = L.Conv3D(4, (2, 3, 3), strides=(1, 2, 2), padding="same", activation="relu", data_format="channels_first")
    first.build((2, 3, 5, 6, 7))
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(first(np.moveaxis(x, -1, 1)).numpy(), np.moveaxis(y.numpy(), -1, 1), rtol=1e-5,
                               atol=1e-6)


def _pool3d_ref(x, size, strides, padding, kind):
    """Window by window; "same" windows cover only the cells inside the input."""
    sp = x.shape[1:4]
    pads = _same_pads(sp, size, strides, (1, 1, 1)) if padding == "same" else [(0, 0)] * 3
    outs = [(n + lo + hi - k) // s + 1 for n, (lo, hi), k, s in zip(sp, pads, size, strides)]
    out = np.zeros((x.shape[0], *outs, x.shape[4]))
    for o in np.ndindex(*outs):
        sl = tuple(slice(max(i * s - lo, 0), min(i * s - lo + k, n))
                   for i, s, (lo, _), k, n in zip(o, strides, pads, size, sp))
        win = x[(slice(None),) + sl]
        out[(slice(None),) + o] = win.max(axis=(1, 2, 3)) if kind == "max" else win.mean(axis=(1, 2, 3))
    return out


@pytest.mark.parametrize("size,strides,padding", [((2, 2, 2), None, "valid"), ((3, 2, 1), (2, 1, 1), "same"),
                                                  ((2, 3, 2), (1, 2, 3), "same")])
def test_pool3d_match_reference_and_gradients(size, strides, padding):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 7, 3, 2))
    st = strides or size
    check_op(lambda x: avg_pool3d(x, size, strides, padding), lambda x: _pool3d_ref(x, size, st, padding, "avg"), [x])
    check_op(lambda x: max_pool3d(x, size, strides, padding), lambda x: _pool3d_ref(x, size, st, padding, "max"), [x])
    for cls in (L.MaxPooling3D, L.AveragePooling3D):
        layer = cls(size, strides, padding)
        assert layer(x.astype(np.float32)).shape == layer.compute_output_shape(x.shape)


def test_global_pooling3d():
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(L.GlobalAveragePooling3D()(x).numpy(), x.mean(axis=(1, 2, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(L.GlobalMaxPooling3D(keepdims=True)(x).numpy(), x.max(axis=(1, 2, 3), keepdims=True))
    assert L.GlobalAveragePooling3D(data_format="channels_first").compute_output_shape((None, 6, 3, 4, 5)) == (None, 6)


def test_parameter_counts_follow_keras_formulas():
    """Keras: depthwise kh*kw*C*dm (+ C*dm bias); separable kh*kw*C*dm + C*dm*filters
    (+ filters); Conv3D kd*kh*kw*C*filters (+ filters). MobileNet's first depthwise block
    (3x3 on 32 channels, no bias) has 288 parameters."""
    cases = [(L.DepthwiseConv2D(3, use_bias=False), (None, 112, 112, 32), 288),
             (L.DepthwiseConv2D((3, 5), depth_multiplier=4), (None, 9, 9, 7), 3 * 5 * 7 * 4 + 28),
             (L.SeparableConv2D(64, 3), (None, 9, 9, 32), 3 * 3 * 32 + 32 * 64 + 64),
             (L.SeparableConv2D(16, (1, 3), depth_multiplier=2, use_bias=False), (None, 9, 9, 5), 15 * 2 + 10 * 16),
             (L.DepthwiseConv1D(5, depth_multiplier=3), (None, 20, 4), 5 * 4 * 3 + 12),
             (L.SeparableConv1D(8, 3), (None, 20, 4), 3 * 4 + 4 * 8 + 8),
             (L.Conv3D(64, 3), (None, 8, 8, 8, 1), 27 * 64 + 64), (L.Conv3D(6, (1, 2, 3), groups=3), (None, 4, 4, 4, 9),
                                                                    6 * 3 * 6 + 6)]
    for layer, shape, want in cases:
        layer.build(shape)
        assert layer.count_params() == want, type(layer).__name__


def test_new_conv_layers_survive_save_and_load(tmp_path):
    rng = np.random.default_rng(6)
    cases = [(L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu"), (7, 5, 3)),
             (L.SeparableConv2D(4, (3, 2), dilation_rate=(1, 2), depth_multiplier=3, use_bias=False), (7, 6, 2)),
             (L.Conv3D(3, (2, 3, 1), strides=(1, 1, 2), padding="same", groups=1), (4, 5, 6, 2)),
             (L.DepthwiseConv1D(3, padding="same", depth_multiplier=2), (9, 3)),
             (L.SeparableConv1D(5, 2, strides=2, activation="tanh"), (9, 3)),
             (L.MaxPooling3D((2, 2, 1), strides=(1, 2, 1), padding="same"), (4, 5, 3, 2)),
             (L.AveragePooling3D(2, padding="same"), (5, 5, 3, 2)), (L.GlobalMaxPooling3D(keepdims=True), (3, 4, 5, 2))]
    for i, (layer, shape) in enumerate(cases):
        inp = ember.Input(shape=shape)
        m = ember.Model(inp, layer(inp))
        m.set_weights([rng.standard_normal(w.shape) for w in m.get_weights()])
        m.save(str(tmp_path / f"{i}.npz"))
        m2 = ember.models.load_model(str(tmp_path / f"{i}.npz"))
        assert type(m2.layers[-1]) is type(layer)
        assert json.dumps(m2.layers[-1].get_config()) == json.dumps(layer.get_config())
        x = rng.standard_normal((2,) + shape).astype(np.float32)
        np.testing.assert_array_equal(m2.predict(x), m.predict(x), err_msg=type(layer).__name__)


def test_bad_inputs_name_the_layer_and_the_shapes():
    x4 = np.zeros((2, 5, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"DepthwiseConv2D layer .* 4-D input .*Received: shape=\(2, 5, 3\)"):
        L.DepthwiseConv2D(3)(np.zeros((2, 5, 3), np.float32))
    sep = L.SeparableConv2D(2, 3)
    sep(x4)
    with pytest.raises(ValueError, match=r"SeparableConv2D layer .* built for 3 input channels .*Received"):
        sep(np.zeros((2, 5, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"Conv3D layer .* 5-D input .*Received: shape=\(2, 5, 5, 3\)"):
        L.Conv3D(2, 3)(x4)
    with pytest.raises(ValueError, match=r"MaxPooling3D layer .* 5-D input .*Received"):
        L.MaxPooling3D()(x4)
    with pytest.raises(ValueError, match=r"conv3d.*larger than the padded input depth.*Received"):
        conv3d(np.zeros((1, 2, 5, 5, 1)), np.zeros((3, 1, 1, 1, 1)))
    with pytest.raises(ValueError, match=r"depth_multiplier must be a positive integer. Received"):
        L.DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match=r"Conv3D layer .*padding must be one of 'valid', 'same'. Received"):
        L.Conv3D(2, 3, padding="causal")


def test_keras_alias_names():
    assert L.MaxPool3D is L.MaxPooling3D and L.AvgPool2D is L.AveragePooling2D
    assert L.GlobalAvgPool3D is L.GlobalAveragePooling3D and L.GlobalMaxPool1D is L.GlobalMaxPooling1D
    assert L.Convolution3D is L.Conv3D and L.SeparableConvolution2D is L.SeparableConv2D


def test_depthwise_and_separable_channels_first_match_channels_last():
    x = np.random.default_rng(11).standard_normal((2, 7, 5, 3)).astype(np.float32)
    for make in (lambda df: L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, data_format=df),
                 lambda df: L.SeparableConv2D(4, 3, padding="same", depth_multiplier=2, data_format=df)):
        last, first = make("channels_last"), make("channels_first")
        y = last(x)
        first.build((2, 3, 7, 5))
        first.set_weights(last.get_weights())
        got = first(np.moveaxis(x, -1, 1))
        np.testing.assert_allclose(got.numpy(), np.moveaxis(y.numpy(), -1, 1), rtol=1e-5, atol=1e-6)
        assert got.shape == first.compute_output_shape((2, 3, 7, 5))
