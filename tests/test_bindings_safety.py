"""Bindings that must raise a clear Python error, never crash or answer wrongly: optional
array arguments of the wrong type, unaligned or overlapping buffers, out-of-range sizes
(issue 10: D1, D2, D3, D10, D14). The fuzz harness (tests/fuzz/) covers the same ground at
random; these are the named regressions."""
import numpy as np
import pytest

import ember
from ember import _C

F32 = np.float32
NOT_ARRAYS = [3, F32(1.0), [1.0, 2.0], "x", 2.5]


def _optional_slots():
    """(name, call) for every optional array argument of every binding; call(v) passes v there."""
    x = np.ones((2, 3), F32)
    b = np.ones(3, F32)
    p, g = np.ones(4, F32), np.ones(4, F32)
    st = lambda: np.zeros(4, F32)  # noqa: E731
    x4 = np.ones((1, 4, 4, 2), F32)
    w4 = np.ones((2, 2, 2, 3), F32)
    y4 = np.ones((1, 3, 3, 3), F32)
    q = np.ones((1, 1, 2, 4), F32)
    xs, W, R, h0 = np.ones((2, 3, 4), F32), np.ones((4, 5), F32), np.ones((5, 5), F32), np.zeros((2, 5), F32)
    bn = np.ones((4, 3), F32)
    return [
        ("gemm.out", lambda v: _C.gemm(x, x.T, out=v)),
        ("gemm_batched.out", lambda v: _C.gemm_batched(x[None], x.T[None], out=v)),
        ("bias_act_forward.b", lambda v: _C.bias_act_forward(x, v, 1)),
        ("bias_act_forward.out", lambda v: _C.bias_act_forward(x, b, 1, 0.0, v)),
        ("bias_act_backward.y", lambda v: _C.bias_act_backward(x, v, x, b, 1)),
        ("bias_act_backward.x", lambda v: _C.bias_act_backward(x, x, v, b, 4)),
        ("bias_act_backward.b", lambda v: _C.bias_act_backward(x, x, x, v, 1)),
        ("sgd_update.momentum", lambda v: _C.sgd_update(p, g, v, 0.1, 0.9, False, 0.0)),
        ("adam_update.m", lambda v: _C.adam_update(p, g, v, st(), None, 0.1, 0.1, 0.9, 0.99, 1e-7, 0.0)),
        ("adam_update.v", lambda v: _C.adam_update(p, g, st(), v, None, 0.1, 0.1, 0.9, 0.99, 1e-7, 0.0)),
        ("adam_update.vhat", lambda v: _C.adam_update(p, g, st(), st(), v, 0.1, 0.1, 0.9, 0.99, 1e-7, 0.0)),
        ("rmsprop_update.v", lambda v: _C.rmsprop_update(p, g, v, None, None, 0.1, 0.9, 0.0, 1e-7, 0.0)),
        ("rmsprop_update.momentum", lambda v: _C.rmsprop_update(p, g, st(), v, None, 0.1, 0.9, 0.9, 1e-7, 0.0)),
        ("rmsprop_update.average_grad",
         lambda v: _C.rmsprop_update(p, g, st(), None, v, 0.1, 0.9, 0.0, 1e-7, 0.0)),
        ("conv2d_forward.b", lambda v: _C.conv2d_forward(x4, w4, v, [1, 1], [0, 0, 0, 0], [1, 1], 1)),
        ("conv2d_forward.out", lambda v: _C.conv2d_forward(x4, w4, None, [1, 1], [0, 0, 0, 0], [1, 1], 1, 0, v)),
        ("conv2d_backward.y", lambda v: _C.conv2d_backward(x4, w4, y4, v, [1, 1], [0, 0, 0, 0], [1, 1], 1, 1,
                                                           True, True, True)),
        ("conv2d_naive.b", lambda v: _C.conv2d_naive(x4, w4, v, [1, 1], [0, 0, 0, 0], [1, 1], 1)),
        ("batch_norm_forward_train.gamma", lambda v: _C.batch_norm_forward_train(bn, v, None, None, None, 1e-3, 0.9)),
        ("batch_norm_forward_train.beta", lambda v: _C.batch_norm_forward_train(bn, None, v, None, None, 1e-3, 0.9)),
        ("batch_norm_forward_train.running_mean",
         lambda v: _C.batch_norm_forward_train(bn, None, None, v, None, 1e-3, 0.9)),
        ("batch_norm_forward_train.running_var",
         lambda v: _C.batch_norm_forward_train(bn, None, None, None, v, 1e-3, 0.9)),
        ("batch_norm_forward_infer.gamma",
         lambda v: _C.batch_norm_forward_infer(bn, v, None, np.zeros(3, F32), np.ones(3, F32), 1e-3)),
        ("batch_norm_backward_train.gamma",
         lambda v: _C.batch_norm_backward_train(bn, bn, v, np.zeros(3, F32), np.ones(3, F32))),
        ("attention_forward.mask", lambda v: _C.attention_forward(q, q, q, v)),
        ("attention_forward_naive.mask", lambda v: _C.attention_forward_naive(q, q, q, v)),
        ("attention_backward.mask", lambda v: _C.attention_backward(q, q, q, q, q, np.zeros((1, 1, 2), F32), v)),
        ("simple_rnn_forward.mask", lambda v: _C.simple_rnn_forward(xs, W, R, np.zeros(5, F32), h0, v)),
        ("simple_rnn_forward.recurrent_mask",
         lambda v: _C.simple_rnn_forward(xs, W, R, np.zeros(5, F32), h0, None, v)),
    ]


