"""Regression metrics and the metrics made from losses."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from .. import backend
from .base import (  # noqa: F401
    Metric, _loss_values, _same_rank,
)

# ---------------------------------------------------------------------------------------
# regression
# ---------------------------------------------------------------------------------------

def _target(y_true: np.ndarray, y_pred: np.ndarray, who: str) -> np.ndarray:
    t, p = _same_rank(y_true, y_pred)
    if t.shape != p.shape:
        raise ValueError(f"{who}: y_true and y_pred must have the same shape. "
                         f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
    return t.reshape(y_pred.shape) if t.size == y_pred.size else t


class MeanAbsoluteError(Metric):
    _direction = "down"
    _device_values = True

    def __init__(self, name: str = "mean_absolute_error", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        t = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
        d = backend.xp(y_pred).abs(y_pred - t)
        return d.mean(axis=-1) if d.ndim > 1 else d


class MeanSquaredError(Metric):
    _direction = "down"
    _device_values = True

    def __init__(self, name: str = "mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        t = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
        d = backend.xp(y_pred).square(y_pred - t)
        return d.mean(axis=-1) if d.ndim > 1 else d


class RootMeanSquaredError(Metric):
    """sqrt of the weighted mean squared error over everything seen."""

    _direction = "down"
    _device_values = True

    def __init__(self, name: str = "root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        t = _target(y_true, y_pred, "RootMeanSquaredError")
        return backend.xp(y_pred).square(y_pred.astype(np.float64) - t)

    def result(self) -> float:
        r = super().result()
        return backend.xp(r).sqrt(r) if backend.is_device_array(r) else math.sqrt(r)


class _LossMetric(Metric):
    """The per-sample values of an ember loss, averaged like ``Mean``."""

    _direction = "down"
    _device_values = True  # ember's losses run on the arrays' device
    _loss_cls = None
    _default_name = ""

    def __init__(self, name: Optional[str] = None, dtype=None, **loss_kwargs):
        self._loss = self._loss_cls(**loss_kwargs)
        self._loss_kwargs = loss_kwargs
        super().__init__(name or self._default_name, dtype)

    def values(self, y_true, y_pred):
        return _loss_values(self._loss, y_true, y_pred)

    def get_config(self) -> dict:
        return dict({"name": self.name}, **self._loss_kwargs)


def _loss_metric(loss_name: str, name: str, doc: str, direction: str = "down", kwargs: Sequence[str] = ()):
    from .. import losses as L
    loss_cls = getattr(L, loss_name)
    defaults = {"from_logits": False, "label_smoothing": 0.0, "axis": -1}

    def __init__(self, name: str = name, dtype=None, **kw):
        unknown = [k for k in kw if k not in kwargs]
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {unknown}")
        _LossMetric.__init__(self, name, dtype, **{k: kw.get(k, defaults[k]) for k in kwargs})

    cls = type(loss_name if loss_name != "LogCosh" else "LogCoshError", (_LossMetric,),
               {"__init__": __init__, "__doc__": doc, "_loss_cls": loss_cls, "_default_name": name,
                "_direction": direction, "__module__": __name__})
    return cls


MeanAbsolutePercentageError = _loss_metric(
    "MeanAbsolutePercentageError", "mean_absolute_percentage_error",
    "100 * mean(|y_true - y_pred| / max(|y_true|, epsilon)), like the loss.")
MeanSquaredLogarithmicError = _loss_metric(
    "MeanSquaredLogarithmicError", "mean_squared_logarithmic_error",
    "mean((log(y_pred + 1) - log(y_true + 1))^2), like the loss.")
LogCoshError = _loss_metric("LogCosh", "logcosh", "mean(log(cosh(y_pred - y_true))), like the LogCosh loss.")
BinaryCrossentropy = _loss_metric(
    "BinaryCrossentropy", "binary_crossentropy",
    "Binary cross-entropy (arguments ``from_logits``, ``label_smoothing``), like the loss.",
    kwargs=("from_logits", "label_smoothing"))
CategoricalCrossentropy = _loss_metric(
    "CategoricalCrossentropy", "categorical_crossentropy",
    "Categorical cross-entropy on one-hot targets (``from_logits``, ``label_smoothing``, ``axis``).",
    kwargs=("from_logits", "label_smoothing", "axis"))
SparseCategoricalCrossentropy = _loss_metric(
    "SparseCategoricalCrossentropy", "sparse_categorical_crossentropy",
    "Categorical cross-entropy on integer labels (``from_logits``, ``axis``).", kwargs=("from_logits", "axis"))
KLDivergence = _loss_metric("KLDivergence", "kl_divergence", "Kullback-Leibler divergence, like the loss.")
Poisson = _loss_metric("Poisson", "poisson", "Poisson loss mean(y_pred - y_true * log(y_pred + epsilon)).")
Hinge = _loss_metric("Hinge", "hinge", "Hinge loss (0 / 1 labels converted to -1 / 1), like the loss.")
SquaredHinge = _loss_metric("SquaredHinge", "squared_hinge", "Squared hinge loss, like the loss.")
CategoricalHinge = _loss_metric("CategoricalHinge", "categorical_hinge", "Categorical hinge loss, like the loss.")


class CosineSimilarity(Metric):
    """sum(l2_normalize(y_true) * l2_normalize(y_pred), axis): 1 for vectors pointing the
    same way (the loss is its negative)."""

    _direction = "up"

    def __init__(self, name: str = "cosine_similarity", dtype=None, axis: int = -1):
        from .. import losses as L
        self.axis = int(axis)
        self._loss = L.CosineSimilarity(axis=self.axis)
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        return -_loss_values(self._loss, y_true, y_pred)


