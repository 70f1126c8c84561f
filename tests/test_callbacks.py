"""Callbacks: hook order and arguments in fit / evaluate / predict, ModelCheckpoint,
ReduceLROnPlateau, CSVLogger, EarlyStopping (Keras 3 semantics), LearningRateScheduler."""
import csv
import os

import numpy as np
import pytest

import ember
from ember import callbacks as C
from ember.layers import Dense

rng = np.random.default_rng(0)
X = rng.standard_normal((24, 3)).astype(np.float32)
Y = (X[:, :1] > 0).astype(np.float32)
XV, YV = X[:8], Y[:8]


def small_model(lr=0.05, metrics=("accuracy",), optimizer=None):
    ember.set_seed(0)
    m = ember.Sequential([Dense(4, activation="tanh", input_shape=(3,)), Dense(1, activation="sigmoid")])
    m.compile(optimizer or ember.optimizers.SGD(lr), "binary_crossentropy", metrics=list(metrics))
    return m


def feed(values, key="score"):
    """A callback that puts values[epoch] into the epoch logs under ``key`` (it runs before
    the callbacks listed after it, which see the value)."""
    return C.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update({key: values[epoch]}))


# ---- hooks -----------------------------------------------------------------------------

class Recorder(C.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attr = object.__getattribute__(self, name)
        if name.startswith("on_"):
            def rec(*args):
                self.calls.append((name,) + tuple(args))
            return rec
        return attr


for _hook in [h for h in vars(C.Callback) if h.startswith("on_")]:  # make every hook an override
    setattr(Recorder, _hook, lambda self, *a: None)


def test_hooks_called_with_keras_arguments():
    m = small_model()
    r = Recorder()
    m.fit(X, Y, epochs=2, batch_size=10, validation_data=(XV, YV), callbacks=[r], verbose=0)
    names = [c[0] for c in r.calls]
    assert names[0] == "on_train_begin" and names[-1] == "on_train_end"
    assert r.calls[0] == ("on_train_begin", None)
    epoch0 = names[1:names.index("on_epoch_end") + 1]
    assert epoch0 == ["on_epoch_begin"] + ["on_train_batch_begin", "on_train_batch_end"] * 3 + \
        ["on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end", "on_epoch_end"]
    batch_ends = [c for c in r.calls if c[0] == "on_train_batch_end"]
    assert [c[1] for c in batch_ends] == [0, 1, 2, 0, 1, 2]
    assert all(c[2] is None for c in r.calls if c[0] in ("on_train_batch_begin", "on_epoch_begin"))
    # batch logs: the epoch's running loss and metrics (the last batch's equal the epoch's)
    epoch_ends = [c for c in r.calls if c[0] == "on_epoch_end"]
    last = batch_ends[2][2]
    assert set(last) == {"loss", "accuracy"}
    assert last["loss"] == epoch_ends[0][2]["loss"] and last["accuracy"] == epoch_ends[0][2]["accuracy"]
    assert set(epoch_ends[0][2]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    test_end = [c for c in r.calls if c[0] == "on_test_end"][0][1]
    assert test_end["loss"] == epoch_ends[0][2]["val_loss"]
    assert r.calls[-1][1] == epoch_ends[-1][2]  # on_train_end gets the last epoch's logs
    assert r.params == {"epochs": 2, "steps": 3, "verbose": 0}

    r.calls.clear()
    m.evaluate(X, Y, batch_size=16, callbacks=[r], verbose=0)
    assert [c[0] for c in r.calls] == ["on_test_begin", "on_test_batch_begin", "on_test_batch_end",
                                       "on_test_batch_begin", "on_test_batch_end", "on_test_end"]
    assert r.calls[0][1] is None and set(r.calls[2][2]) == {"loss", "accuracy"}

    r.calls.clear()
    out = m.predict(X, batch_size=16, callbacks=[r])
    assert [c[0] for c in r.calls] == ["on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end",
                                       "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end"]
    got = np.concatenate([c[2]["outputs"] for c in r.calls if c[0] == "on_predict_batch_end"])
    np.testing.assert_array_equal(got, out)


def test_lambda_callback_batch_hooks_run():
    seen = []
    m = small_model()
    m.fit(X, Y, epochs=1, batch_size=8, verbose=0,
          callbacks=[C.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))])
    assert seen == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown hook"):
        C.LambdaCallback(on_epoch_ending=print)


# ---- ModelCheckpoint ---------------------------------------------------------------------
# (ember's own format: these need no optional package; test_interop_keras checks .keras)

