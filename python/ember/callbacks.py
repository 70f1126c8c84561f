"""Keras-style training callbacks: Callback, History, EarlyStopping, ModelCheckpoint,
ReduceLROnPlateau, CSVLogger, LearningRateScheduler, TerminateOnNaN, LambdaCallback.

``fit`` / ``evaluate`` / ``predict`` call the hooks with Keras' arguments:
``on_train_begin()``, ``on_epoch_begin(epoch)``, ``on_train_batch_begin(step)``,
``on_train_batch_end(step, logs)`` (the epoch's running ``loss`` and metrics so far),
``on_epoch_end(epoch, logs)`` (with ``val_*``), ``on_train_end(logs)``; validation inside
``fit`` and ``evaluate`` call ``on_test_begin()``, ``on_test_batch_begin(step)``,
``on_test_batch_end(step, logs)``, ``on_test_end(logs)``; ``predict`` calls
``on_predict_begin()``, ``on_predict_batch_begin(step)``,
``on_predict_batch_end(step, {"outputs": batch_outputs})``, ``on_predict_end()``.
The epoch ``logs`` dict is shared by the callbacks in order, then ``History`` (last, as
in Keras), so keys a callback adds (``learning_rate``) are recorded. Batch hooks are only
called for callbacks that override them, so epoch-level callbacks cost nothing per step.
"""
from __future__ import annotations

import collections.abc
import csv
import math
import numbers
import os
import warnings
from typing import Callable, Dict, List, Optional

import numpy as np

from . import serialization
from .utils.progbar import Progbar  # noqa: F401  (fit's bar; kept importable from here)


class Callback:
    """Base class; override the hooks you need. ``self.model`` is set by ``fit``."""

    def __init__(self):
        self.model = None
        self.params: Dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: Dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass  # Keras' older names of the two below
    def on_batch_end(self, batch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): self.on_batch_begin(batch, logs)
    def on_train_batch_end(self, batch, logs=None): self.on_batch_end(batch, logs)
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
               "on_predict_batch_begin", "on_predict_batch_end")


_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


def _overrides(cb: Callback, hook: str) -> bool:
    alias = _ALIASES.get(hook)
    return hook in vars(cb) or getattr(type(cb), hook) is not getattr(Callback, hook) or (
        alias is not None and _overrides(cb, alias))


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]`` is the list of epoch losses."""

    def __init__(self):
        super().__init__()
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def plot(self, path: str, **kwargs) -> str:
        """Save the loss and metric curves to ``path`` (see ``ember.utils.plot_history``; needs matplotlib)."""
        from .utils.plotting import plot_history
        return plot_history(self, path, **kwargs)


class TerminateOnNaN(Callback):
    """Stops training when a batch loss is NaN or infinite (``fit`` also does this on its own)."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


# ---------------------------------------------------------------------------------------
# monitoring a logged quantity
# ---------------------------------------------------------------------------------------

def _check_mode(mode: str, who: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max'. Received: {mode!r}")
    return mode


def _resolve_mode(mode: str, monitor: str, model, who: str) -> str:
    """"min" or "max" for ``monitor``. With mode="auto", Keras 3's rule: a loss ("loss",
    "val_loss"; here also "<output>_loss") is minimized; a compiled metric follows its
    direction (accuracy, precision, recall, auc, ... up; errors and cross-entropies down);
    anything else is an error asking for mode="min" or "max"."""
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    heads = getattr(model, "_heads", None) or []
    if name == "loss" or any(name == f"{h.name}_loss" for h in heads):
        return "min"
    from . import metrics as metrics_mod
    multi = len(heads) > 1
    for h in heads:
        for spec in h.metric_specs:
            try:
                m = metrics_mod.get(spec, h.loss)
            except (TypeError, ValueError):
                continue
            if (f"{h.name}_{m.name}" if multi else m.name) == name and m._direction is not None:
                return "max" if m._direction == "up" else "min"
    raise ValueError(f"{who} callback received monitor={monitor!r}, but ember isn't able to automatically "
                     "determine whether that metric should be maximized or minimized. Pass `mode='max'` in "
                     "order to monitor based on the highest metric value, or pass `mode='min'` in order to use "
                     "the lowest value.")


class _MonitorCallback(Callback):
    """Shared by EarlyStopping and ModelCheckpoint (Keras' MonitorCallback): the direction is
    resolved at the first check, when the model's metrics are known; a value improves on
    ``best`` when it is better by more than ``min_delta``."""

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline: Optional[float] = None,
                 min_delta: float = 0.0):
        super().__init__()
        self.monitor = monitor
        self.mode = _check_mode(mode, type(self).__name__)
        self.best = baseline
        self.min_delta = abs(float(min_delta))
        self.monitor_op: Optional[str] = None  # "min" or "max" once resolved

    def _set_monitor_op(self) -> None:
        self.monitor_op = _resolve_mode(self.mode, self.monitor, self.model, type(self).__name__)

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        if self.monitor_op == "min":
            return bool(value + self.min_delta < reference)
        return bool(value - self.min_delta > reference)