SLOTS = _optional_slots()


@pytest.mark.parametrize("name,call", SLOTS, ids=[s[0] for s in SLOTS])
@pytest.mark.parametrize("value", NOT_ARRAYS, ids=lambda v: type(v).__name__)
def test_optional_array_of_wrong_type_is_a_type_error(name, call, value):
    _, arg = name.split(".")
    with pytest.raises(TypeError, match=rf"\w.*: '{arg}' must be an array \(numpy\.ndarray\) or None\. "
                                        rf"Received: {type(value).__name__}"):
        call(value)


def test_the_two_crashes_of_the_issue_raise():
    a = np.ones((2, 2), F32)
    with pytest.raises(TypeError, match="gemm: 'out' must be an array \\(numpy.ndarray\\) or None. Received: int"):
        _C.gemm(a, a, out=3)
    with pytest.raises(TypeError, match=r"bias_act_forward\[relu\]: 'b' .* Received: float32"):
        _C.bias_act_forward(a, F32(1), 1)


def _unaligned(shape, dtype=F32):
    n = int(np.prod(shape))
    buf = np.zeros(n * np.dtype(dtype).itemsize + 1, np.uint8)
    a = buf[1:].view(dtype).reshape(shape)
    assert not a.flags.aligned
    return a


def test_unaligned_operands_are_rejected_or_copied():
    x = _unaligned((4, 8))
    x[...] = np.arange(32).reshape(4, 8)
    with pytest.raises(ValueError, match="softmax: 'x' must be aligned"):
        _C.softmax_forward(x)
    with pytest.raises(ValueError, match="'out' must be aligned"):
        _C.gemm(np.ones((4, 8), F32), np.ones((8, 8), F32), out=x)
    # gemm copies an operand it cannot use in place: an unaligned one gives the right product
    b = np.arange(64, dtype=F32).reshape(8, 8) / 64
    np.testing.assert_allclose(_C.gemm(x, b), np.asarray(x, np.float64) @ b, rtol=1e-5)


def test_out_sharing_memory_with_an_input_is_rejected():
    a = np.ones((4, 4), F32)
    with pytest.raises(ValueError, match="gemm: 'out' shares memory with the input 'a'"):
        _C.gemm(a, np.ones((4, 4), F32), out=a)
    big = np.ones((3, 4, 4), F32)
    with pytest.raises(ValueError, match="gemm_batched: 'out' shares memory with the input 'b'"):
        _C.gemm_batched(np.ones((3, 4, 4), F32), big, out=big)
    x4, w4 = np.ones((1, 3, 3, 2), F32), np.ones((1, 1, 2, 2), F32)
    with pytest.raises(ValueError, match="conv2d: 'out' shares memory with the input 'x'"):
        _C.conv2d_forward(x4, w4, None, [1, 1], [0, 0, 0, 0], [1, 1], 1, 0, x4)
    # bias_act_forward: out = x is the supported in-place form; a shifted view of x is not
    x = np.arange(12, dtype=F32).reshape(3, 4)
    want = np.maximum(x + 1, 0)
    _C.bias_act_forward(x, np.ones(4, F32), 1, 0.0, x)
    np.testing.assert_array_equal(x, want)
    flat = np.zeros(13, F32)
    with pytest.raises(ValueError, match="'out' shares memory with the input 'x'"):
        _C.bias_act_forward(flat[:12].reshape(3, 4), None, 0, 0.0, flat[1:].reshape(3, 4))
    b = np.ones(4, F32)
    with pytest.raises(ValueError, match="'out' shares memory with the input 'b'"):
        _C.bias_act_forward(np.ones((1, 4), F32), b, 0, 0.0, b.reshape(1, 4))


def test_batch_norm_running_stats_must_not_alias():
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(F32)
    r = np.zeros(3, F32)
    with pytest.raises(ValueError, match="'running_mean' and 'running_var' share memory"):
        _C.batch_norm_forward_train(x, None, None, r, r, 1e-3, 0.9)
    with pytest.raises(ValueError, match="'running_mean' shares memory with the input 'x'"):
        _C.batch_norm_forward_train(x, None, None, x[0], None, 1e-3, 0.9)


