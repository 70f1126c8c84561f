"""The step functions of Keras 3's ``Trainer``: ``train_step`` / ``test_step`` /
``predict_step``, ``compute_loss``, ``compute_metrics`` and the metrics they update.

fit / evaluate / predict call ``self.train_step(data)`` (and the others) for each batch,
so a subclass that overrides them is honoured; the defaults are ember's fast path. The
metrics are Keras': a loss tracker ``Mean(name="loss")``, one per output loss for several
outputs, a "compile_metrics" wrapper over the compiled metrics, then any Metric a user
keeps as an attribute (``self.loss_tracker = keras.metrics.Mean(name="loss")``)."""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from .. import backend
from .. import metrics as metrics_mod
from ..autograd import grad as _grad
from ..tensor import Tensor, _set_grad_enabled, as_tensor, no_grad
from . import data as D
from .compile_utils import _layout_of
from .data_adapters import unpack_x_y_sample_weight


class CompileMetrics(metrics_mod.Metric):
    """The compiled metrics of every output as one Metric (Keras' ``compile_metrics``):
    ``update_state(y, y_pred, sample_weight)`` with y and y_pred as the model gives them;
    ``result()`` is a dict of Keras' log names."""

    def __init__(self, model, per_head):
        self._model, self.per_head = model, per_head
        super().__init__("compile_metrics")

    def reset_state(self) -> None:
        for ms in getattr(self, "per_head", []):
            for m in ms:
                m.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        model = self._model
        y = model._targets(y_true, "compute_metrics", "y")
        sw = model._sample_weights(sample_weight, "compute_metrics", "sample_weight")
        outs = [_data(o) for o in model._flat_outputs(y_pred, "compute_metrics")]
        model._update_metrics(self.per_head, y, outs, sw)

    def result(self) -> Dict[str, float]:
        multi = len(self.per_head) > 1
        return {f"{h.name}_{m.name}" if multi else m.name: _log_value(m.result())
                for h, ms in zip(self._model._heads, self.per_head) for m in ms}