class EarlyStopping(_MonitorCallback):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs (Keras 3). ``baseline``: the wait only restarts on epochs that beat
    both the best value and the baseline. ``restore_best_weights``: at the end of training
    the weights of the best epoch are restored (whether or not training stopped early).
    ``start_from_epoch``: epochs before it are not monitored. ``mode="auto"``: see
    ``_resolve_mode`` (an unknown quantity needs mode="min" / "max")."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: Optional[float] = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__(monitor, mode, None, min_delta)
        self.patience, self.verbose = int(patience), verbose
        self.baseline, self.restore_best_weights = baseline, bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs or {})}", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_MonitorCallback):
    """Save the model (``model.save``) or its weights (``save_weights_only``: ``model.save_weights``)
    at the end of every epoch (``save_freq="epoch"``) or every ``save_freq`` batches.

    ``filepath`` may hold Python format fields filled from ``epoch`` (1-based), ``batch``
    (1-based, when saving every few batches) and the logs: ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"``.
    ``save_best_only``: save only when ``monitor`` improves on the best value so far
    (``mode``, ``initial_value_threshold`` as in Keras); without format fields the file is
    overwritten by each better model.

    File format: the name picks it, as for ``model.save`` / ``save_weights``: ``.keras`` a
    Keras 3 archive and ``.weights.h5`` Keras weights (need h5py), ``.safetensors``
    safetensors weights, any other name (``.h5`` too) ember's own format (an .npz zip: JSON
    config + weights, no pickle), always to exactly the path given. Saving a whole
    subclassed model is not supported (``save_weights_only=True`` is); that is reported
    when training starts."""

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", save_freq="epoch",
                 initial_value_threshold: Optional[float] = None):
        super().__init__(monitor, mode, initial_value_threshold)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        if not self.save_weights_only and self.filepath.endswith(".weights.h5"):
            # Keras' rule, checked here rather than after the first epoch's training
            raise ValueError("ModelCheckpoint: a '.weights.h5' file holds weights only; pass "
                             f"save_weights_only=True or name a '.keras' file. Received: filepath={filepath!r}")
        if save_freq != "epoch" and not (isinstance(save_freq, numbers.Integral) and save_freq > 0):
            raise ValueError(f"ModelCheckpoint: unrecognized save_freq: {save_freq!r}. Expected 'epoch' or a "
                             "positive integer (a number of batches)")
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0

    def on_train_begin(self, logs=None):
        if not self.save_weights_only:
            if serialization.graph_kind(self.model) is None:
                raise NotImplementedError(
                    f"ModelCheckpoint: {type(self.model).__name__} is a subclassed model, whose architecture "
                    "ember cannot save; pass save_weights_only=True (and rebuild the model in code before "
                    "load_weights)")

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None and self.save_best_only:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        if batch <= self._last_batch_seen:  # a new epoch
            add = batch + 1
        else:
            add = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _get_file_path(self, epoch: int, batch: Optional[int], logs) -> str:
        logs = dict(logs or {})
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'ModelCheckpoint: failed to format the filepath "{self.filepath}": the logs have no '
                           f"key {e}. Available: epoch{', batch' if batch is not None else ''}, "
                           f"{', '.join(logs)}") from None

    def _should_save(self, epoch: int, logs, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if np.ndim(current) > 0:
            warnings.warn(f"Can save best model only when `monitor` is a scalar value. Received: {current}. "
                          "Falling back to `save_best_only=False`.", stacklevel=3)
            return True
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to {current:.5f}, "
                      f"saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    def _save_model(self, epoch: int, batch: Optional[int], logs) -> None:
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"ModelCheckpoint: please specify a non-directory filepath. Filepath used is "
                                    f"an existing directory: {filepath}")
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)


