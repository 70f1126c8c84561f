"""One training run on a device, for the tests that compare the CUDA backend with the CPU
(tests/test_cuda_emu_models.py emulated, tests/gpu/test_training_parity.py on a GPU)."""
import os

import numpy as np

import ember
from ember import backend


def mnist_like(n, seed=0):
    """Real MNIST digits when the data set is on hand (EMBER_DATASETS), else class-shaped blobs."""
    root = os.environ.get("EMBER_DATASETS")
    if root and os.path.isdir(os.path.join(root, "mnist")):
        (x, y), _ = ember.datasets.mnist.load_data()
        return (x[:n, :, :, None] / 255.0).astype(np.float32), y[:n].astype(np.int64)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.random((n, 28, 28, 1)).astype(np.float32) * 0.3
    for i, c in enumerate(y):
        x[i, 2 * c:2 * c + 6, 4:24, 0] += 0.7
    return x, y


def train_on(device, build, x, y, loss, epochs=2, batch_size=64, metrics=("accuracy",), n_pred=37):
    """fit / evaluate / predict on ``device`` from seed 1234: (losses, evaluation, predictions of
    the first ``n_pred`` rows, weights as NumPy, the model). On "cuda" the weights and the
    optimizer's slots must still be device arrays, and predict must hand back NumPy."""
    ember.set_device(device)
    ember.set_seed(1234)
    model = build()
    model.compile(optimizer=ember.optimizers.Adam(1e-3), loss=loss, metrics=list(metrics))
    hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
    ev = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    pred = model.predict(x[:n_pred], batch_size=batch_size)
    assert isinstance(pred, np.ndarray), f"predict returned a {type(pred).__name__}"
    if device == "cuda":
        for w in model.weights:
            assert backend.is_device_array(w.data), f"weight {w.name} left the device"
        assert all(backend.is_device_array(a) for a in model.optimizer.variables), "an optimizer slot left the device"
    weights = model.get_weights()
    assert all(isinstance(w, np.ndarray) for w in weights)
    return hist.history["loss"], ev, pred, weights, model
