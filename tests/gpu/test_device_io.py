"""Moving models and tensors between devices: a model trained on the GPU saves and loads on
the CPU (and back) with the same predictions and the same continued training; predict
returns NumPy; Tensor.to round-trips exactly."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import backend
from ember.layers import Dense, Dropout

from test_training_parity import SCCE, mnist_like, seed_cnn  # beside this file


def _fit(model, x, y, epochs=1):
    return model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, shuffle=True).history["loss"]


def _on_device(model, device):
    want = backend.is_device_array if device == "cuda" else (lambda a: isinstance(a, np.ndarray))
    assert all(want(w.data) for w in model.weights), f"weights not on {device}"


@pytest.mark.parametrize("suffix", [".ember", ".keras"])
def test_save_on_cuda_load_on_cpu_and_back(tmp_path, suffix):
    if suffix == ".keras":
        pytest.importorskip("h5py", reason="Keras .keras files need h5py (pip install 'ember[keras]')")
    x, y = mnist_like(256)
    ember.set_device("cuda")
    ember.set_seed(3)
    m = seed_cnn()
    m.compile(optimizer="adam", loss=SCCE, metrics=["accuracy"])
    _fit(m, x, y)
    p_cuda = m.predict(x[:41])
    assert isinstance(p_cuda, np.ndarray) and p_cuda.shape == (41, 10)
    path = str(tmp_path / f"cnn{suffix}")
    m.save(path)

    ember.set_device("cpu")
    on_cpu = ember.models.load_model(path)
    _on_device(on_cpu, "cpu")
    p_cpu = on_cpu.predict(x[:41])
    np.testing.assert_allclose(p_cpu, p_cuda, rtol=1e-4, atol=1e-5)
    for a, b in zip(on_cpu.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)  # the file holds the device's weights exactly

    path2 = str(tmp_path / f"cnn_cpu{suffix}")
    on_cpu.save(path2)
    ember.set_device("cuda")
    back = ember.models.load_model(path2)
    _on_device(back, "cuda")
    np.testing.assert_allclose(back.predict(x[:41]), p_cuda, rtol=1e-4, atol=1e-5)
    for a, b in zip(back.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_training_resumed_on_the_other_device_continues_the_run(tmp_path):
    """The saved optimizer state (Adam slots, iteration) and random state carry over: one more
    epoch on the CPU from a file written on the GPU matches one more epoch on the GPU."""
    x, y = mnist_like(256)
    ember.set_device("cuda")
    ember.set_seed(5)
    m = seed_cnn()
    m.compile(optimizer="adam", loss=SCCE)
    _fit(m, x, y)
    path = str(tmp_path / "run.ember")
    m.save(path)
    more_cuda = _fit(m, x, y)
    ember.set_device("cpu")
    resumed = ember.models.load_model(path)
    more_cpu = _fit(resumed, x, y)
    np.testing.assert_allclose(more_cpu, more_cuda, rtol=2e-3)
    for a, b in zip(resumed.get_weights(), m.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4 * max(1.0, float(np.max(np.abs(b)))))


def test_weights_files_cross_devices(tmp_path):
    ember.set_device("cuda")
    ember.set_seed(2)

    def build():
        return ember.Sequential([Dense(7, activation="tanh", input_shape=(5,)), Dropout(0.1), Dense(3)])
    m = build()
    path = str(tmp_path / "w.weights.npz")
    m.save_weights(path)
    x = np.random.default_rng(0).standard_normal((9, 5)).astype(np.float32)
    p_cuda = m.predict(x)
    ember.set_device("cpu")
    c = build()
    c.load_weights(path)
    _on_device(c, "cpu")
    p_cpu = c.predict(x)
    np.testing.assert_allclose(p_cpu, p_cuda, rtol=1e-5, atol=1e-6)
    c.save_weights(path)
    ember.set_device("cuda")
    g = build()
    g.load_weights(path)
    _on_device(g, "cuda")
    np.testing.assert_allclose(g.predict(x), p_cpu, rtol=1e-5, atol=1e-6)


def test_predict_returns_numpy_for_every_output_form():
    ember.set_device("cuda")
    inp = ember.layers.Input((4,))
    a, b = Dense(2)(inp), Dense(3, activation="softmax")(inp)
    m = ember.Model(inp, [a, b])
    out = m.predict(np.ones((6, 4), np.float32), batch_size=4)
    assert isinstance(out, (list, tuple)) and [type(o) for o in out] == [np.ndarray, np.ndarray]
    assert [o.shape for o in out] == [(6, 2), (6, 3)]
    assert isinstance(m.predict_on_batch(np.ones((2, 4), np.float32))[0], np.ndarray)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensor_to_round_trips_exactly(xp, dtype):
    a = (np.random.default_rng(0).standard_normal((3, 5, 7)) * 10).astype(dtype)
    t = ember.Tensor(a).to("cuda")
    assert t.device == "cuda" and isinstance(t.data, xp.ndarray)
    back = t.to("cpu")
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    np.testing.assert_array_equal(back.numpy(), a)
    assert back.numpy().dtype == a.dtype