class ReduceLROnPlateau(Callback):
    """Multiply the optimizer's learning rate by ``factor`` when ``monitor`` has not improved
    by more than ``min_delta`` for ``patience`` epochs, then wait ``cooldown`` epochs before
    counting again; never below ``min_lr``. Adds ``learning_rate`` to the epoch logs (so
    ``history.history["learning_rate"]`` records it). The optimizer must have a float
    learning rate: one created with a schedule raises TypeError when training starts."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected keyword argument(s) {sorted(kwargs)}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.monitor, self.factor, self.min_lr = monitor, float(factor), float(min_lr)
        self.min_delta, self.patience, self.verbose = float(min_delta), int(patience), verbose
        self.cooldown = int(cooldown)
        self.mode = _check_mode(mode, "ReduceLROnPlateau")
        self.monitor_op: Optional[str] = None
        self._reset()

    def _reset(self) -> None:
        self.cooldown_counter = 0
        self.wait = 0
        self.best = None

    def on_train_begin(self, logs=None):
        self._reset()
        opt = self.model.optimizer
        if callable(getattr(opt, "_learning_rate", None)):
            raise TypeError(f"ReduceLROnPlateau: the optimizer ({type(opt).__name__}) was created with a learning "
                            f"rate schedule ({type(opt._learning_rate).__name__}), so its learning rate cannot be "
                            "reduced; create the optimizer with a float learning_rate to use ReduceLROnPlateau")

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _improved(self, current) -> bool:
        if self.best is None:
            return True
        if self.monitor_op == "min":
            return bool(current < self.best - self.min_delta)
        return bool(current > self.best + self.min_delta)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            logs = {}
        opt = self.model.optimizer
        logs["learning_rate"] = float(opt.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.monitor_op is None:
            self.monitor_op = _resolve_mode(self.mode, self.monitor, self.model, "ReduceLROnPlateau")
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(opt.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    opt.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class CSVLogger(Callback):
    """Stream the epoch logs to a CSV file: a header ``epoch,<sorted log keys>`` then one row
    per epoch (epoch 0-based, missing values "NA"). ``append=True`` adds to an existing file
    (without a second header). Like Keras, when the first epoch has no ``val_*`` keys,
    ``val_`` columns are added for every key (validation may start later)."""

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", newline="") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    @staticmethod
    def _value(v):
        if isinstance(v, str):
            return v
        if isinstance(v, np.ndarray) and v.ndim == 0:
            return v.item()
        if isinstance(v, collections.abc.Iterable):
            return f"[{', '.join(map(str, v))}]"
        return v

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys.extend(["val_" + k for k in self.keys])
        if self.writer is None:
            class Dialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, dialect=Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, self._value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks: Callable):
        super().__init__()
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at each epoch start to ``schedule(epoch, lr)``
    (or ``schedule(epoch)``, the old Keras form); adds ``learning_rate`` to the epoch logs."""

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        try:
            lr = self.schedule(epoch, float(opt.learning_rate))
        except TypeError:  # the old API: schedule(epoch)
            lr = self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
            raise ValueError(f"LearningRateScheduler: the output of the `schedule` function should be a float. "
                             f"Got: {lr!r}")
        opt.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CallbackList:
    """Dispatches hooks to callbacks in order; batch hooks only to those that override them
    (``batch(hook, step, logs)``, with ``has(hook)`` to skip building batch logs)."""

    def __init__(self, callbacks: List[Callback], model, params: Dict):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be ember.callbacks.Callback instances. Received: {cb!r}")
            cb.set_model(model)
            cb.set_params(params)
        self._batch = {h: [cb for cb in self.callbacks if _overrides(cb, h)] for h in BATCH_HOOKS}

    def call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def has(self, hook: str) -> bool:
        return bool(self._batch[hook])

    def batch(self, hook: str, step: int, logs=None) -> None:
        for cb in self._batch[hook]:
            getattr(cb, hook)(step, logs)
