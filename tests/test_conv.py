"""conv2d / conv1d: forward vs a NumPy im2col reference and the C++ naive oracle, float64
finite-difference gradients (stride 1/2, valid/same, dilation 2, groups 2, both layouts),
determinism across thread counts, and clear errors for bad input."""
import numpy as np
import pytest

import ember
from ember import _C
from ember import functional as F
from ember.layers import Conv1D, Conv2D
from ember.ops.conv import padding_amounts
from ember.testing import gradcheck


def ref_conv2d(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), groups=1):
    """NumPy reference: sliding windows over the zero-padded NHWC input, one matmul per group."""
    x = np.pad(x, ((0, 0), (pads[0], pads[1]), (pads[2], pads[3]), (0, 0)))
    KH, KW, Cg, OC = w.shape
    eh, ew = dil[0] * (KH - 1) + 1, dil[1] * (KW - 1) + 1
    win = np.lib.stride_tricks.sliding_window_view(x, (eh, ew), axis=(1, 2))  # N, OH', OW', C, eh, ew
    win = win[:, ::strides[0], ::strides[1], :, ::dil[0], ::dil[1]]
    OCg = OC // groups
    outs = []
    for g in range(groups):
        p = win[:, :, :, g * Cg:(g + 1) * Cg].transpose(0, 1, 2, 4, 5, 3)  # N, OH, OW, KH, KW, Cg
        outs.append(np.einsum("nhwijc,ijco->nhwo", p, w[..., g * OCg:(g + 1) * OCg]))
    y = np.concatenate(outs, axis=-1)
    return y + b if b is not None else y


CASES = [
    # N, H, W, C, KH, KW, OC, strides, padding, dilation, groups
    (2, 7, 9, 3, 3, 2, 5, (1, 1), "valid", (1, 1), 1),
    (3, 11, 8, 4, 3, 3, 6, (2, 1), "same", (1, 1), 2),
    (1, 13, 13, 1, 3, 3, 32, (1, 1), "valid", (1, 1), 1),   # the MNIST layer (small-K kernel)
    (2, 5, 5, 7, 1, 1, 3, (1, 1), "valid", (1, 1), 1),      # 1x1: x is the im2col matrix
    (2, 9, 10, 3, 3, 3, 37, (2, 2), "same", (2, 2), 1),     # odd filter count, dilation
    (1, 6, 6, 2, 5, 5, 4, (1, 1), ((2, 1), (0, 3)), (1, 1), 1),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_numpy(case, dtype):
    N, H, W, C, KH, KW, OC, st, pad, dil, g = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, H, W, C)).astype(dtype)
    w = rng.standard_normal((KH, KW, C // g, OC)).astype(dtype)
    b = rng.standard_normal(OC).astype(dtype)
    pads = padding_amounts(pad, (H, W), (KH, KW), st, dil)
    want = ref_conv2d(x.astype(np.float64), w.astype(np.float64), b, st, pads, dil, g)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    got = F.conv2d(x, w, b, st, pad, dil, g).numpy()
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(_C.conv2d_naive(x, w, b, st, pads, dil, g), want, rtol=tol, atol=tol)
    relu = F.conv2d(x, w, b, st, pad, dil, g, activation="relu").numpy()
    np.testing.assert_allclose(relu, np.maximum(want, 0), rtol=tol, atol=tol)


def test_non_contiguous_and_channels_first_forward():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 8, 7))  # NCHW
    w = rng.standard_normal((3, 3, 3, 5))
    y = F.conv2d(x, w, None, padding="same", data_format="channels_first").numpy()
    want = ref_conv2d(x.transpose(0, 2, 3, 1), w, None, (1, 1), (1, 1, 1, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, want, atol=1e-10)
    xs = rng.standard_normal((2, 9, 16, 3))[:, ::1, ::2]  # non-contiguous view
    np.testing.assert_allclose(F.conv2d(xs, w).numpy(), ref_conv2d(np.ascontiguousarray(xs), w), atol=1e-10)


GRAD_CASES = [
    dict(strides=1, padding="valid"),
    dict(strides=2, padding="valid"),
    dict(strides=1, padding="same"),
    dict(strides=2, padding="same"),
    dict(dilation_rate=2, padding="same"),
    dict(groups=2, strides=(2, 1), padding="same"),
    dict(activation="relu", padding=((1, 0), (2, 1))),
    dict(data_format="channels_first", strides=2, padding="same"),
    dict(data_format="channels_first", groups=2, dilation_rate=(2, 1)),
]


@pytest.mark.parametrize("kw", GRAD_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_gradcheck(kw):
    rng = np.random.default_rng(2)
    C, OC, g = 4, 6, kw.get("groups", 1)
    shape = (2, C, 5, 6) if kw.get("data_format") == "channels_first" else (2, 5, 6, C)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((3, 2, C // g, OC))
    b = rng.standard_normal(OC)
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b])


def test_gradcheck_small_k_and_1x1():
    rng = np.random.default_rng(3)
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, activation="relu"),
              [rng.standard_normal((2, 6, 5, 1)), rng.standard_normal((3, 3, 1, 9)), rng.standard_normal(9)])
    gradcheck(lambda x, w: F.conv2d(x, w), [rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((1, 1, 5, 3))])