@pytest.mark.parametrize("kw", [dict(strides=[2**31, 1]), dict(pads=[0, 2**40, 0, 0]), dict(dilation=[1, 2**62])])
def test_conv_geometry_out_of_range_is_a_value_error(kw):
    args = dict(strides=[1, 1], pads=[0, 0, 0, 0], dilation=[1, 1])
    args.update(kw)
    with pytest.raises(ValueError, match=r"< 2\^31"):
        _C.conv2d_forward(np.ones((1, 3, 3, 1), F32), np.ones((1, 1, 1, 1), F32), None,
                          args["strides"], args["pads"], args["dilation"], 1)


def test_conv_groups_beyond_the_channels_is_a_value_error():
    with pytest.raises(ValueError, match="groups must divide"):
        _C.conv2d_forward(np.ones((1, 3, 3, 0), F32), np.ones((1, 1, 0, 0), F32), None,
                          [1, 1], [0, 0, 0, 0], [1, 1], 2**62)


def test_pool_backward_x_shape_must_be_sizes():
    dy = np.ones((1, 1, 1, 1), F32)
    with pytest.raises(ValueError, match="x_shape must be four sizes"):
        _C.avg_pool2d_backward(dy, [1, -1, 3, 1], [3, 3], [1, 1], [2, 2, 1, 1])
    with pytest.raises(ValueError, match="x_shape must be four sizes"):
        _C.avg_pool2d_backward(np.ones((1, 1, 1, 0), F32), [1, 2**62, 2**62, 0], [2**30, 2**30],
                               [2**30, 2**30], [0, 0, 0, 0])


def _adam(p, g, m, v, vhat=None):
    _C.adam_update(p, g, m, v, vhat, 0.1, 0.1, 0.9, 0.99, 1e-7, 0.0)


def test_optimizer_state_buffers_must_not_alias():
    p, g = np.ones(4, F32), np.ones(4, F32)
    v = np.zeros(4, F32)
    with pytest.raises(ValueError, match="adam_update: 'm' and 'v' share memory"):
        _adam(p, g, v, v)
    with pytest.raises(ValueError, match="adam_update: 'param' and 'm' share memory"):
        _adam(p, g, p, v)
    with pytest.raises(ValueError, match="adam_update: 'v' shares memory with the input 'grad'"):
        _adam(p, g, np.zeros(4, F32), g)
    with pytest.raises(ValueError, match="adam_update: 'param' shares memory with the input 'grad'"):
        _adam(p, p, np.zeros(4, F32), np.zeros(4, F32))
    both = np.zeros(8, F32)  # two halves of one buffer are separate memory: allowed
    _adam(p, g, both[:4], both[4:])
    with pytest.raises(ValueError, match="'m' and 'vhat' share memory"):  # partial overlap
        _adam(p, g, both[:4], np.zeros(4, F32), both[3:7])
    with pytest.raises(ValueError, match="sgd_update: 'param' and 'momentum' share memory"):
        _C.sgd_update(p, g, p, 0.1, 0.9, False, 0.0)
    with pytest.raises(ValueError, match="rmsprop_update: 'v' and 'average_grad' share memory"):
        _C.rmsprop_update(p, g, v, None, v, 0.1, 0.9, 0.0, 1e-7, 0.0)


@pytest.mark.parametrize("path", _C.kernel_paths())
@pytest.mark.parametrize("C", [3, 8])
def test_max_pool_backward_checks_its_indices(path, C):
    """idx is trusted by the scatter of the backward: an entry outside its window (the
    issue's 36 = one past the 6x6 image) is a ValueError on every path, not a heap write."""
    prev = _C.kernel_path()
    _C.set_kernel_path(path)
    try:
        x = np.random.default_rng(0).standard_normal((2, 6, 6, C)).astype(F32)
        args = ([2, 2], [2, 2], [0, 0, 0, 0])
        y, idx = _C.max_pool2d_forward(x, *args)
        dy = np.ones_like(y)
        good = _C.max_pool2d_backward(dy, idx, list(x.shape), *args)
        assert good.sum() == dy.sum()
        for bad in (36, 2**31 - 1, -2, -2**31, 0, 14):  # 0 and 14: cells of other windows
            idx2 = idx.copy()
            idx2[1, 2, 2, 2] = bad
            with pytest.raises(ValueError, match=rf"max_pool2d_backward: 'idx' .*idx\[1, 2, 2, 2\] = {bad}\b"):
                _C.max_pool2d_backward(dy, idx2, list(x.shape), *args)
        idx2 = idx.copy()
        idx2[0, 0, 0, 0] = -1  # "no cell": no gradient, on every path
        got = _C.max_pool2d_backward(dy, idx2, list(x.shape), *args)
        assert got.sum() == dy.sum() - 1
    finally:
        _C.set_kernel_path(prev)


