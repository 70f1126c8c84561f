"""The seed CNN trained on the CPU and on the GPU from one seed: the runs must agree (shared
by run_parity.py and tests/test_gpu_cases_emulated.py)."""
import os

import numpy as np

import ember
from ember import backend


def mnist(n):
    root = os.environ.get("EMBER_DATASETS")
    if root and os.path.isdir(os.path.join(root, "mnist")):
        (x, y), _ = ember.datasets.mnist.load_data()
        return (x[:n, :, :, None] / 255.0).astype(np.float32), y[:n].astype(np.int64)
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, n)


def seed_cnn_run(n: int = 1024, epochs: int = 2, rtol: float = 1e-3, atol: float = 1e-4):
    from ember.layers import Conv2D, Dense, Flatten, MaxPooling2D
    x, y = mnist(n)
    runs = {}
    try:
        for dev in ("cpu", "cuda"):
            ember.set_device(dev)
            ember.set_seed(7)
            m = ember.Sequential([Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                                  MaxPooling2D((2, 2)), Flatten(), Dense(128, activation="relu"),
                                  Dense(10, activation="softmax")])
            m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            h = m.fit(x, y, batch_size=128, epochs=epochs, verbose=0)
            runs[dev] = (h.history["loss"], m.predict(x[:100]), m.get_weights(), m)
    finally:
        ember.set_device("cpu")
    assert all(backend.is_device_array(w.data) for w in runs["cuda"][3].weights)
    np.testing.assert_allclose(runs["cuda"][0], runs["cpu"][0], rtol=rtol)
    np.testing.assert_allclose(runs["cuda"][1], runs["cpu"][1], rtol=rtol, atol=atol)
    for a, b in zip(runs["cuda"][2], runs["cpu"][2]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    return runs
