"""Training metrics (Keras names), accumulated on NumPy arrays without autograd.

Each metric has ``update_state(y_true, y_pred, sample_weight=None)``, ``result()`` and
``reset_state()``; ``fit`` / ``evaluate`` report ``result()`` per epoch.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from .tensor import Tensor


def _np(x) -> np.ndarray:
    return np.asarray(x.data if isinstance(x, Tensor) else x)


class Metric:
    """A weighted running mean of per-sample values (subclasses define ``values``)."""

    def __init__(self, name: Optional[str] = None):
        self.name = name or type(self).__name__.lower()
        self.reset_state()

    def reset_state(self) -> None:
        self._total = 0.0
        self._count = 0.0

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        v = self.values(_np(y_true), _np(y_pred)).astype(np.float64, copy=False)
        if sample_weight is not None:
            w = np.broadcast_to(_np(sample_weight).reshape(_np(sample_weight).shape + (1,) * (v.ndim - _np(sample_weight).ndim)), v.shape)
            self._total += float((v * w).sum())
            self._count += float(w.sum())
        else:
            self._total += float(v.sum())
            self._count += v.size

    def result(self) -> float:
        return self._total / self._count if self._count else 0.0

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()


def _labels_like(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1 and y_pred.shape[-1] != 1:
        return y_true[..., 0]
    return y_true


class BinaryAccuracy(Metric):
    """Fraction of predictions on the right side of ``threshold`` (0.5 on probabilities)."""

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5):
        self.threshold = float(threshold)
        super().__init__(name)

    def values(self, y_true, y_pred):
        t = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
        return ((y_pred > self.threshold) == (t > 0.5)).astype(np.float32)


class CategoricalAccuracy(Metric):
    """argmax(y_pred) == argmax(y_true) over the last axis (one-hot targets)."""

    def __init__(self, name: str = "categorical_accuracy"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float32)


class SparseCategoricalAccuracy(Metric):
    """argmax(y_pred) == integer label."""

    def __init__(self, name: str = "sparse_categorical_accuracy"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        t = _labels_like(y_true, y_pred)
        return (np.argmax(y_pred, axis=-1) == t.reshape(y_pred.shape[:-1])).astype(np.float32)


class Accuracy(Metric):
    """Keras' "accuracy" string resolved from the shapes on first use: binary for one
    output column, sparse for integer labels, categorical for one-hot targets (``fit``
    resolves it from the loss instead when it can)."""

    def __init__(self, name: str = "accuracy", threshold: float = 0.5):
        self.threshold = threshold
        self._impl = None
        super().__init__(name)

    def values(self, y_true, y_pred):
        if self._impl is None:
            if y_pred.ndim == 0 or y_pred.shape[-1] == 1 or y_pred.ndim == 1:
                self._impl = BinaryAccuracy(threshold=self.threshold)
            elif _labels_like(y_true, y_pred).shape == y_pred.shape[:-1]:
                self._impl = SparseCategoricalAccuracy()
            else:
                self._impl = CategoricalAccuracy()
        return self._impl.values(y_true, y_pred)


class MeanAbsoluteError(Metric):
    def __init__(self, name: str = "mean_absolute_error"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        t = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
        d = np.abs(y_pred - t)
        return d.mean(axis=-1) if d.ndim > 1 else d


class MeanSquaredError(Metric):
    def __init__(self, name: str = "mean_squared_error"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        t = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
        d = np.square(y_pred - t)
        return d.mean(axis=-1) if d.ndim > 1 else d


def get(identifier: Union[str, Metric], loss=None) -> Metric:
    """A metric by Keras name; "accuracy" / "acc" picks binary / categorical / sparse
    accuracy from ``loss`` like Keras (from logits, the binary threshold is 0)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if not isinstance(identifier, str):
        raise TypeError(f"metric must be a name or a Metric. Received: {identifier!r}")
    key = identifier.lower()
    if key in ("accuracy", "acc"):
        from . import losses as L
        logits = bool(getattr(loss, "from_logits", False))
        if isinstance(loss, L.BinaryCrossentropy):
            return BinaryAccuracy(identifier, threshold=0.0 if logits else 0.5)
        if isinstance(loss, L.SparseCategoricalCrossentropy):
            return SparseCategoricalAccuracy(identifier)
        if isinstance(loss, L.CategoricalCrossentropy):
            return CategoricalAccuracy(identifier)
        return Accuracy(identifier)
    table = {"binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
             "sparse_categorical_accuracy": SparseCategoricalAccuracy,
             "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
             "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError}
    if key not in table:
        raise ValueError(f"Unknown metric {identifier!r}. Known: {sorted(table) + ['accuracy', 'acc']}")
    return table[key](identifier)
