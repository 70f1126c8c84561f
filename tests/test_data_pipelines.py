"""fit / evaluate / predict on generators, iterables, PyDataset, a torch DataLoader and a
tf.data-like dataset (duck typed), with steps_per_epoch / validation_steps / shuffle."""
import threading

import numpy as np
import pytest

import ember
import ember as keras
from ember import layers


def _data(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x.sum(1, keepdims=True) > 0).astype(np.float32)
    return x, y


def _model(d=3):
    ember.utils.clear_session()
    ember.set_seed(0)
    m = keras.Sequential([keras.Input(shape=(d,)), layers.Dense(4, activation="relu"), layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return m


def _batches(x, y, bs):
    return [(x[i:i + bs], y[i:i + bs]) for i in range(0, len(x), bs)]


def test_an_iterable_of_batches_trains_as_the_same_arrays_unshuffled():
    x, y = _data()
    a = _model().fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    b = _model().fit(_batches(x, y, 8), epochs=3, verbose=0).history
    assert a == b


def test_a_generator_with_steps_per_epoch_runs_on_across_epochs():
    x, y = _data()
    calls = []

    def gen():
        while True:
            for i in range(0, 40, 8):
                calls.append(i)
                yield x[i:i + 8], y[i:i + 8]

    m = _model()
    h = m.fit(gen(), steps_per_epoch=5, epochs=3, verbose=0)
    assert len(h.history["loss"]) == 3 and len(calls) == 15
    ref = _model().fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    assert h.history == ref


def test_a_finite_generator_ends_the_epoch_then_warns_when_it_runs_out():
    x, y = _data()
    m = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = m.fit((b for b in _batches(x, y, 8)), epochs=3, verbose=0)
    assert len(h.history["loss"]) == 1


def test_validation_data_as_a_generator_with_validation_steps():
    x, y = _data()
    vx, vy = _data(seed=1)
    m = _model()
    h = m.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False,
              validation_data=iter(_batches(vx, vy, 10)[:2] * 2), validation_steps=2)
    m2 = _model()
    h2 = m2.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False, validation_data=(vx[:20], vy[:20]),
                validation_batch_size=10)
    np.testing.assert_allclose(h.history["val_loss"], h2.history["val_loss"], rtol=1e-6)