def test_float32_small_k_backward_matches_float64():
    # the AVX2 small-K weight-gradient kernel (float32 only) against the float64 path
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 12, 11, 1))
    w = rng.standard_normal((3, 3, 1, 35))
    dy = rng.standard_normal((5, 10, 9, 35))
    y64 = _C.conv2d_forward(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1, 1)
    y32 = _C.conv2d_forward(x.astype(np.float32), w.astype(np.float32), None, (1, 1), (0, 0, 0, 0), (1, 1), 1, 1)
    r64 = _C.conv2d_backward(x, w, dy, y64, (1, 1), (0, 0, 0, 0), (1, 1), 1, 1, True, True, True)
    r32 = _C.conv2d_backward(x.astype(np.float32), w.astype(np.float32), dy.astype(np.float32), y32,
                             (1, 1), (0, 0, 0, 0), (1, 1), 1, 1, True, True, True)
    for a, b in zip(r32, r64):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


def test_deterministic_across_thread_counts():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((17, 12, 12, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 8)).astype(np.float32)
    dy = rng.standard_normal((17, 12, 12, 8)).astype(np.float32)
    prev = ember.get_num_threads()
    res = []
    try:
        for n in (1, 2, 3):
            ember.set_num_threads(n)
            y = _C.conv2d_forward(x, w, None, (1, 1), (1, 1, 1, 1), (1, 1), 1, 0)
            res.append((y,) + tuple(_C.conv2d_backward(x, w, dy, None, (1, 1), (1, 1, 1, 1), (1, 1), 1, 0,
                                                       True, True, True)))
    finally:
        ember.set_num_threads(prev)
    for r in res[1:]:
        for a, b in zip(res[0], r):
            np.testing.assert_array_equal(a, b)


def test_conv1d_forward_and_grad():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 9, 3))
    w = rng.standard_normal((3, 3, 4))
    y = F.conv1d(x, w, padding="causal", dilation_rate=2).numpy()
    xp = np.pad(x, ((0, 0), (4, 0), (0, 0)))
    want = sum(np.einsum("nlc,co->nlo", xp[:, 2 * k:2 * k + 9], w[k]) for k in range(3))
    np.testing.assert_allclose(y, want, atol=1e-10)
    gradcheck(lambda x, w: F.conv1d(x, w, strides=2, padding="same"), [x, w])
    layer = Conv1D(5, 3, padding="same", activation="relu")
    out = layer(rng.standard_normal((2, 7, 3)).astype(np.float32))
    assert out.shape == (2, 7, 5) == layer.compute_output_shape((2, 7, 3))
    assert layer.kernel.shape == (3, 3, 5)