class TrainerSteps:
    """Mixed into ``Trainer``: the step functions and the metrics."""

    _loss_tracker = None
    _part_trackers: list = []
    _compile_metrics = None

    # -- metrics -------------------------------------------------------------------------
    def _build_trackers(self) -> None:
        """Loss trackers and compiled metrics for the outputs compile has named."""
        self._loss_tracker = metrics_mod.Mean(name="loss") if self.loss is not None else None
        heads = self._heads or []
        self._part_trackers = ([metrics_mod.Mean(name=f"{h.name}_loss") for h in heads if h.loss is not None]
                               if len(heads) > 1 else [])
        self._compile_metrics = CompileMetrics(self, self._make_metrics()) if heads else None
        self._metrics_now = None

    @property
    def metrics(self) -> list:
        """The loss tracker(s), the compiled metrics, then the Metric attributes (Keras)."""
        out = []
        if self.compiled and self._loss_tracker is not None:
            out.append(self._loss_tracker)
        out.extend(self._part_trackers)
        cm = self._compile_metrics
        if cm is not None and any(cm.per_head):
            out.append(cm)
        own = [v for k, v in vars(self).items() if isinstance(v, metrics_mod.Metric) and not k.startswith("_")]
        return out + [m for m in own if all(m is not o for o in out)]

    @property
    def metrics_names(self) -> List[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        metrics = self.metrics
        for m in metrics:
            m.reset_state()
        # the built-in steps read this list until the next reset (an epoch, an evaluate)
        # rather than scanning the model's attributes for metrics at every step
        self._metrics_now = metrics

    def get_metrics_result(self, _cached: bool = False) -> Dict[str, float]:
        """Every metric's result, dict results (compile_metrics) flattened into the logs."""
        logs = {}
        metrics = self.__dict__.get("_metrics_now") if _cached else None
        for m in self.metrics if metrics is None else metrics:
            r = m.result()
            if isinstance(r, dict):
                logs.update(r)
            else:
                logs[m.name] = _log_value(r)
        return logs

    def _track(self, loss: float, parts, outs, y, sw, rows: int) -> None:
        """Update the trackers with a batch's loss (weighted by its rows, as Keras) and,
        when ``outs`` is given, the compiled metrics (None: a data-parallel step did)."""
        # Mean.update_state(loss, sample_weight=rows) with the same float64 arithmetic,
        # without its array handling (it runs at every step)
        # (a device loss is added on its device, in float64 as on the host: no read per step)
        if self._loss_tracker is not None:
            self._loss_tracker._total = _add_scaled(self._loss_tracker._total, loss, rows)
            self._loss_tracker._count += float(rows)
        live = [p for p in parts if p is not None] if len(parts) > 1 else []
        for t, p in zip(self._part_trackers, live):
            t._total = _add_scaled(t._total, p, rows)
            t._count += float(rows)
        if outs is not None and self._compile_metrics is not None:
            self._update_metrics(self._compile_metrics.per_head, y, outs, sw)

    # -- loss --------------------------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of ``y_pred`` against ``y`` (weighted over the outputs) plus
        the layers' losses (regularization penalties), as a scalar Tensor (Keras 3)."""
        if self._heads is None and self.loss is not None:
            self._set_heads(_layout_of(y_pred)[1], "compute_loss")
            self._build_trackers()
        total = None
        if self.loss is not None:
            yl = self._targets(y, "compute_loss", "y")
            swl = self._sample_weights(sample_weight, "compute_loss", "sample_weight")
            total, _, _ = self._loss_of(y_pred, yl, swl, "compute_loss", penalties=False)
        for p in self.losses:
            total = p if total is None else total + p
        return as_tensor(backend.to_device(np.zeros((), np.float32))) if total is None else total

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> Dict[str, float]:
        """Update the compiled metrics; every metric's result (Keras 3)."""
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    # -- the default steps (ember's fast path) ------------------------------------------
    def _standard_batch(self, data, who: str):
        x, y, sw = unpack_x_y_sample_weight(data)
        x = D.to_data(x, self._n_inputs(), who, "x", self.dtype, self._input_names())
        if getattr(self, "_tv", None) is None or (self._heads is None and self.loss is not None):
            self._prepare_steps(x)  # a dataset's first batch builds the model
        return x, self._targets(y, who, "y"), self._sample_weights(sw, who, "sample_weight")

    def train_step(self, data) -> Dict[str, float]:
        """One optimizer step on the batch ``data`` (``(x, y)`` or ``(x, y, sample_weight)``);
        returns the logs (the metrics' results so far)."""
        x, y, sw = self._standard_batch(data, "fit")
        step = getattr(self, "_dist_step", None) or self._train_step
        loss, parts, outs = step(x, y, sw)
        self._track(loss, parts, outs, y, sw, D.num_samples(x, "fit"))
        return self.get_metrics_result(_cached=True)

    def test_step(self, data) -> Dict[str, float]:
        """The loss and metrics of the batch ``data`` (no update); returns the logs."""
        x, y, sw = self._standard_batch(data, "evaluate")
        loss, parts, outs = self._test_step(x, y, sw)
        self._track(loss, parts, outs, y, sw, D.num_samples(x, "evaluate"))
        return self.get_metrics_result(_cached=True)

    def predict_step(self, data):
        """The model's outputs for the batch ``data`` (``training=False``)."""
        x, _, _ = unpack_x_y_sample_weight(data)
        with no_grad():
            return self(x, training=False)

    def _train_step(self, xb, yb, swb):
        prev = _set_grad_enabled(True)
        try:
            loss, parts, outs = self._loss_of(self(xb, training=True), yb, swb, "fit")
        finally:
            _set_grad_enabled(prev)
        tv = self._tv
        if not tv:
            raise RuntimeError("fit: the model has no trainable variables")
        if not loss.requires_grad:
            raise RuntimeError("fit: the loss does not depend on any trainable variable")
        grads = _grad(loss, tv)
        self.optimizer.apply_gradients(zip(grads, tv))
        return _scalar(loss.data), self._part_floats(parts), [_data(o) for o in outs]

    def _test_step(self, xb, yb, swb):
        with no_grad():
            loss, parts, outs = self._loss_of(self(xb, training=False), yb, swb, "evaluate")
        return _scalar(loss.data), self._part_floats(parts), [_data(o) for o in outs]

    def _loss_of(self, out, yb, swb, who: str, penalties: bool = True):
        """(total loss Tensor, per-output loss Tensors (None without loss), output Tensors)."""
        outs = self._flat_outputs(out, who)
        total, parts = None, []
        for i, h in enumerate(self._heads):
            if h.loss is None:
                parts.append(None)
                continue
            part = h.loss(yb[i], outs[i], None if swb is None else swb[i])
            parts.append(part)
            term = part if h.weight == 1.0 else part * h.weight
            total = term if total is None else total + term
        if penalties:
            for p in self.losses:  # add_loss losses of this forward pass + weight penalties (Layer.losses)
                total = total + p
        return total, parts, outs

    def _part_floats(self, parts) -> list:
        """The per-output losses as floats (only logged for several outputs)."""
        if len(parts) == 1:
            return [None]
        return [None if p is None else _scalar(p.data) for p in parts]

    def _update_metrics(self, metrics, yb, outs, swb) -> None:
        for i, ms in enumerate(metrics):
            for m in ms:
                m.update_state(yb[i], outs[i], None if swb is None else swb[i])


def _data(t):
    if isinstance(t, Tensor):
        return t.data
    return t if backend.is_array(t) else np.asarray(t)


def _scalar(a):
    """A 0-d loss as a float on the host; on a device it stays there (read when logged)."""
    return a if backend.is_device_array(a) else float(a)


def _add_scaled(total, v, rows: int):
    """total + v * rows in float64 (Mean.update_state(v, sample_weight=rows))."""
    if backend.is_device_array(v):
        return total + v.astype(np.float64) * rows
    return total + float(v) * rows


def _log_value(v):
    """A metric result for the logs: a float for a one-element Tensor/array (a custom
    Metric may return its variable, which later updates would change), else unchanged."""
    data = v.data if isinstance(v, Tensor) else v
    if isinstance(data, (np.ndarray, np.generic)) and data.size == 1:
        return float(data.reshape(()))
    return data