def test_evaluate_and_predict_on_datasets():
    x, y = _data()
    m = _model()
    ref_eval = m.evaluate(x, y, batch_size=8, verbose=0)
    assert m.evaluate(_batches(x, y, 8), verbose=0) == pytest.approx(ref_eval, rel=1e-6)
    assert m.evaluate(iter(_batches(x, y, 8)), steps=5, verbose=0) == pytest.approx(ref_eval, rel=1e-6)
    np.testing.assert_allclose(m.predict((x[i:i + 7],) for i in range(0, 40, 7)), m.predict(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.predict(_batches(x, y, 16)), m.predict(x), rtol=1e-5, atol=1e-6)


def test_sample_weights_and_class_weights_from_a_generator():
    x, y = _data()
    w = np.linspace(0.5, 2, 40).astype(np.float32)
    a = _model().fit(x, y, sample_weight=w, batch_size=10, shuffle=False, epochs=2, verbose=0).history
    b = _model().fit([(x[i:i + 10], y[i:i + 10], w[i:i + 10]) for i in range(0, 40, 10)], epochs=2,
                     verbose=0).history
    assert a == b
    cw = {0: 1.0, 1: 3.0}
    a = _model().fit(x, y, class_weight=cw, batch_size=10, shuffle=False, epochs=2, verbose=0).history
    b = _model().fit(_batches(x, y, 10), class_weight=cw, epochs=2, verbose=0).history
    assert a == b


class Squares(keras.utils.PyDataset):
    def __init__(self, x, y, bs, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.bs = x, y, bs
        self.epochs_ended = 0
        self.threads = set()

    def __len__(self):
        return int(np.ceil(len(self.x) / self.bs))

    def __getitem__(self, i):
        self.threads.add(threading.current_thread().name)
        sl = slice(i * self.bs, (i + 1) * self.bs)
        return self.x[sl], self.y[sl]

    def on_epoch_end(self):
        self.epochs_ended += 1


@pytest.mark.parametrize("workers", [1, 3])
def test_py_dataset(workers):
    x, y = _data()
    ds = Squares(x, y, 8, workers=workers, use_multiprocessing=workers > 1, max_queue_size=2)
    h = _model().fit(ds, epochs=3, shuffle=False, verbose=0).history
    assert ds.epochs_ended == 3
    assert h == _model().fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    if workers > 1:
        assert all(t.startswith("PyDataset") for t in ds.threads)
    m = _model()
    np.testing.assert_allclose(m.predict(Squares(x, y, 8, workers=workers)), m.predict(x), rtol=1e-5, atol=1e-6)
    assert keras.utils.Sequence is keras.utils.PyDataset


def test_py_dataset_shuffle_visits_every_batch_once():
    x, y = _data()
    seen = []

    class Spy(Squares):
        def __getitem__(self, i):
            seen.append(i)
            return super().__getitem__(i)

    _model().fit(Spy(x, y, 8), epochs=2, shuffle=True, verbose=0)
    assert sorted(seen[:5]) == list(range(5)) and sorted(seen[5:]) == list(range(5))
    assert seen[:5] != list(range(5)) or seen[5:] != list(range(5))


def test_shuffle_batch_keeps_the_batches_and_shuffles_within_them():
    x = np.arange(20, dtype=np.float32)[:, None]
    seen = []

    class Spy(keras.callbacks.Callback):
        pass

    class M(keras.Model):
        def train_step(self, data):
            seen.append(np.sort(data[0][:, 0]))
            seen_order.append(data[0][:, 0].copy())
            return {}

    seen_order = []
    ember.utils.clear_session()
    inputs = keras.Input(shape=(1,))
    m = M(inputs, layers.Dense(1)(inputs))
    m.compile(optimizer="sgd", loss="mse")
    ember.set_seed(0)
    m.fit(x, x, batch_size=5, shuffle="batch", epochs=2, verbose=0, callbacks=[Spy()])
    for i, b in enumerate(seen):
        np.testing.assert_array_equal(b, np.arange(5 * (i % 4), 5 * (i % 4) + 5))
    assert any((o != np.sort(o)).any() for o in seen_order)


class FakeTFDataset:
    """What fit needs of a tf.data.Dataset: as_numpy_iterator (duck typed)."""

    def __init__(self, batches):
        self.batches = batches

    def as_numpy_iterator(self):
        return iter(self.batches)

    def __iter__(self):
        raise AssertionError("a tf.data.Dataset is read through as_numpy_iterator")


def test_a_tf_data_like_dataset():
    x, y = _data()
    h = _model().fit(FakeTFDataset(_batches(x, y, 8)), epochs=2, verbose=0).history
    assert h == _model().fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history


def test_a_torch_data_loader():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset
    x, y = _data()
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=8, shuffle=False)
    m = _model()
    h = m.fit(loader, epochs=2, verbose=0, validation_data=loader).history
    ref = _model().fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=(x, y))
    np.testing.assert_allclose(h["loss"], ref.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(h["val_loss"], ref.history["val_loss"], rtol=1e-6)
    np.testing.assert_allclose(m.predict(loader), m.predict(x), rtol=1e-5, atol=1e-6)


def test_clear_errors():
    x, y = _data()
    m = _model()
    with pytest.raises(ValueError, match="pass y and sample_weight inside it"):
        m.fit(_batches(x, y, 8), y, verbose=0)
    with pytest.raises(ValueError, match="validation_split is only supported for array inputs"):
        m.fit(_batches(x, y, 8), validation_split=0.2, verbose=0)
    with pytest.raises(TypeError, match="x must be arrays, a generator"):
        m.fit(object(), verbose=0)


def test_the_progress_line_of_a_generator_of_unknown_length(capsys):
    x, y = _data()
    _model().fit((b for b in _batches(x, y, 8)), epochs=1, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "5/5 - " in out and "loss: " in out, out


def test_a_py_dataset_error_in_a_worker_reaches_fit():
    x, y = _data()

    class Broken(Squares):
        def __getitem__(self, i):
            if i == 2:
                raise KeyError("batch 2 is broken")
            return super().__getitem__(i)

    with pytest.raises(KeyError, match="batch 2 is broken"):
        _model().fit(Broken(x, y, 8, workers=2), epochs=1, verbose=0)
