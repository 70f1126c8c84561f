"""Keras-style training callbacks: Callback, History, EarlyStopping, TerminateOnNaN, ...

``fit`` calls the hooks of each callback with a ``logs`` dict (``loss``, metric names,
``val_*`` at epoch end). Batch hooks are only called for callbacks that override them, so
epoch-level callbacks cost nothing per step.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Callable, Dict, List, Optional

import numpy as np


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
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


def _overrides(cb: Callback, hook: str) -> bool:
    return getattr(type(cb), hook) is not getattr(Callback, hook)


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


class TerminateOnNaN(Callback):
    """Stops training when a batch loss is NaN or infinite (``fit`` also does this on its own)."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    optionally restore the weights of the best epoch."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: Optional[float] = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max'. Received: {mode!r}")
        if mode == "auto":
            mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
        self.mode = mode
        self.min_delta = abs(min_delta) if mode == "max" else -abs(min_delta)

    def _better(self, a, b) -> bool:
        return a - self.min_delta > b if self.mode == "max" else a - self.min_delta < b

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = -np.inf if self.mode == "max" else np.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping: metric {self.monitor!r} is not available. Available: {sorted(logs or {})}",
                          stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._better(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None and self.stopped_epoch > 0:
            self.model.set_weights(self.best_weights)


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks: Callable):
        super().__init__()
        for name, fn in hooks.items():
            if not hasattr(Callback, name):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at each epoch start: ``schedule(epoch, lr) -> lr``."""

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        opt.learning_rate = float(self.schedule(epoch, opt.learning_rate))


class CallbackList:
    """Dispatches hooks to callbacks; batch hooks only to those that override them."""

    def __init__(self, callbacks: List[Callback], model, params: Dict):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self.batch_end = [cb for cb in self.callbacks if _overrides(cb, "on_train_batch_end")]
        self.batch_begin = [cb for cb in self.callbacks if _overrides(cb, "on_train_batch_begin")]

    def call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)


class Progbar:
    """A one-line progress bar on a terminal, or one line per epoch elsewhere."""

    def __init__(self, target: int, verbose: int, stream=None):
        self.target, self.verbose = target, verbose
        self.stream = stream or sys.stdout
        self.interactive = verbose == 1 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self._last = 0.0

    @staticmethod
    def format_logs(logs: Dict[str, float]) -> str:
        return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())

    def update(self, step: int, logs: Dict[str, float]) -> None:
        if not self.interactive:
            return
        now = time.perf_counter()
        if step < self.target and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        done = int(width * step / max(self.target, 1))
        bar = "=" * max(done - 1, 0) + (">" if done < width else "=") + "." * (width - done)
        self.stream.write(f"\r{step}/{self.target} [{bar}] - {now - self.start:.0f}s - {self.format_logs(logs)}")
        self.stream.flush()

    def finish(self, logs: Dict[str, float]) -> None:
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(self.target, 1) * 1e3
        line = f"{self.target}/{self.target} - {elapsed:.1f}s - {per_step:.0f}ms/step - {self.format_logs(logs)}"
        if self.interactive:
            self.stream.write("\r" + line + " " * 10 + "\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
