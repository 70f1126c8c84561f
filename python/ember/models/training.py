"""compile / fit / evaluate / predict, shared by every model (Sequential, functional, subclassed)."""
from __future__ import annotations

import math
import sys
import warnings
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from .. import callbacks as cbks
from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod
from .. import random as erandom
from ..autograd import grad as _grad
from ..tensor import Tensor, _set_grad_enabled, no_grad
from . import data as D


def _verbosity(verbose) -> int:
    if verbose == "auto":
        return 1
    return int(verbose)


class Trainer:
    """The training API mixed into :class:`ember.Model`."""

    compiled = False
    optimizer = None
    loss = None
    stop_training = False
    history = None

    # -- compile -----------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics: Optional[Sequence] = None, loss_weights=None,
                **kwargs) -> None:
        """Configure training: ``optimizer`` and ``loss`` by object or Keras name, ``metrics``
        a list of names ("accuracy" / "acc", "mae", "mse", ...) or Metric objects.
        Extra Keras arguments (run_eagerly, jit_compile, steps_per_execution) are accepted
        and ignored."""
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = losses_mod.get(loss)
        if isinstance(metrics, dict):
            raise ValueError("compile: metrics per output (a dict) are not supported; pass a list")
        self._metric_specs = list(metrics or [])
        self.compiled = True

    def _make_metrics(self) -> List[metrics_mod.Metric]:
        return [metrics_mod.get(m, self.loss) for m in self._metric_specs]

    def _require_compiled(self, who: str) -> None:
        if not self.compiled or self.loss is None:
            raise RuntimeError(f"{who}: the model must be compiled with a loss first: "
                               "model.compile(optimizer='adam', loss='mse')")

    # -- steps -------------------------------------------------------------------------
    def _all_layers(self):
        out, seen, stack = [], set(), list(self._sublayers())
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(layer._sublayers())
        return out

    def _regularization_layers(self):
        return [l for l in self._all_layers() if not isinstance(l, Trainer) and hasattr(type(l), "losses")
                and l.losses]

    @property
    def losses(self) -> List[Tensor]:
        """Regularization penalties of all layers (Tensors), like Keras' ``model.losses``."""
        return [p for l in self._regularization_layers() for p in l.losses]

    def _prepare_steps(self, x=None) -> None:
        if x is not None and (not self.built or not all(l.built for l in self._all_layers())):
            with no_grad():  # build lazily-shaped layers before collecting the variables
                self(D.take(x, slice(0, 1)), training=False)
        self._tv = self.trainable_variables
        self._reg = self._regularization_layers()

    def _check_output(self, out, who: str):
        if isinstance(out, (list, tuple, dict)):
            raise NotImplementedError(f"{who}: models with several outputs are not supported by compile/fit yet; "
                                      "use a custom training loop with ember.GradientTape")
        return out

    def _train_step(self, xb, yb, swb):
        prev = _set_grad_enabled(True)
        try:
            out = self._check_output(self(xb, training=True), "fit")
            loss = self.loss(yb, out, swb)
            for layer in self._reg:
                for p in layer.losses:
                    loss = loss + p
        finally:
            _set_grad_enabled(prev)
        tv = self._tv
        if not tv:
            raise RuntimeError("fit: the model has no trainable variables")
        if not loss.requires_grad:
            raise RuntimeError("fit: the loss does not depend on any trainable variable")
        grads = _grad(loss, tv)
        self.optimizer.apply_gradients(zip(grads, tv))
        return float(loss.data), out.data

    def _test_step(self, xb, yb, swb):
        with no_grad():
            out = self._check_output(self(xb, training=False), "evaluate")
            loss = self.loss(yb, out, swb)
            for layer in self._reg:
                for p in layer.losses:
                    loss = loss + p
        return float(loss.data), out.data

    # -- fit ---------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size: Optional[int] = None, epochs: int = 1, verbose="auto",
            callbacks: Optional[List[cbks.Callback]] = None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, class_weight=None, sample_weight=None,
            initial_epoch: int = 0, steps_per_epoch=None, validation_batch_size: Optional[int] = None,
            validation_freq: int = 1) -> cbks.History:
        """Train for ``epochs`` passes over (x, y) in mini-batches; returns a History whose
        ``history`` dict maps "loss", each metric and "val_*" to per-epoch values.

        A NaN or infinite batch loss stops training with a warning (the epoch's logs, with
        the NaN, are still recorded)."""
        self._require_compiled("fit")
        if y is None:
            raise ValueError("fit: y is required (x, y arrays; datasets/generators are not supported)")
        bs = int(batch_size or 32)
        if bs < 1:
            raise ValueError(f"fit: batch_size must be >= 1. Received: {batch_size}")
        x = D.to_data(x, self._n_inputs(), "fit", "x", self.dtype)
        y = D.to_array(y, "fit", "y", self.dtype)
        sw = None if sample_weight is None else D.to_array(sample_weight, "fit", "sample_weight", self.dtype)
        if class_weight is not None:
            cw = np.vectorize(lambda c: float(class_weight.get(int(c), 1.0)))
            lab = y.argmax(-1) if (y.ndim > 1 and y.shape[-1] > 1) else y.reshape(y.shape[0], -1)[:, 0]
            w = cw(lab).astype(self.dtype)
            sw = w if sw is None else sw * w
        D.check_pair(x, y, "fit")
        if validation_data is None and validation_split:
            (x, y, sw), validation_data = D.split_validation(x, y, sw, validation_split, "fit")
        if validation_data is not None:
            if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight)")
            vx = D.to_data(validation_data[0], self._n_inputs(), "fit", "validation x", self.dtype)
            vy = D.to_array(validation_data[1], "fit", "validation y", self.dtype)
            vsw = (D.to_array(validation_data[2], "fit", "validation sample_weight", self.dtype)
                   if len(validation_data) == 3 and validation_data[2] is not None else None)
            D.check_pair(vx, vy, "fit (validation_data)")
            validation_data = (vx, vy, vsw)
        n = D.num_samples(x, "fit")
        if n == 0:
            raise ValueError("fit: x has no samples")
        steps = steps_per_epoch or math.ceil(n / bs)
        vb = _verbosity(verbose)
        history = cbks.History()
        cb_list = cbks.CallbackList([history] + list(callbacks or []), self,
                                    {"epochs": epochs, "steps": steps, "verbose": vb})
        self.history = history
        self.stop_training = False
        self._prepare_steps(x)
        metrics = self._make_metrics()
        cb_list.call("on_train_begin", None)
        logs: Dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            cb_list.call("on_epoch_begin", epoch, None)
            for m in metrics:
                m.reset_state()
            if vb:
                print(f"Epoch {epoch + 1}/{epochs}")
            bar = cbks.Progbar(steps, vb) if vb else None
            order = erandom.generator().permutation(n) if shuffle else None
            loss_sum, seen, nan_batch = 0.0, 0, None
            for step in range(steps):
                lo = (step * bs) % n
                hi = min(lo + bs, n)
                idx = order[lo:hi] if order is not None else slice(lo, hi)
                xb, yb, swb = D.take(x, idx), y[idx], D.take(sw, idx)
                for cb in cb_list.batch_begin:
                    cb.on_train_batch_begin(step, None)
                loss_val, out = self._train_step(xb, yb, swb)
                nb = hi - lo
                loss_sum += loss_val * nb
                seen += nb
                for m in metrics:
                    m.update_state(yb, out, swb)
                logs = {"loss": loss_sum / seen}
                for m in metrics:
                    logs[m.name] = m.result()
                if bar is not None:
                    bar.update(step + 1, logs)
                for cb in cb_list.batch_end:
                    cb.on_train_batch_end(step, dict(logs, loss=loss_val))
                if not math.isfinite(loss_val):
                    nan_batch = step
                    break
                if self.stop_training:
                    break
            if validation_data is not None and (epoch + 1 - initial_epoch) % validation_freq == 0 and nan_batch is None:
                vals = self.evaluate(*validation_data[:2], sample_weight=validation_data[2],
                                     batch_size=validation_batch_size or bs, verbose=0, return_dict=True,
                                     _prepared=True)
                logs.update({"val_" + k: v for k, v in vals.items()})
            if bar is not None:
                bar.finish(logs)
            cb_list.call("on_epoch_end", epoch, dict(logs))
            if nan_batch is not None:
                warnings.warn(f"fit: epoch {epoch + 1}, batch {nan_batch}: the loss is {loss_val} (not finite); "
                              "training stopped. The learning rate may be too high, or the data may hold "
                              "NaN/inf values.", RuntimeWarning, stacklevel=2)
                self.stop_training = True
            if self.stop_training:
                break
        cb_list.call("on_train_end", dict(logs))
        return history

    # -- evaluate / predict ------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size: Optional[int] = None, verbose="auto", sample_weight=None,
                 return_dict: bool = False, callbacks=None, _prepared: bool = False, **kwargs):
        """Loss and metrics on (x, y): ``[loss, metric...]``, a scalar loss when there are no
        metrics, or a dict with ``return_dict=True``."""
        self._require_compiled("evaluate")
        if y is None:
            raise ValueError("evaluate: y is required")
        if not _prepared:
            x = D.to_data(x, self._n_inputs(), "evaluate", "x", self.dtype)
            y = D.to_array(y, "evaluate", "y", self.dtype)
            sample_weight = (None if sample_weight is None
                             else D.to_array(sample_weight, "evaluate", "sample_weight", self.dtype))
            self._prepare_steps(x)
        n = D.check_pair(x, y, "evaluate")
        bs = int(batch_size or 32)
        metrics = self._make_metrics()
        loss_sum = 0.0
        for lo in range(0, n, bs):
            hi = min(lo + bs, n)
            sl = slice(lo, hi)
            yb, swb = y[sl], D.take(sample_weight, sl)
            loss_val, out = self._test_step(D.take(x, sl), yb, swb)
            loss_sum += loss_val * (hi - lo)
            for m in metrics:
                m.update_state(yb, out, swb)
        logs = {"loss": loss_sum / max(n, 1)}
        for m in metrics:
            logs[m.name] = m.result()
        if _verbosity(verbose) and not _prepared:
            print(f"{math.ceil(n / bs)}/{math.ceil(n / bs)} - " + cbks.Progbar.format_logs(logs))
        if return_dict:
            return logs
        vals = list(logs.values())
        return vals[0] if len(vals) == 1 else vals

    def predict(self, x, batch_size: Optional[int] = None, verbose=0, callbacks=None, **kwargs) -> np.ndarray:
        """The model's outputs for ``x`` (gradients off, ``training=False``) as a NumPy array."""
        x = D.to_data(x, self._n_inputs(), "predict", "x", self.dtype)
        n = D.num_samples(x, "predict")
        bs = int(batch_size or 32)
        outs = []
        with no_grad():
            for lo in range(0, n, bs):
                out = self(D.take(x, slice(lo, min(lo + bs, n))), training=False)
                outs.append(_to_numpy(out))
        if not outs:
            raise ValueError("predict: x has no samples")
        if isinstance(outs[0], list):
            return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        x = D.to_data(x, self._n_inputs(), "train_on_batch", "x", self.dtype)
        y = D.to_array(y, "train_on_batch", "y", self.dtype)
        sw = None if sample_weight is None else D.to_array(sample_weight, "train_on_batch", "sample_weight", self.dtype)
        D.check_pair(x, y, "train_on_batch")
        if getattr(self, "_tv", None) is None or not self.built:
            self._prepare_steps(x)
        loss_val, out = self._train_step(x, y, sw)
        return self._batch_logs(loss_val, y, out, sw, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        x = D.to_data(x, self._n_inputs(), "test_on_batch", "x", self.dtype)
        y = D.to_array(y, "test_on_batch", "y", self.dtype)
        self._prepare_steps(x)
        loss_val, out = self._test_step(x, y, sample_weight)
        return self._batch_logs(loss_val, y, out, sample_weight, return_dict)

    def predict_on_batch(self, x) -> np.ndarray:
        with no_grad():
            return _to_numpy(self(D.to_data(x, self._n_inputs(), "predict_on_batch", "x", self.dtype), training=False))

    def _batch_logs(self, loss_val, y, out, sw, return_dict):
        logs = {"loss": loss_val}
        for m in self._make_metrics():
            m.update_state(y, out, sw)
            logs[m.name] = m.result()
        if return_dict:
            return logs
        vals = list(logs.values())
        return vals[0] if len(vals) == 1 else vals


def _to_numpy(out):
    if isinstance(out, Tensor):
        return out.numpy()
    if isinstance(out, (list, tuple)):
        return [_to_numpy(o) for o in out]
    if isinstance(out, dict):
        return [_to_numpy(o) for o in out.values()]
    return np.asarray(out)
