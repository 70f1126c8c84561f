"""Training on the GPU matches training on the CPU: the same seed gives the same initial
weights and batches on both devices, so a short run of the seed CNN (512 MNIST-like
samples), an LSTM classifier and a small Transformer ends with close losses, predictions and
weights. Dropout masks are drawn on the device by the device's own generator (not the CPU's
numbers), so the compared models have no dropout; a GPU run with dropout is instead checked
to repeat itself bit for bit from its seed. Also a few ops through autograd, to float64."""
from __future__ import annotations


import numpy as np
import pytest

import ember
from ember.layers import (LSTM, Conv2D, Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D, Input,
                          LayerNormalization, MaxPooling2D, MultiHeadAttention)

from gpu_env import EMULATE  # beside this file
from _device_runs import mnist_like, train_on  # tests/ (beside conftest.py)


# The seed CNN's widths on a GPU; narrower when emulated (the same code path, a fifth of the time).
FILTERS, UNITS = (8, 32) if EMULATE else (32, 128)


def seed_cnn(dtype="float32"):
    return ember.Sequential([Conv2D(FILTERS, (3, 3), activation="relu", input_shape=(28, 28, 1), dtype=dtype),
                             MaxPooling2D((2, 2), dtype=dtype), Flatten(dtype=dtype),
                             Dense(UNITS, activation="relu", dtype=dtype),
                             Dense(10, activation="softmax", dtype=dtype)])


def train(device, build, x, y, loss, epochs=2, batch_size=64, metrics=("accuracy",)):
    """fit / evaluate / predict on ``device``: (losses, evaluation, predictions, weights)."""
    losses, ev, pred, weights, _ = train_on(device, build, x, y, loss, epochs, batch_size, metrics, n_pred=53)
    return losses, np.asarray(ev, dtype=np.float64), pred, weights


def assert_runs_close(cpu, cuda, rtol, atol):
    for what, a, b in zip(("losses", "evaluation", "predictions"), cuda[:3], cpu[:3]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)
    assert len(cuda[3]) == len(cpu[3])
    for i, (a, b) in enumerate(zip(cuda[3], cpu[3])):
        scale = max(1.0, float(np.max(np.abs(b))))
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * scale, err_msg=f"weight {i}")


SCCE = "sparse_categorical_crossentropy"


def test_seed_cnn_trains_like_on_the_cpu():
    x, y = mnist_like(512)
    runs = [train(dev, seed_cnn, x, y, SCCE) for dev in ("cpu", "cuda")]
    assert_runs_close(*runs, rtol=2e-3, atol=2e-4)  # float32: summation orders differ (cuBLAS)
    assert runs[1][0][-1] < runs[1][0][0]  # and it learns


def test_seed_cnn_in_float64_trains_like_on_the_cpu_to_1e_9():
    x, y = mnist_like(256)
    runs = [train(dev, lambda: seed_cnn("float64"), x.astype(np.float64), y, SCCE, epochs=1)
            for dev in ("cpu", "cuda")]
    assert_runs_close(*runs, rtol=1e-9, atol=1e-11)


def lstm_data():
    rng = np.random.default_rng(3)
    ids = rng.integers(1, 50, (160, 13))
    ids[:20, 9:] = 0  # padding, masked by the embedding
    return ids, (ids[:, 0] % 3).astype(np.int64)


def lstm_classifier(dropout=0.0):
    return ember.Sequential([Input((13,)), Embedding(50, 16, mask_zero=True),
                             LSTM(24, dropout=dropout, recurrent_dropout=dropout), Dense(3)])


def test_lstm_classifier_trains_like_on_the_cpu():
    ids, y = lstm_data()
    loss = ember.losses.SparseCategoricalCrossentropy(from_logits=True)
    runs = [train(dev, lstm_classifier, ids, y, loss, batch_size=32) for dev in ("cpu", "cuda")]
    assert_runs_close(*runs, rtol=1e-3, atol=1e-4)


def small_transformer(dropout=0.0):
    inp = Input((11,))
    h = Embedding(40, 32)(inp)
    if dropout:
        h = Dropout(dropout)(h)
    a = MultiHeadAttention(num_heads=4, key_dim=8, dropout=dropout)(h, h)
    h = LayerNormalization()(h + a)
    h = LayerNormalization()(h + Dense(32)(Dense(64, activation="gelu")(h)))
    return ember.Model(inp, Dense(1)(GlobalAveragePooling1D()(h)))


def transformer_data():
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 40, (128, 11))
    return ids, (ids.sum(axis=1) % 2).astype(np.float32)


def test_small_transformer_trains_like_on_the_cpu():
    ids, y = transformer_data()
    loss = ember.losses.BinaryCrossentropy(from_logits=True)
    runs = [train(dev, small_transformer, ids, y, loss, batch_size=16, metrics=("binary_accuracy",))
            for dev in ("cpu", "cuda")]
    assert_runs_close(*runs, rtol=1e-3, atol=1e-4)


def test_gpu_runs_with_dropout_repeat_bit_for_bit():
    """Device dropout masks come from a device generator seeded from ember's: the same seed,
    the same run (and no atomics anywhere: the same sums)."""
    ids, y = lstm_data()
    tids, ty = transformer_data()
    for build, x, t, loss in ((lambda: lstm_classifier(0.2), ids, y,
                               ember.losses.SparseCategoricalCrossentropy(from_logits=True)),
                              (lambda: small_transformer(0.2), tids, ty,
                               ember.losses.BinaryCrossentropy(from_logits=True))):
        a, b = (train("cuda", build, x, t, loss, epochs=1, batch_size=32, metrics=()) for _ in range(2))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[2], b[2])
        for u, v in zip(a[3], b[3]):
            np.testing.assert_array_equal(u, v)


def test_ops_and_gradients_match_through_autograd():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((5, 7, 9)), rng.standard_normal((9, 4))
    got = {}
    for dev in ("cpu", "cuda"):
        ember.set_device(dev)
        xl, wl = ember.Tensor(x, requires_grad=True), ember.Tensor(w, requires_grad=True)  # host leaves
        y = ember.functional.dense(xl.to(dev), wl.to(dev), activation="gelu")
        loss = (ember.functional.log_softmax(y) * y).sum() + ember.functional.layer_norm(y).mean()
        assert loss.device == dev
        loss.backward()  # the gradients come back through Tensor.to to the host leaves
        assert xl.grad.device == "cpu"
        got[dev] = (float(loss), xl.grad.numpy(), wl.grad.numpy())
    assert got["cuda"][0] == pytest.approx(got["cpu"][0], rel=1e-10)
    for i in (1, 2):
        np.testing.assert_allclose(got["cuda"][i], got["cpu"][i], rtol=1e-10, atol=1e-12)