def test_max_pool_backward_accepts_padded_windows():
    x = np.random.default_rng(1).standard_normal((1, 5, 5, 2))
    args = ([3, 3], [2, 2], [1, 1, 1, 1])
    y, idx = _C.max_pool2d_forward(x, *args)
    dx = _C.max_pool2d_backward(np.ones_like(y), idx, list(x.shape), *args)
    assert dx.sum() == y.size


@pytest.mark.parametrize("sa,sb", [((0, 3, 4), (1, 4, 5)), ((1, 3, 4), (0, 4, 5)), ((0, 3, 4), (0, 4, 5)),
                                   ((2, 3, 0), (2, 0, 5)), ((1, 0, 4), (3, 4, 5)), ((2, 3, 4), (1, 4, 0))])
def test_gemm_batched_broadcasts_empty_batches_like_numpy(sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa).astype(F32), rng.standard_normal(sb).astype(F32)
    want = np.matmul(a.astype(np.float64), b)
    got = _C.gemm_batched(a, b)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sa,sb", [((0, 3, 4), (1, 4, 5)), ((2, 0, 3, 4), (4, 5)), ((2, 3, 0), (0, 5)),
                                   ((0, 3, 4), (4, 5)), ((3, 2, 0), (1, 0, 4)), ((0, 2, 3), (2, 1, 3, 4)),
                                   ((2, 3), (0, 3, 4))])
def test_tensor_matmul_with_empty_operands_follows_numpy(sa, sb):
    rng = np.random.default_rng(1)
    a = ember.Tensor(rng.standard_normal(sa).astype(F32), requires_grad=True)
    b = ember.Tensor(rng.standard_normal(sb).astype(F32), requires_grad=True)
    out = a @ b
    want = np.matmul(a.numpy(), b.numpy())
    assert out.shape == want.shape
    np.testing.assert_allclose(out.numpy(), want, atol=1e-5)
    out.sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    np.testing.assert_allclose(np.asarray(a.grad), np.ones(want.shape) @ np.swapaxes(b.numpy(), -1, -2)
                               if want.size else np.zeros(sa), atol=1e-5)


def test_bilinear_upsampling_of_an_empty_batch():
    layer = ember.layers.UpSampling2D(2, interpolation="bilinear")
    y = layer(ember.Tensor(np.ones((0, 3, 4, 2), F32)))
    assert y.shape == (0, 6, 8, 2)


@pytest.mark.parametrize("n", [100000, 2**31 - 1, 2**40, 0, -3])
def test_set_num_threads_is_bounded(n):
    prev = ember.get_num_threads()
    with pytest.raises(ValueError, match=rf"set_num_threads: n must be between 1 and {_C.max_threads()}\. "
                                         rf"Received: {n}"):
        ember.set_num_threads(n)
    assert ember.get_num_threads() == prev
    if n > 0:
        with pytest.raises((ValueError, TypeError), match="set_num_threads"):
            _C.set_num_threads(n)
    assert _C.max_threads() >= 1024


def test_a_huge_omp_num_threads_is_capped():
    import os
    import subprocess
    import sys
    code = ("import numpy as np, ember; assert ember.get_num_threads() == ember._C.max_threads(); "
            "y = ember.layers.Conv2D(2, 3)(ember.Tensor(np.ones((2, 8, 8, 3), np.float32))); print(y.shape)")
    env = dict(os.environ, OMP_NUM_THREADS="100000")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "(2, 6, 6, 2)" in r.stdout


@pytest.mark.parametrize("path", _C.kernel_paths())
def test_conv_with_no_input_channels_is_the_bias(path):
    """C = 0: empty patch rows (under UBSan, im2col used to memset a null buffer)."""
    prev = _C.kernel_path()
    _C.set_kernel_path(path)
    try:
        x, w, b = np.zeros((3, 0, 23, 0), F32), np.zeros((5, 16, 0, 3), F32), np.arange(3, dtype=F32)
        assert _C.conv2d_forward(x, w, None, [2, 1], [11, 1, 2, 6], [2, 2], 1).shape == (3, 2, 1, 3)
        y = _C.conv2d_forward(np.zeros((2, 4, 4, 0), F32), np.zeros((3, 3, 0, 3), F32), b, [1, 1],
                              [1, 1, 1, 1], [1, 1], 1)
        np.testing.assert_array_equal(y, np.broadcast_to(b, (2, 4, 4, 3)))
    finally:
        _C.set_kernel_path(prev)
