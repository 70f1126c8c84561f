"""A training step on the (emulated) device never waits on it: no device -> host read per
step. fakecupy counts every read (``.get()``, ``asnumpy``, a 0-d array's float / int / bool /
item); on a GPU each one is a synchronisation. The loss, the metrics' sums and the sparse
label checks stay on the device and are read where the logs are consumed: the epoch's end,
a progress bar redraw, a callback that overrides a batch hook, a return value."""
from __future__ import annotations

import io
import shutil
import sys
import types
import warnings

import numpy as np
import pytest

import ember
from ember import backend
from ember.backend import checks
from ember.layers import Conv2D, Dense, Flatten, MaxPooling2D

if shutil.which("g++") is None:
    pytest.skip("the CUDA emulator needs g++", allow_module_level=True)
runtime = pytest.importorskip("ember.backend.cuda.runtime", reason="the CUDA backend runtime is not installed")
from ember.backend.cuda.emu import fakecupy  # noqa: E402

BS = 16


def _data(steps, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((steps * BS, 12, 12, 1)).astype(np.float32)
    return x, rng.integers(0, 10, steps * BS)


def _cnn(loss="sparse_categorical_crossentropy", metrics=("accuracy",), logits=False):
    """The seed CNN's layers, smaller (a 12x12 input)."""
    ember.set_seed(1)
    m = ember.Sequential([Conv2D(4, (3, 3), activation="relu", input_shape=(12, 12, 1)), MaxPooling2D((2, 2)),
                          Flatten(), Dense(10, activation=None if logits else "softmax")])
    m.compile(optimizer="adam", loss=loss, metrics=list(metrics))
    return m


def test_transfer_stats_counts_reads(emulated):
    a = fakecupy.asarray(np.arange(3.0))
    with fakecupy.transfer_stats() as t:
        a.get()
        fakecupy.asnumpy(a)
        float(a.sum())
        bool(a[0] > 0)
        a[1].item()
        b = a * 2  # device work reads nothing
    assert t.count == 5
    assert b.shape == (3,)


LOSSES = [("sparse_categorical_crossentropy", False),  # softmax + crossentropy: the fused path
          (ember.losses.SparseCategoricalCrossentropy(from_logits=True), True),
          ("categorical_crossentropy", False)]


@pytest.mark.parametrize("loss,logits", LOSSES, ids=["softmax", "logits", "one-hot"])
def test_fit_and_evaluate_read_nothing_per_step(emulated, loss, logits):
    ember.set_device("cuda")
    counts = {}
    for steps in (2, 4):
        x, y = _data(steps)
        if loss == "categorical_crossentropy":
            y = np.eye(10, dtype=np.float32)[y]
        m = _cnn(loss, logits=logits)
        m.fit(x[:BS], y[:BS], batch_size=BS, epochs=1, verbose=0)  # builds the model and the optimizer
        with fakecupy.transfer_stats() as t:
            h = m.fit(x, y, batch_size=BS, epochs=2, verbose=0)
        with fakecupy.transfer_stats() as e:
            m.evaluate(x, y, batch_size=BS, verbose=0)
        counts[steps] = (t.count, e.count)
        assert all(isinstance(v, float) for vs in h.history.values() for v in vs)
    assert counts[2] == counts[4], counts  # a constant per epoch, nothing per step
    assert counts[2][0] <= 2 * 2 and counts[2][1] <= 2, counts  # at most two reads per epoch


def test_without_deferral_the_old_reads_happen(emulated):
    """The counter sees per-step reads: train_on_batch reads its results every call."""
    ember.set_device("cuda")
    x, y = _data(1)
    m = _cnn()
    m.train_on_batch(x, y)
    with fakecupy.transfer_stats() as t:
        out = m.train_on_batch(x, y)
        m.train_on_batch(x, y)
    assert t.count == 2 and all(isinstance(v, float) for v in out)  # one read per call: loss and metric together


class _TTY(io.StringIO):
    def isatty(self):
        return True


def test_verbose_1_reads_only_when_the_bar_redraws(emulated, monkeypatch):
    from ember.utils import progbar
    clock = [0.0]

    def tick():  # 0.02 s per update: the bar (0.05 s interval) redraws every third step
        clock[0] += 0.02
        return clock[0]
    monkeypatch.setattr(progbar, "time", types.SimpleNamespace(perf_counter=tick))
    ember.set_device("cuda")
    x, y = _data(12)
    m = _cnn()
    m.fit(x[:BS], y[:BS], batch_size=BS, epochs=1, verbose=0)
    with fakecupy.transfer_stats() as quiet:
        m.fit(x, y, batch_size=BS, epochs=1, verbose=0, shuffle=False)
    out = _TTY()
    monkeypatch.setattr(sys, "stdout", out)
    with fakecupy.transfer_stats() as loud:
        m.fit(x, y, batch_size=BS, epochs=1, verbose=1, shuffle=False)
    monkeypatch.undo()
    redraws = out.getvalue().count("\r") - 1  # the final line is drawn from the epoch's logs
    assert 0 < redraws < 12 // 2
    assert loud.count == quiet.count + redraws
    assert " - loss: " in out.getvalue() and "accuracy: " in out.getvalue()


class _Batches(ember.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.train, self.test = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.train.append(dict(logs))

    def on_test_batch_end(self, batch, logs=None):
        self.test.append(dict(logs))


def test_a_batch_callback_gets_floats_each_batch_like_on_the_cpu(emulated):
    x, y = _data(3)
    runs = {}
    for dev in ("cpu", "cuda"):
        ember.set_device(dev)
        m = _cnn()
        cb = _Batches()
        with fakecupy.transfer_stats() as t:
            m.fit(x, y, batch_size=BS, epochs=2, verbose=0, callbacks=[cb], shuffle=False)
            m.evaluate(x, y, batch_size=BS, verbose=0, callbacks=[cb])
        runs[dev] = cb, t.count
    cpu, (cuda, reads) = runs["cpu"][0], runs["cuda"]
    assert len(cuda.train) == 6 and len(cuda.test) == 3
    assert reads == len(cuda.train) + len(cuda.test)  # one read per consumed batch, the epoch ends reuse it
    for a, b in zip(cpu.train + cpu.test, cuda.train + cuda.test):
        assert a.keys() == b.keys() and all(type(v) is float for v in b.values())
        np.testing.assert_allclose([b[k] for k in a], [a[k] for k in a], rtol=1e-5, atol=1e-6)


def test_device_metrics_match_the_cpu_with_sample_weights(emulated):
    x, y = _data(3, seed=4)
    sw = np.random.default_rng(2).random(len(y)).astype(np.float32)
    sw[:5] = 0
    res = {}
    for dev in ("cpu", "cuda"):
        ember.set_device(dev)
        m = _cnn(metrics=("accuracy", ember.metrics.SparseCategoricalAccuracy(name="sca")))
        h = m.fit(x, y, sample_weight=sw, batch_size=BS, epochs=2, verbose=0, shuffle=False)
        res[dev] = h.history, m.evaluate(x, y, sample_weight=sw, batch_size=BS, verbose=0, return_dict=True)
    (h0, e0), (h1, e1) = res["cpu"], res["cuda"]
    assert h0.keys() == h1.keys() and e0.keys() == e1.keys()
    for k in h0:
        np.testing.assert_allclose(h1[k], h0[k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([e1[k] for k in e0], list(e0.values()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("logits", [True, False], ids=["logits", "softmax"])
def test_an_out_of_range_label_in_fit_raises_at_the_next_read(emulated, logits):
    ember.set_device("cuda")
    x, y = _data(3)
    y[20] = 10
    loss = ember.losses.SparseCategoricalCrossentropy(from_logits=True) if logits else "sparse_categorical_crossentropy"
    m = _cnn(loss, logits=logits)
    with pytest.raises(ValueError, match=r"must be in \[0, 10\).*found at the next host read"):
        m.fit(x, y, batch_size=BS, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"must be in \[0, 10\)"):
        m.evaluate(x, y, batch_size=BS, verbose=0)
    with pytest.raises(ValueError, match=r"must be in \[0, 10\)"):
        m.train_on_batch(x[16:32], y[16:32])
    assert not checks._state.pending  # nothing left over for the next fit
    m = _cnn(loss, logits=logits)
    m.fit(x[:BS], y[:BS], batch_size=BS, epochs=1, verbose=0)  # good labels: no error


def test_out_of_range_labels_give_nan_rows_in_the_kernels(emulated):
    """While the check is deferred, the fused kernels stay in bounds: NaN loss and gradient rows."""
    from ember.backend import cuda
    logits = fakecupy.asarray(np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32))
    lab = fakecupy.asarray(np.array([1, 5, -1, 4]))
    with pytest.raises(ValueError, match=r"must be in \[0, 5\)"):
        with checks.deferred():
            loss, lse = cuda.xent_forward(logits, lab, sparse=True)
            dx = cuda.xent_backward(fakecupy.ones((4,), np.float32), logits, lab, lse, sparse=True)
            loss, dx = loss.get(), dx.get()
    good = backend.cpu.xent_forward(logits.get()[[0, 3]], np.array([1, 4]), sparse=True)[0]
    np.testing.assert_allclose(loss[[0, 3]], good, rtol=1e-6)
    assert np.isnan(loss[[1, 2]]).all() and np.isnan(dx[[1, 2]]).all() and np.isfinite(dx[[0, 3]]).all()


def test_a_non_finite_loss_stops_fit_at_the_epoch_end_on_the_device(emulated):
    ember.set_device("cuda")
    x, y = _data(3)
    x[20] = np.nan
    m = _cnn()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        h = m.fit(x, y, batch_size=BS, epochs=3, verbose=0, shuffle=False)
    assert any("not finite" in str(e.message) for e in w)
    assert len(h.history["loss"]) == 1 and np.isnan(h.history["loss"][0])


METRICS = ["mae", "mse", "root_mean_squared_error", "mape", "msle", "logcosh", "kl_divergence", "poisson",
           "binary_crossentropy", "hinge", "squared_hinge", "categorical_hinge"]


def test_regression_and_loss_metrics_stay_on_the_device_like_on_the_cpu(emulated):
    rng = np.random.default_rng(7)
    x = rng.random((48, 6)).astype(np.float32)
    y = (rng.random((48, 3)) > 0.5).astype(np.float32)
    res = {}
    for dev in ("cpu", "cuda"):
        ember.set_device(dev)
        ember.set_seed(3)
        m = ember.Sequential([ember.layers.Input((6,)), Dense(3, activation="sigmoid")])
        m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=list(METRICS))
        m.fit(x[:16], y[:16], batch_size=16, epochs=1, verbose=0)
        with fakecupy.transfer_stats() as t:
            h = m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        res[dev] = h.history, t.count
    (h0, _), (h1, reads) = res["cpu"], res["cuda"]
    assert reads == 1  # the epoch's logs, every metric in the one copy
    for k in h0:
        np.testing.assert_allclose(h1[k], h0[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_embedding_backward_on_the_device_reads_nothing_and_matches_the_cpu(emulated):
    from ember.ops.embedding import embedding_lookup
    rng = np.random.default_rng(11)
    table = rng.standard_normal((9, 5)).astype(np.float32)
    for ids in (np.array([[3, 3, 0], [8, 3, 5]]), np.array([[8, 8]]), np.array([[0]]), rng.integers(0, 9, (7, 13))):
        g = rng.standard_normal(ids.shape + (5,)).astype(np.float32)
        grads = []
        for dev in ("cpu", "cuda"):
            t = ember.Tensor(table).to(dev)
            t.requires_grad = True
            out = embedding_lookup(t, ember.Tensor(ids).to(dev).data)
            with fakecupy.transfer_stats() as c:
                (out * ember.Tensor(g).to(dev)).sum().backward()
            assert dev == "cpu" or c.count == 0
            grads.append(backend.to_numpy(t.grad.data if isinstance(t.grad, ember.Tensor) else t.grad))
        np.testing.assert_array_equal(grads[1], grads[0])


def test_an_out_of_range_embedding_id_in_fit_raises_at_the_next_read(emulated):
    ember.set_device("cuda")
    ids = np.random.default_rng(1).integers(0, 20, (32, 5))
    ids[9, 2] = 20
    y = (ids[:, 0] % 2).astype(np.float32)
    m = ember.Sequential([ember.layers.Input((5,)), ember.layers.Embedding(20, 4), Flatten(), Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"Embedding: ids must be in \[0, 20\).*found at the next host read"):
        m.fit(ids, y, batch_size=8, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"Embedding: ids must be in \[0, 20\)"):  # outside fit: at once
        m.predict(ids[8:10])


def test_deferred_checks_fold_nest_and_stay_in_their_thread(emulated):
    import threading
    bad, good = fakecupy.asarray(np.array(True)), fakecupy.asarray(np.array(False))
    assert not checks.defer(bad, "x: outside")  # not deferring: the caller checks now
    with checks.deferred():
        assert checks.defer(good, "a: bad input") and checks.defer(good, "a: bad input")
        assert len(checks._state.pending) == 1  # one flag per message, OR-ed
        seen = []
        t = threading.Thread(target=lambda: seen.append(checks.defer(bad, "b")))
        t.start()
        t.join()
        assert seen == [False]  # another thread checks at once
        with checks.deferred():
            checks.defer(good, "c: fine")
        assert checks._state.pending  # the inner block leaves them to the outer one
        with fakecupy.transfer_stats() as c:
            checks.raise_pending()
        assert c.count == 1 and not checks._state.pending
    with pytest.raises(ValueError, match="d: bad.*found at the next host read"):
        with checks.deferred():
            checks.defer(bad, "d: bad")
    with pytest.raises(KeyError):  # an error inside drops what is pending, unread
        with checks.deferred():
            checks.defer(bad, "e: bad")
            raise KeyError("first")
    assert not checks._state.pending


@pytest.mark.parametrize("kw", [{}, {"thresholds": [0.2, 0.5, 0.7]}, {"class_id": 1}], ids=["default", "thresholds", "class_id"])
def test_precision_and_recall_count_on_the_device_like_on_the_cpu(emulated, kw):
    rng = np.random.default_rng(8)
    x = rng.random((48, 6)).astype(np.float32)
    y = (rng.random((48, 3)) > 0.5).astype(np.float32)
    sw = rng.random(48).astype(np.float32)
    res = {}
    for dev in ("cpu", "cuda"):
        ember.set_device(dev)
        ember.set_seed(3)
        m = ember.Sequential([ember.layers.Input((6,)), Dense(3, activation="sigmoid")])
        m.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[ember.metrics.Precision(name="p", **kw), ember.metrics.Recall(name="r", **kw)])
        m.fit(x[:16], y[:16], batch_size=16, epochs=1, verbose=0)
        with fakecupy.transfer_stats() as t:
            h = m.fit(x, y, sample_weight=sw, batch_size=16, epochs=1, verbose=0, shuffle=False)
        res[dev] = h.history, t.count, m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    (h0, _, e0), (h1, reads, e1) = res["cpu"], res["cuda"]
    assert reads == 1
    for k in h0:
        np.testing.assert_allclose(np.asarray(h1[k], np.float64), np.asarray(h0[k], np.float64), rtol=1e-6, err_msg=k)
    for k in e0:
        np.testing.assert_allclose(np.asarray(e1[k], np.float64), np.asarray(e0[k], np.float64), rtol=1e-6, err_msg=k)