def test_conv2d_layer_keras_defaults_and_shapes():
    layer = Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1))
    x = ember.Tensor(np.random.default_rng(7).random((4, 28, 28, 1)), dtype="float32")
    y = layer(x)
    assert y.shape == (4, 26, 26, 32)
    assert layer.kernel.shape == (3, 3, 1, 32) and layer.bias.shape == (32,)
    assert (y.numpy() >= 0).all()
    assert len(layer.trainable_variables) == 2
    assert layer.compute_output_shape((None, 28, 28, 1)) == (None, 26, 26, 32)
    s = Conv2D(8, 3, strides=2, padding="same", data_format="channels_first")
    assert s(np.zeros((1, 3, 9, 9), np.float32)).shape == (1, 8, 5, 5)
    assert s.compute_output_shape((None, 3, 9, 9)) == (None, 8, 5, 5)
    g = Conv2D(6, 3, groups=2, dilation_rate=2, padding="same", activation="tanh", use_bias=False)
    assert g(np.ones((1, 8, 8, 4), np.float32)).shape == (1, 8, 8, 6)
    assert g.kernel.shape == (3, 3, 2, 6) and g.bias is None


def test_conv2d_layer_trains_with_grad():
    rng = np.random.default_rng(8)
    layer = Conv2D(4, 3, padding="same", activation="relu")
    x = ember.Tensor(rng.standard_normal((3, 6, 6, 2)), dtype="float32")
    loss = (layer(x) * layer(x)).mean()
    gk, gb = ember.grad(loss, [layer.kernel, layer.bias])
    assert gk.shape == layer.kernel.shape and gb.shape == layer.bias.shape
    assert np.abs(gk.numpy()).sum() > 0


