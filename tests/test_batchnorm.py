"""Batch normalisation: training / inference forward vs NumPy, moving statistics, float64
gradchecks (training and inference, any axis), the layer, determinism."""
import numpy as np
import pytest

import ember
from ember import functional as F
from ember.layers import BatchNormalization
from ember.testing import gradcheck


def ref_bn(x, g, b, eps, axis=-1):
    ax = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    m = x.mean(axis=ax, keepdims=True)
    v = x.var(axis=ax, keepdims=True)
    shape = [1] * x.ndim
    shape[axis] = -1
    return (x - m) / np.sqrt(v + eps) * g.reshape(shape) + b.reshape(shape), x.mean(axis=ax), x.var(axis=ax)


@pytest.mark.parametrize("shape,axis", [((7, 5), -1), ((3, 4, 5, 6), -1), ((3, 5, 4, 2), 1), ((2, 3, 7), 2)])
def test_training_forward_and_moving_stats(shape, axis):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 3 + 1
    C = shape[axis]
    g, b = rng.standard_normal(C), rng.standard_normal(C)
    for dt in (np.float32, np.float64):
        rm, rv = np.full(C, 0.5, dt), np.full(C, 2.0, dt)
        y = F.batch_norm(x.astype(dt), g.astype(dt), b.astype(dt), rm, rv, training=True, momentum=0.9,
                         epsilon=1e-3, axis=axis).numpy()
        want, mean, var = ref_bn(x, g, b, 1e-3, axis)
        tol = 1e-4 if dt == np.float32 else 1e-10
        np.testing.assert_allclose(y, want, rtol=tol, atol=tol)
        np.testing.assert_allclose(rm, 0.9 * 0.5 + 0.1 * mean, rtol=tol, atol=tol)
        np.testing.assert_allclose(rv, 0.9 * 2.0 + 0.1 * var, rtol=tol, atol=tol)
        yi = F.batch_norm(x.astype(dt), g.astype(dt), b.astype(dt), rm, rv, training=False, epsilon=1e-3,
                          axis=axis).numpy()
        sh = [1] * x.ndim
        sh[axis] = -1
        wi = (x - rm.reshape(sh)) / np.sqrt(rv.reshape(sh) + 1e-3) * g.reshape(sh) + b.reshape(sh)
        np.testing.assert_allclose(yi, wi, rtol=tol, atol=tol)


@pytest.mark.parametrize("axis", [-1, 1])
def test_gradcheck_training(axis):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 3, 5))
    C = x.shape[axis]
    gradcheck(lambda x, g, b: F.batch_norm(x, g, b, training=True, axis=axis),
              [x, rng.standard_normal(C), rng.standard_normal(C)])
    gradcheck(lambda x: F.batch_norm(x, training=True, axis=axis), [x])  # center=scale=False


def test_gradcheck_inference_and_2d():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 4))
    rm, rv = rng.standard_normal(4), rng.random(4) + 0.5
    gradcheck(lambda x, g, b: F.batch_norm(x, g, b, rm, rv, training=False), [x, rng.standard_normal(4),
                                                                                rng.standard_normal(4)])
    gradcheck(lambda x, g, b: F.batch_norm(x, g, b, training=True), [x, rng.standard_normal(4), rng.standard_normal(4)])


def test_layer_training_flag_and_weights():
    rng = np.random.default_rng(3)
    bn = BatchNormalization()
    x = (rng.standard_normal((64, 5, 5, 3)) * 2 + 3).astype(np.float32)
    y = bn(x, training=True).numpy()
    assert abs(y.mean()) < 1e-4 and abs(y.std() - 1) < 1e-2
    assert [w.name.split("/")[-1] for w in bn.trainable_variables] == ["gamma", "beta"]
    assert [w.name.split("/")[-1] for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * x.mean(axis=(0, 1, 2)), rtol=1e-4)
    before = bn.moving_mean.numpy().copy()
    y_inf = bn(x).numpy()  # inference: moving stats, unchanged
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)
    assert not np.allclose(y_inf, y)
    t = ember.Tensor(x)
    out = bn(t, training=True)
    grads = ember.grad((out * out).sum(), bn.trainable_variables)
    assert all(g is not None and g.shape == (3,) for g in grads)
    with pytest.raises(ValueError, match=r"BatchNormalization layer .* was built for 3 channels"):
        bn(np.zeros((2, 4), np.float32))
    b2 = BatchNormalization(axis=1, center=False, scale=False)
    assert b2(np.ones((2, 3, 4), np.float32), training=True).shape == (2, 3, 4)
    assert b2.trainable_variables == []


def test_deterministic_across_thread_counts():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((12000, 7)).astype(np.float32)
    dy = rng.standard_normal((12000, 7)).astype(np.float32)
    g = rng.standard_normal(7).astype(np.float32)
    prev = ember.get_num_threads()
    outs = []
    try:
        for n in (1, 2, 3):
            ember.set_num_threads(n)
            y, m, inv = ember.backend.cpu.batch_norm_train(x, g, None, None, None, 1e-3, 0.99)
            outs.append((y, m, inv) + tuple(ember.backend.cpu.batch_norm_backward(dy, x, g, m, inv)))
    finally:
        ember.set_num_threads(prev)
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_training_batch_leaves_moving_statistics(dtype):
    # An empty batch has no statistics: the moving ones stay as they were (PyTorch), in the
    # layer and in the kernel called directly.
    bn = BatchNormalization(momentum=0.5, dtype=dtype)
    bn(np.ones((4, 3), dtype), training=True)
    mean, var = bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()
    y = bn(np.zeros((0, 3), dtype), training=True)
    assert y.shape == (0, 3)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)
    np.testing.assert_array_equal(bn.moving_variance.numpy(), var)
    rm, rv = np.full(3, 2.0, dtype), np.full(3, 3.0, dtype)
    ember.backend.cpu.batch_norm_train(np.zeros((0, 3), dtype), None, None, rm, rv, 1e-3, 0.5)
    np.testing.assert_array_equal(rm, np.full(3, 2.0, dtype))
    np.testing.assert_array_equal(rv, np.full(3, 3.0, dtype))
