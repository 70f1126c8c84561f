"""Accuracy metrics (Keras names and log keys)."""
from __future__ import annotations

import numpy as np

from .. import backend
from .base import Metric

# ---------------------------------------------------------------------------------------
# accuracy
# ---------------------------------------------------------------------------------------

def _labels_like(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1 and y_pred.shape[-1] != 1:
        return y_true[..., 0]
    return y_true


class BinaryAccuracy(Metric):
    """Fraction of predictions on the right side of ``threshold`` (0.5 on probabilities)."""

    _direction = "up"
    _device_values = True

    def __init__(self, name: str = "binary_accuracy", dtype=None, threshold: float = 0.5):
        self.threshold = float(threshold)
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        t = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
        return ((y_pred > self.threshold) == (t > 0.5)).astype(np.float32)


class CategoricalAccuracy(Metric):
    """argmax(y_pred) == argmax(y_true) over the last axis (one-hot targets)."""

    _direction = "up"
    _device_values = True

    def __init__(self, name: str = "categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        xp = backend.xp(y_pred)
        return (xp.argmax(y_pred, axis=-1) == xp.argmax(y_true, axis=-1)).astype(np.float32)


class SparseCategoricalAccuracy(Metric):
    """argmax(y_pred) == integer label."""

    _direction = "up"
    _device_values = True

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        t = _labels_like(y_true, y_pred)
        return (backend.xp(y_pred).argmax(y_pred, axis=-1) == t.reshape(y_pred.shape[:-1])).astype(np.float32)


class Accuracy(Metric):
    """Keras' "accuracy" string resolved from the shapes on first use: binary for one
    output column, sparse for integer labels, categorical for one-hot targets (``fit``
    resolves it from the loss instead when it can)."""

    _direction = "up"
    _device_values = True

    def __init__(self, name: str = "accuracy", dtype=None, threshold: float = 0.5):
        self.threshold = threshold
        self._impl = None
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        if self._impl is None:
            if y_pred.ndim == 0 or y_pred.shape[-1] == 1 or y_pred.ndim == 1:
                self._impl = BinaryAccuracy(threshold=self.threshold)
            elif _labels_like(y_true, y_pred).shape == y_pred.shape[:-1]:
                self._impl = SparseCategoricalAccuracy()
            else:
                self._impl = CategoricalAccuracy()
        return self._impl.values(y_true, y_pred)


def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int, who: str) -> np.ndarray:
    """labels (...) in the top k of y_pred (..., C): fewer than k classes score strictly
    higher (ties at the boundary count as in the top k, like Keras' in_top_k)."""
    C = y_pred.shape[-1]
    if labels.dtype.kind == "f" and not np.all(np.mod(labels, 1) == 0):
        raise ValueError(f"{who}: labels must be integer class indices")
    li = labels.astype(np.intp)
    if li.size and (li.min() < 0 or li.max() >= C):
        raise ValueError(f"{who}: labels must be in [0, {C}). Received: min={li.min()}, max={li.max()}")
    target = np.take_along_axis(y_pred, li[..., None], axis=-1)
    target = np.where(np.isnan(target), -np.inf, target)
    return (np.sum(y_pred > target, axis=-1) < k).astype(np.float32)


class TopKCategoricalAccuracy(Metric):
    """How often the one-hot target's class is among the ``k`` highest predictions."""

    _direction = "up"

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype=None):
        self.k = int(k)
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        if y_true.shape != y_pred.shape:
            raise ValueError(f"TopKCategoricalAccuracy: y_true (one-hot) and y_pred must have the same shape. "
                             f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
                             " (integer labels need SparseTopKCategoricalAccuracy)")
        return _in_top_k(np.argmax(y_true, axis=-1), y_pred, self.k, "TopKCategoricalAccuracy")


class SparseTopKCategoricalAccuracy(Metric):
    """How often the integer label is among the ``k`` highest predictions."""

    _direction = "up"

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype=None):
        self.k = int(k)
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        t = _labels_like(y_true, y_pred)
        if t.size != int(np.prod(y_pred.shape[:-1])):
            raise ValueError(f"SparseTopKCategoricalAccuracy: y_true must hold one integer label per row of y_pred. "
                             f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
        return _in_top_k(t.reshape(y_pred.shape[:-1]), y_pred, self.k, "SparseTopKCategoricalAccuracy")