def test_bad_input_errors():
    layer = Conv2D(4, (3, 3), name="c2")
    with pytest.raises(ValueError, match=r"Conv2D layer 'c2' expects a 4-D input .*shape=\(28, 28, 1\)"):
        layer(np.zeros((28, 28, 1), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D layer 'c3'.*larger than the padded input"):
        Conv2D(4, (5, 5), name="c3")(np.zeros((1, 3, 3, 1), np.float32))
    with pytest.raises(ValueError, match=r"strides"):
        Conv2D(4, 3, strides=-1)
    layer = Conv2D(4, 3, name="c4")
    layer(np.zeros((1, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D layer 'c4' was built for 2 input channels.*3"):
        layer(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"conv2d: the kernel expects 2 input channels but the input has 3"):
        F.conv2d(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 2, 4)))
    with pytest.raises(ValueError, match=r"divisible by groups"):
        Conv2D(4, 3, groups=2)(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"padding"):
        Conv2D(4, 3, padding="full")
    # the binding checks too (never a crash)
    with pytest.raises(ValueError, match=r"conv2d: 'x' must be 4-D"):
        _C.conv2d_forward(np.zeros((3, 3, 1), np.float32), np.zeros((1, 1, 1, 1), np.float32), None,
                          (1, 1), (0, 0, 0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match=r"strides must be two integers >= 1"):
        _C.conv2d_forward(np.zeros((1, 3, 3, 1), np.float32), np.zeros((1, 1, 1, 1), np.float32), None,
                          (0, 1), (0, 0, 0, 0), (1, 1), 1)
    with pytest.raises(TypeError):
        _C.conv2d_forward(np.zeros((1, 3, 3, 1), np.float32), np.zeros((1, 1, 1, 1), np.float64), None,
                          (1, 1), (0, 0, 0, 0), (1, 1), 1)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 9, 8, 4))
    w = rng.standard_normal((3, 3, 2, 6))
    y = F.conv2d(x, w, None, strides=2, padding=1, dilation_rate=1, groups=2).numpy()
    t = torch.nn.functional.conv2d(torch.tensor(x).permute(0, 3, 1, 2), torch.tensor(w).permute(3, 2, 0, 1),
                                   stride=2, padding=1, groups=2).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(y, t, atol=1e-10)


@pytest.fixture(params=["auto", "portable"])
def kernel_path(request):
    """Run on the AVX2 kernels (where the CPU has them) and on the portable path."""
    _C.set_kernel_path(request.param)
    yield request.param
    _C.set_kernel_path("auto")

C1_CASES = [
    # N, H, W, KH, KW, OC, strides, dilation, act, bias  (one input channel, no padding, OC % 8 == 0:
    # the AVX2 direct kernels, no im2col; elsewhere the generic path)
    (3, 28, 28, 3, 3, 32, (1, 1), (1, 1), 1, True),     # the MNIST layer
    (2, 13, 11, 3, 3, 8, (1, 1), (1, 1), 0, False),
    (5, 17, 19, 5, 2, 40, (2, 1), (1, 2), 1, True),     # 4 + 1 vectors, strided, dilated
    (1, 9, 7, 1, 1, 24, (1, 2), (1, 1), 1, False),
    (2, 30, 29, 4, 4, 16, (3, 2), (1, 1), 0, True),     # bottom / right rows unused
]


@pytest.mark.parametrize("case", C1_CASES)
def test_one_channel_direct_forward_and_weight_grad(case, kernel_path):
    N, H, W, KH, KW, OC, st, dil, act, use_b = case
    rng = np.random.default_rng(11)
    x = rng.standard_normal((N, H, W, 1))
    w = rng.standard_normal((KH, KW, 1, OC))
    b = rng.standard_normal(OC) if use_b else None
    want = ref_conv2d(x, w, b, st, (0, 0, 0, 0), dil)
    if act:
        want = np.maximum(want, 0)
    f32 = lambda a: None if a is None else a.astype(np.float32)  # noqa: E731
    y = _C.conv2d_forward(f32(x), f32(w), f32(b), st, (0, 0, 0, 0), dil, 1, act)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    dy = rng.standard_normal(y.shape)
    g = dy * (want > 0) if act else dy
    eh, ew = dil[0] * (KH - 1) + 1, dil[1] * (KW - 1) + 1
    win = np.lib.stride_tricks.sliding_window_view(x[..., 0], (eh, ew), axis=(1, 2))
    win = win[:, ::st[0], ::st[1], ::dil[0], ::dil[1]][:, :y.shape[1], :y.shape[2]]
    dw_want = np.einsum("nhwij,nhwo->ijo", win, g)[:, :, None, :]
    db_want = g.sum(axis=(0, 1, 2))
    for need_dx in (False, True):  # with dx the generic small-K path computes dw, db
        dx, dw, db = _C.conv2d_backward(f32(x), f32(w), f32(dy), y if act else None, st, (0, 0, 0, 0), dil, 1,
                                        act, need_dx, True, True)
        assert (dx is None) == (not need_dx)
        np.testing.assert_allclose(dw, dw_want, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(db, db_want, rtol=1e-4, atol=1e-3)
    _, dw_only, db_none = _C.conv2d_backward(f32(x), f32(w), f32(dy), y if act else None, st, (0, 0, 0, 0), dil,
                                             1, act, False, True, False)
    assert db_none is None
    np.testing.assert_allclose(dw_only, dw_want, rtol=1e-4, atol=1e-3)
    _, dw_none, db_only = _C.conv2d_backward(f32(x), f32(w), f32(dy), y if act else None, st, (0, 0, 0, 0), dil,
                                             1, act, False, False, True)
    assert dw_none is None
    np.testing.assert_allclose(db_only, db_want, rtol=1e-4, atol=1e-3)


def test_one_channel_direct_deterministic_across_thread_counts(kernel_path):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((31, 28, 28, 1)).astype(np.float32)   # several chunks of images
    w = rng.standard_normal((3, 3, 1, 32)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    dy = rng.standard_normal((31, 26, 26, 32)).astype(np.float32)
    prev = ember.get_num_threads()
    res = []
    try:
        for n in (1, 2, 3):
            ember.set_num_threads(n)
            y = _C.conv2d_forward(x, w, b, (1, 1), (0, 0, 0, 0), (1, 1), 1, 1)
            res.append((y,) + tuple(_C.conv2d_backward(x, w, dy, y, (1, 1), (0, 0, 0, 0), (1, 1), 1, 1,
                                                       False, True, True))[1:])
    finally:
        ember.set_num_threads(prev)
    for r in res[1:]:
        for a, b_ in zip(res[0], r):
            np.testing.assert_array_equal(a, b_)
