"""The CUDA backend end to end, emulated (EMBER_CUDA_EMULATION): the seed CNN, an LSTM
classifier and a small Transformer fit / evaluate / predict with every array on the
emulated device (EmuArray, which refuses any implicit conversion to NumPy, as CuPy's arrays
do: a host leak anywhere in ops, layers, losses, optimizers or the trainer raises), and the
run matches the same run on the CPU (same seed: the same initial weights and batches).
Dropout masks are drawn on the device (a device generator seeded from ember's), so the
compared models leave dropout out; the dropout tests below check the device draws."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import ember
from ember import backend
from _device_runs import mnist_like, train_on
from ember.layers import (LSTM, Conv2D, Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D,
                          LayerNormalization, MaxPooling2D, MultiHeadAttention, Input)

if shutil.which("g++") is None:
    pytest.skip("the CUDA emulator needs g++", allow_module_level=True)
runtime = pytest.importorskip("ember.backend.cuda.runtime", reason="the CUDA backend runtime is not installed")


def _compare(cpu, cuda, rtol, atol):
    (l0, e0, p0, w0, _), (l1, e1, p1, w1, _) = cpu, cuda
    np.testing.assert_allclose(l1, l0, rtol=rtol, atol=atol)
    np.testing.assert_allclose(e1, e0, rtol=rtol, atol=atol)
    np.testing.assert_allclose(p1, p0, rtol=rtol, atol=atol)
    for a, b in zip(w1, w0):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def test_seed_cnn_fits_on_the_emulated_device_like_on_the_cpu(emulated, tmp_path):
    x, y = mnist_like(192)

    def build():
        return ember.Sequential([Conv2D(8, (3, 3), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D((2, 2)),
                                 Flatten(), Dense(32, activation="relu"), Dense(10, activation="softmax")])
    loss = "sparse_categorical_crossentropy"
    cpu = train_on("cpu", build, x, y, loss, 2, 64)
    cuda = train_on("cuda", build, x, y, loss, 2, 64)
    _compare(cpu, cuda, rtol=1e-4, atol=1e-5)
    assert cuda[0][-1] < cuda[0][0]  # it learns
    # save on the device, load back on the CPU: the same predictions (ember's own format,
    # which needs no optional package; tests/gpu covers .keras where h5py is installed)
    model = cuda[4]
    path = str(tmp_path / "cnn.npz")
    model.save(path)
    ember.set_device("cpu")
    back = ember.models.load_model(path)
    np.testing.assert_allclose(back.predict(x[:37]), cuda[2], rtol=1e-5, atol=1e-6)


def test_lstm_classifier_fits_on_the_emulated_device_like_on_the_cpu(emulated):
    rng = np.random.default_rng(3)
    ids = rng.integers(1, 50, (96, 11))
    ids[:10, 7:] = 0  # padding, masked by the embedding
    y = (ids[:, 0] % 3).astype(np.int64)

    def build():
        return ember.Sequential([Input((11,)), Embedding(50, 12, mask_zero=True), LSTM(16), Dense(3)])
    loss = ember.losses.SparseCategoricalCrossentropy(from_logits=True)
    cpu = train_on("cpu", build, ids, y, loss, 2, 32)
    cuda = train_on("cuda", build, ids, y, loss, 2, 32)
    _compare(cpu, cuda, rtol=1e-4, atol=1e-5)


def test_small_transformer_fits_on_the_emulated_device_like_on_the_cpu(emulated):
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 40, (64, 9))
    y = (ids.sum(axis=1) % 2).astype(np.float32)

    def build():
        inp = Input((9,))
        h = Embedding(40, 16)(inp)
        a = MultiHeadAttention(num_heads=2, key_dim=8)(h, h)
        h = LayerNormalization()(h + a)
        h = LayerNormalization()(h + Dense(16, activation="gelu")(h))
        out = Dense(1)(GlobalAveragePooling1D()(h))
        return ember.Model(inp, out)
    loss = ember.losses.BinaryCrossentropy(from_logits=True)
    cpu = train_on("cpu", build, ids, y, loss, 2, 16, metrics=("binary_accuracy",))
    cuda = train_on("cuda", build, ids, y, loss, 2, 16, metrics=("binary_accuracy",))
    _compare(cpu, cuda, rtol=1e-4, atol=1e-5)


def test_a_host_leak_fails_loudly(emulated):
    ember.set_device("cuda")
    t = ember.Tensor(np.ones((2, 3), np.float32)).to("cuda")
    assert t.device == "cuda" and backend.is_device_array(t.data)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(t.data)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(t)
    back = t.to("cpu")
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    np.testing.assert_array_equal(back.numpy(), np.ones((2, 3), np.float32))


def test_tensor_to_moves_gradients_back(emulated):
    x = ember.Tensor(np.arange(6, dtype=np.float64).reshape(2, 3), requires_grad=True)
    y = (x.to("cuda") * 2.0).sum()
    assert y.device == "cuda"
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))


def test_an_op_without_a_gpu_path_names_itself(emulated):
    ember.set_device("cuda")
    t = ember.Tensor(np.zeros((0,), np.float32)).to("cuda")
    with pytest.raises(NotImplementedError, match="gelu of a 0-d or empty tensor: no CUDA implementation"):
        ember.functional.gelu(t)


def test_preprocessing_layers_run_on_the_device_and_augmentation_names_itself(emulated):
    from ember.layers import Normalization, RandomFlip, Rescaling
    ember.set_device("cuda")
    x = np.random.default_rng(0).random((6, 4, 4, 3)).astype(np.float32)
    norm = Normalization(mean=[0.5, 0.4, 0.3], variance=[0.1, 0.2, 0.3])
    y = norm(Rescaling(2.0, offset=-1.0)(x))
    assert y.device == "cuda"
    ember.set_device("cpu")
    want = Normalization(mean=[0.5, 0.4, 0.3], variance=[0.1, 0.2, 0.3])(Rescaling(2.0, offset=-1.0)(x))
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-6)
    ember.set_device("cuda")
    with pytest.raises(NotImplementedError, match="RandomFlip layer .* no CUDA implementation"):
        RandomFlip()(x, training=True)


def test_ember_device_env_runs_an_unchanged_script_on_the_device():
    import subprocess
    import sys
    script = ("import numpy as np, ember\n"
              "from ember.layers import Dense\n"
              "m = ember.Sequential([Dense(8, activation='relu', input_shape=(3,)), Dense(1)])\n"
              "m.compile(optimizer='adam', loss='mse')\n"
              "x = np.random.default_rng(0).random((64, 3)).astype(np.float32)\n"
              "m.fit(x, x.sum(1), epochs=2, batch_size=16, verbose=0)\n"
              "p = m.predict(x)\n"
              "print(ember.get_device(), m.weights[0].device, type(p).__name__, p.shape)\n")
    env = dict(os.environ, EMBER_DEVICE="cuda", EMBER_CUDA_EMULATION="1")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["cuda", "cuda", "ndarray", "(64,", "1)"]


def test_device_feeder_stages_one_batch_ahead_and_reuses_two_pinned_buffers(emulated):
    from ember.models.device_feed import DeviceFeeder, prefetched
    ember.set_device("cuda")
    feeder = DeviceFeeder()
    batches = [(np.full((4, 3), i, np.float32), np.array(["a", "b", "c", "d"]), np.arange(4) + i) for i in range(5)]
    seen = []

    def source():
        for i, b in enumerate(batches):
            seen.append(i)
            yield i, b
    for step, (x, text, y) in prefetched(source(), feeder):
        assert seen[-1] == min(step + 1, 4)  # the next batch was staged before this one was handed out
        assert backend.is_device_array(x) and backend.is_device_array(y)
        assert isinstance(text, np.ndarray)  # strings stay on the host
        np.testing.assert_array_equal(x.get(), batches[step][0])
        np.testing.assert_array_equal(y.get(), batches[step][2])
    assert [len(v) for v in feeder._pinned.values()] == [3, 3]  # two buffers per (shape, dtype), reused


def test_dropout_and_noise_masks_are_drawn_on_the_device_reproducibly(emulated):
    from ember.layers import GaussianNoise
    ember.set_device("cuda")
    x = ember.ops.ones((64, 50))
    runs = []
    for _ in range(2):
        ember.set_seed(11)
        d = Dropout(0.3)(x, training=True)
        n = GaussianNoise(0.5)(x, training=True)
        f = ember.functional.dropout(x, 0.5, seed=3)  # an int seed: stateless
        assert d.device == n.device == f.device == "cuda"
        runs.append([t.numpy() for t in (d, n, f)])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)  # the same seed, the same device draws
    kept = (runs[0][0] != 0).mean()
    assert 0.6 < kept < 0.8 and np.allclose(runs[0][0][runs[0][0] != 0], 1 / 0.7)
    assert 0.3 < runs[0][1].std() < 0.7


def test_models_with_dropout_train_on_the_emulated_device(emulated):
    ember.set_device("cuda")
    ember.set_seed(2)
    rng = np.random.default_rng(4)
    ids = rng.integers(1, 30, (48, 7))
    y = (ids[:, 0] % 2).astype(np.float32)
    inp = Input((7,))
    h = Embedding(30, 8)(inp)
    h = LSTM(8, dropout=0.2, recurrent_dropout=0.2, return_sequences=True)(h)
    h = LayerNormalization()(h + MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.2)(h, h))
    out = Dense(1)(Dropout(0.3)(GlobalAveragePooling1D()(h)))
    m = ember.Model(inp, out)
    m.compile(optimizer="adam", loss=ember.losses.BinaryCrossentropy(from_logits=True))
    hist = m.fit(ids, y, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    assert all(backend.is_device_array(w.data) for w in m.weights)


def test_data_parallel_fit_on_the_device_says_it_is_cpu_only(emulated):
    ember.set_device("cuda")
    m = ember.Sequential([Dense(2, input_shape=(3,))])
    m.compile(optimizer="sgd", loss="mse")
    x = np.zeros((8, 3), np.float32)
    with pytest.raises(NotImplementedError, match="distribute: data-parallel training .* CPU only"):
        m.fit(x, np.zeros((8, 2), np.float32), epochs=1, verbose=0, distribute=True)


def test_model_to_moves_weights_and_optimizer_state_and_a_mismatch_is_a_clear_error(emulated):
    """Built on the CPU, run with the device set to cuda: a ValueError naming both devices
    (not a raw TypeError from a kernel); model.to("cuda") moves weights and Adam's moments,
    and training continues exactly as it would have on the CPU."""
    x, y = mnist_like(64)

    def build():
        return ember.Sequential([ember.layers.Input((28, 28, 1)), ember.layers.Flatten(),
                                 ember.layers.Dense(16, activation="relu"), ember.layers.Dense(10)])

    def trained(move_to):
        ember.set_device("cpu")
        ember.set_seed(7)
        m = build()
        m.compile(optimizer=ember.optimizers.Adam(1e-3),
                  loss=ember.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        ember.set_device(move_to)
        if move_to == "cuda":
            for call in (lambda: m.predict(x[:4]), lambda: m.fit(x, y, epochs=1, verbose=0),
                         lambda: m.evaluate(x, y, verbose=0), lambda: m.train_on_batch(x[:4], y[:4])):
                with pytest.raises(ValueError, match=r"weights are on 'cpu' but the current device is 'cuda'"):
                    call()
            assert m.to("cuda") is m
            assert all(backend.is_device_array(w.data) for w in m.weights)
            assert all(backend.is_device_array(a) for a in m.optimizer.variables)
        m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        return m.get_weights(), m.predict(x[:5])

    w_cpu, p_cpu = trained("cpu")
    w_dev, p_dev = trained("cuda")
    for a, b in zip(w_cpu, w_dev):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p_dev, p_cpu, rtol=1e-4, atol=1e-5)


def test_a_device_model_run_on_the_cpu_says_so_and_moves_back(emulated):
    x = np.random.default_rng(0).random((8, 3)).astype(np.float32)
    ember.set_device("cuda")
    m = ember.Sequential([ember.layers.Input((3,)), ember.layers.Dense(2)])
    want = m.predict(x)
    ember.set_device("cpu")
    with pytest.raises(ValueError, match=r"weights are on 'cuda' but the current device is 'cpu'.*model.to\('cpu'\)"):
        m.predict(x)
    m.to("cpu")
    assert all(isinstance(w.data, np.ndarray) for w in m.weights)
    np.testing.assert_allclose(m.predict(x), want, rtol=1e-6)