def test_model_checkpoint_every_epoch_formats_path(tmp_path):
    m = small_model()
    path = str(tmp_path / "ck" / "model-{epoch:02d}-{val_loss:.3f}.ember")
    h = m.fit(X, Y, epochs=3, batch_size=8, validation_data=(XV, YV), verbose=0,
              callbacks=[C.ModelCheckpoint(path)])
    names = sorted(os.listdir(tmp_path / "ck"))
    assert names == [f"model-{e + 1:02d}-{v:.3f}.ember" for e, v in enumerate(h.history["val_loss"])]
    last = ember.models.load_model(str(tmp_path / "ck" / names[-1]))  # ember's format at exactly that path
    for a, b in zip(last.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_save_best_only_and_weights(tmp_path):
    m = small_model()
    scores = [0.5, 0.7, 0.6, 0.9, 0.9]
    snaps = []
    path = str(tmp_path / "best.weights.npz")
    cb = C.ModelCheckpoint(path, monitor="score", mode="max", save_best_only=True, save_weights_only=True)
    m.fit(X, Y, epochs=5, batch_size=8, verbose=0,
          callbacks=[feed(scores), C.LambdaCallback(on_epoch_end=lambda e, l: snaps.append(m.get_weights())), cb])
    assert os.listdir(tmp_path) == ["best.weights.npz"] and cb.best == 0.9
    m2 = small_model()
    m2.load_weights(path)
    for a, b in zip(m2.get_weights(), snaps[3]):  # epoch 3 (0.9); epoch 4 only ties it
        np.testing.assert_array_equal(a, b)

    # the epochs that improve, with a formatted path; initial_value_threshold
    cb = C.ModelCheckpoint(str(tmp_path / "e{epoch}.ember"), monitor="score", mode="max", save_best_only=True,
                           initial_value_threshold=0.55)
    m.fit(X, Y, epochs=5, batch_size=8, verbose=0, callbacks=[feed(scores), cb])
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith("e")) == ["e2.ember", "e4.ember"]


def test_model_checkpoint_auto_mode_uses_metric_direction(tmp_path):
    m = small_model(metrics=["auc"])
    cb = C.ModelCheckpoint(str(tmp_path / "m.ember"), monitor="val_auc", save_best_only=True)
    m.fit(X, Y, epochs=1, batch_size=8, validation_data=(XV, YV), verbose=0, callbacks=[cb])
    assert cb.monitor_op == "max" and os.path.exists(tmp_path / "m.ember")
    cb = C.ModelCheckpoint(str(tmp_path / "m.ember"), monitor="score", save_best_only=True)
    with pytest.raises(ValueError, match="mode='max'"):
        m.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[feed([1.0]), cb])


def test_model_checkpoint_save_freq_batches(tmp_path):
    m = small_model()
    cb = C.ModelCheckpoint(str(tmp_path / "{epoch}-{batch}.ember"), save_freq=2)
    m.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])  # 3 batches per epoch
    # batches seen: 2 (epoch 1, batch 2), 4 (epoch 2, batch 1), 6 (epoch 2, batch 3)
    assert sorted(os.listdir(tmp_path)) == ["1-2.ember", "2-1.ember", "2-3.ember"]


def test_model_checkpoint_errors(tmp_path):
    with pytest.raises(ValueError, match="save_freq"):
        C.ModelCheckpoint(str(tmp_path / "m.ember"), save_freq="batch")
    m = small_model()
    with pytest.raises(KeyError, match="val_acc"):
        m.fit(X, Y, epochs=1, verbose=0, callbacks=[C.ModelCheckpoint(str(tmp_path / "{val_acc}.ember"))])
    (tmp_path / "adir").mkdir()
    with pytest.raises(IsADirectoryError, match="non-directory"):
        m.fit(X, Y, epochs=1, verbose=0, callbacks=[C.ModelCheckpoint(str(tmp_path / "adir"))])

    class Sub(ember.Model):
        def __init__(self):
            super().__init__()
            self.d = Dense(1)

        def call(self, x, training=False):
            return self.d(x)

    s = Sub()
    s.compile("sgd", "mse")
    with pytest.raises(NotImplementedError, match="save_weights_only=True"):
        s.fit(X, Y, epochs=1, verbose=0, callbacks=[C.ModelCheckpoint(str(tmp_path / "s.ember"))])
    s.fit(X, Y, epochs=1, verbose=0, callbacks=[C.ModelCheckpoint(str(tmp_path / "s.weights.npz"),
                                                                  save_weights_only=True)])
    assert os.path.exists(tmp_path / "s.weights.npz")


# ---- ReduceLROnPlateau -------------------------------------------------------------------

def test_reduce_lr_on_plateau_patience_cooldown_min_lr():
    m = small_model(lr=1.0)
    scores = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85]
    cb = C.ReduceLROnPlateau(monitor="score", mode="min", factor=0.5, patience=2, cooldown=1, min_lr=0.3)
    h = m.fit(X, Y, epochs=10, batch_size=24, verbose=0, callbacks=[feed(scores), cb])
    # logged before each epoch's reduction: 1.0 -> 0.5 after epoch 3, -> max(0.25, 0.3) after
    # epoch 7 (one cooldown epoch after each), never below min_lr
    assert h.history["learning_rate"] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.3, 0.3]
    assert m.optimizer.learning_rate == 0.3


def test_reduce_lr_on_plateau_auto_mode_and_errors():
    m = small_model(lr=0.5, metrics=["accuracy"])
    cb = C.ReduceLROnPlateau(monitor="val_accuracy", patience=0, factor=0.5, min_delta=2.0)
    m.fit(X, Y, epochs=3, batch_size=24, validation_data=(XV, YV), verbose=0, callbacks=[cb])
    assert cb.monitor_op == "max" and m.optimizer.learning_rate == 0.125  # no change beats min_delta=2
    with pytest.raises(ValueError, match="factor >= 1.0"):
        C.ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="mode"):
        C.ReduceLROnPlateau(mode="up")
    sched = small_model(optimizer=ember.optimizers.SGD(ember.optimizers.ExponentialDecay(0.1, 10, 0.5)))
    with pytest.raises(TypeError, match="schedule"):
        sched.fit(X, Y, epochs=1, verbose=0, callbacks=[C.ReduceLROnPlateau(monitor="loss")])
    with pytest.warns(UserWarning, match="not available"):
        m.fit(X, Y, epochs=1, verbose=0, callbacks=[C.ReduceLROnPlateau(monitor="val_loss")])


# ---- CSVLogger ---------------------------------------------------------------------------

def test_csv_logger(tmp_path):
    path = str(tmp_path / "log.csv")
    m = small_model()
    h = m.fit(X, Y, epochs=2, batch_size=8, validation_data=(XV, YV), verbose=0, callbacks=[C.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    for e, row in enumerate(rows[1:]):
        assert int(row[0]) == e
        assert [float(v) for v in row[1:]] == [h.history[k][e] for k in rows[0][1:]]
    # append: more rows, no second header; no validation: val_ columns "NA"
    m.fit(X, Y, epochs=1, verbose=0, callbacks=[C.CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 4 and rows[3][0] == "0" and rows[3][3:] == ["NA", "NA"]
    p2 = str(tmp_path / "semi.csv")
    m.fit(X, Y, epochs=1, verbose=0, callbacks=[C.CSVLogger(p2, separator=";")])
    with open(p2) as f:
        assert f.readline().strip() == "epoch;accuracy;loss;val_accuracy;val_loss"


# ---- EarlyStopping / LearningRateScheduler ---------------------------------------------

def test_early_stopping_restores_best_weights_without_stopping():
    m = small_model()
    snaps = []
    cb = C.EarlyStopping(monitor="score", mode="min", patience=10, restore_best_weights=True)
    h = m.fit(X, Y, epochs=4, batch_size=8, verbose=0,
              callbacks=[feed([3.0, 1.0, 2.0, 2.5]), C.LambdaCallback(on_epoch_end=lambda e, l: snaps.append(m.get_weights())), cb])
    assert len(h.history["loss"]) == 4 and cb.stopped_epoch == 0 and cb.best_epoch == 1
    for a, b in zip(m.get_weights(), snaps[1]):  # Keras 3 restores at train end even without a stop
        np.testing.assert_array_equal(a, b)


def test_early_stopping_baseline_start_from_epoch_and_modes():
    m = small_model()
    h = m.fit(X, Y, epochs=10, verbose=0,
              callbacks=[feed([1.0] * 10), C.EarlyStopping(monitor="score", mode="min", baseline=0.5, patience=2)])
    assert len(h.history["loss"]) == 2  # never beats the baseline: the wait is never reset
    h = m.fit(X, Y, epochs=10, verbose=0,
              callbacks=[feed([1.0] * 10), C.EarlyStopping(monitor="score", mode="min", start_from_epoch=3)])
    assert len(h.history["loss"]) == 5
    h = m.fit(X, Y, epochs=10, verbose=0,
              callbacks=[feed([1.0, 1.2, 1.25, 1.3]), C.EarlyStopping(monitor="score", mode="max", min_delta=0.1,
                                                                      patience=1)])
    assert len(h.history["loss"]) == 3  # 1.25 is not 0.1 better than 1.2
    with pytest.raises(ValueError, match="mode"):
        C.EarlyStopping(mode="maximum")
    with pytest.raises(ValueError, match="mode='max'"):
        m.fit(X, Y, epochs=1, verbose=0, callbacks=[feed([1.0]), C.EarlyStopping(monitor="score")])
    auc = small_model(metrics=["AUC", ember.metrics.RootMeanSquaredError()])
    for monitor, want in [("val_AUC", "max"), ("root_mean_squared_error", "min"), ("val_loss", "min")]:
        cb = C.EarlyStopping(monitor=monitor)
        cb.set_model(auc)
        auc._prepare_steps(X)
        cb._set_monitor_op()
        assert cb.monitor_op == want, monitor


def test_learning_rate_scheduler_apis_and_log():
    m = small_model(lr=0.1)
    h = m.fit(X, Y, epochs=3, verbose=0, callbacks=[C.LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    assert h.history["learning_rate"] == [0.05, 0.025, 0.0125]
    h = m.fit(X, Y, epochs=2, verbose=0, callbacks=[C.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))])
    assert h.history["learning_rate"] == [0.01, 0.02]
    with pytest.raises(ValueError, match="should be a float"):
        m.fit(X, Y, epochs=1, verbose=0, callbacks=[C.LearningRateScheduler(lambda epoch, lr: "fast")])
