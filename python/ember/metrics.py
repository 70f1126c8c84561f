"""Training metrics (Keras names, defaults and log keys), accumulated in NumPy without autograd.

Each metric has ``update_state(y_true, y_pred, sample_weight=None)``, ``result()`` and
``reset_state()``; ``fit`` / ``evaluate`` report ``result()`` per epoch (``Mean`` / ``Sum``
take ``update_state(values, sample_weight=None)``).

Most metrics are a weighted running mean of per-sample values, reduced like Keras'
``Mean``: values are averaged down to the rank of ``sample_weight`` (per sample by
default), then ``sum(values * weight) / sum(weight)``. ``Precision``, ``Recall`` and
``AUC`` accumulate weighted confusion counts at their thresholds instead: a prediction
is positive when it is strictly greater than the threshold, a label is positive when it
is nonzero.

``_direction`` ("up" / "down") tells callbacks with ``mode="auto"`` whether a larger
value is better, as in Keras.
"""
from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence, Union

import numpy as np

from .tensor import Tensor, no_grad

EPSILON = 1e-7  # Keras' backend epsilon
NEG_INF = -1e10  # what Keras' top_k filter gives the predictions outside the top k


def _np(x) -> np.ndarray:
    return np.asarray(x.data if isinstance(x, Tensor) else x)


def _same_rank(x1: np.ndarray, x2: np.ndarray, expand_rank_1: bool = True):
    """Keras' squeeze_or_expand_to_same_rank: drop (or, for rank 1, add) one trailing unit
    axis so that the two arrays have the same rank."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _broadcast(w: np.ndarray, shape, who: str, what: str = "sample_weight") -> np.ndarray:
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(f"{who}: {what} of shape {w.shape} does not broadcast to the values of shape "
                         f"{tuple(shape)}") from None


class Metric:
    """Base class: a weighted running mean of the per-sample ``values(y_true, y_pred)``
    (subclasses define ``values``; ``result()`` is ``total / count``).

    Or written the Keras 3 way: create state in ``__init__`` with ``self.add_variable(shape,
    initializer, dtype, name)`` (Tensors updated with ``assign`` / ``assign_add`` /
    ``assign_sub``), and define ``update_state``, ``result`` and (optionally)
    ``reset_state``; the default ``reset_state`` sets every variable to zeros, as Keras
    does. ``__init__`` does not call ``reset_state`` (a subclass's state does not exist
    yet)."""

    _direction: Optional[str] = None

    def __init__(self, name: Optional[str] = None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype
        self._variables: List[Tensor] = []
        self._total = 0.0
        self._count = 0.0

    def reset_state(self) -> None:
        self._total = 0.0
        self._count = 0.0
        for v in self.variables:
            v.assign(np.zeros(v.shape, dtype=v.dtype))

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation: str = "sum",
                     name: Optional[str] = None) -> Tensor:
        """A state variable (a non-trainable Tensor) of ``shape`` filled by ``initializer``."""
        from . import initializers
        dt = np.dtype(dtype or self.dtype or "float32")
        shape = tuple(int(s) for s in (shape if isinstance(shape, (list, tuple)) else (shape,)))
        value = np.asarray(initializers.get(initializer if initializer is not None else "zeros")(shape, dt), dtype=dt)
        if "_variables" not in self.__dict__:  # a subclass that skipped Metric.__init__
            self._variables = []
        v = Tensor(value.reshape(shape), name=f"{self.name}/{name or f'variable_{len(self._variables)}'}")
        self._variables.append(v)
        return v

    def add_weight(self, shape=(), initializer=None, dtype=None, name: Optional[str] = None) -> Tensor:
        """Keras' alias of ``add_variable`` (Keras 2's ``add_weight("name", ...)`` too)."""
        if isinstance(shape, str):
            shape, name = (), shape
        return self.add_variable(shape, initializer, dtype, name=name)

    @property
    def variables(self) -> List[Tensor]:
        """The state variables of this metric and of the metrics it holds as attributes."""
        out = list(self.__dict__.get("_variables", []))
        for v in self.__dict__.values():
            if isinstance(v, Metric) and v is not self:
                out.extend(v.variables)
        return out

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}: define update_state (and result), or values(y_true, y_pred)")

    def _accumulate(self, v, sample_weight) -> None:
        """Keras' reduce_to_samplewise_values + Mean.update_state."""
        v = np.asarray(v, dtype=np.float64)
        if sample_weight is not None:
            w = _np(sample_weight).astype(np.float64, copy=False)
            v, w = _same_rank(v, w)
            if v.ndim > w.ndim:
                v = v.mean(axis=tuple(range(w.ndim, v.ndim)))
            w = _broadcast(w, v.shape, type(self).__name__)
            self._total += float(np.sum(v * w))
            self._count += float(np.sum(w))
        else:
            self._total += float(np.sum(v.mean(axis=tuple(range(1, v.ndim))) if v.ndim > 1 else v))
            self._count += v.shape[0] if v.ndim >= 1 else 1

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        self._accumulate(self.values(_np(y_true), _np(y_pred)), sample_weight)

    def result(self) -> float:
        return self._total / self._count if self._count else 0.0

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def _snake(name: str) -> str:
    import re
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


# ---------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------

class Mean(Metric):
    """The weighted mean of the values given to ``update_state(values, sample_weight=None)``
    over all calls (values are averaged per sample first, like Keras)."""

    def __init__(self, name: str = "mean", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, values, sample_weight=None) -> None:
        self._accumulate(_np(values), sample_weight)


class Sum(Metric):
    """The weighted sum of the values given to ``update_state(values, sample_weight=None)``."""

    def __init__(self, name: str = "sum", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, values, sample_weight=None) -> None:
        v = _np(values).astype(np.float64, copy=False)
        if sample_weight is not None:
            w = _np(sample_weight).astype(np.float64, copy=False)
            v, w = _same_rank(v, w)
            v = v * _broadcast(w, v.shape, "Sum")
        self._total += float(np.sum(v))

    def result(self) -> float:
        return self._total


class MeanMetricWrapper(Metric):
    """A metric from a function ``fn(y_true, y_pred, **kwargs)`` returning per-sample values
    (NumPy arrays in, an array or an ember Tensor out), averaged like ``Mean``. ``compile``
    wraps plain functions given in ``metrics`` this way (named after the function)."""

    def __init__(self, fn: Callable, name: Optional[str] = None, dtype=None, **kwargs):
        from . import losses as L
        self._fn, self._fn_kwargs = fn, kwargs
        if isinstance(fn, L.Loss) or getattr(fn, "__module__", None) == L.__name__:
            self._direction = "down"  # a loss: lower is better (callbacks' mode="auto")
        super().__init__(name or getattr(fn, "__name__", None) or _snake(type(fn).__name__), dtype)

    def values(self, y_true, y_pred):
        with no_grad():
            out = self._fn(y_true, y_pred, **self._fn_kwargs)
        return _np(out)


def _loss_values(loss, y_true, y_pred) -> np.ndarray:
    """Per-sample values of an ember loss (no autograd)."""
    with no_grad():
        return loss.call(y_true, Tensor(y_pred, dtype=y_pred.dtype if y_pred.dtype.kind == "f" else np.float32)).data


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

    def __init__(self, name: str = "binary_accuracy", dtype=None, threshold: float = 0.5):
        self.threshold = float(threshold)
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        t = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
        return ((y_pred > self.threshold) == (t > 0.5)).astype(np.float32)


class CategoricalAccuracy(Metric):
    """argmax(y_pred) == argmax(y_true) over the last axis (one-hot targets)."""

    _direction = "up"

    def __init__(self, name: str = "categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float32)


class SparseCategoricalAccuracy(Metric):
    """argmax(y_pred) == integer label."""

    _direction = "up"

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        t = _labels_like(y_true, y_pred)
        return (np.argmax(y_pred, axis=-1) == t.reshape(y_pred.shape[:-1])).astype(np.float32)


class Accuracy(Metric):
    """Keras' "accuracy" string resolved from the shapes on first use: binary for one
    output column, sparse for integer labels, categorical for one-hot targets (``fit``
    resolves it from the loss instead when it can)."""

    _direction = "up"

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


# ---------------------------------------------------------------------------------------
# confusion-matrix metrics
# ---------------------------------------------------------------------------------------

def _evenly_spaced(thresholds: np.ndarray) -> bool:
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n) / (n - 1), atol=EPSILON))


def _confusion(y_true, y_pred, thresholds: np.ndarray, sample_weight, who: str, top_k=None, class_id=None,
               multi_label: bool = False, label_weights=None, clip: bool = False):
    """Weighted (tp, fp, tn, fn) at each threshold, shape (T,) or (T, labels) with
    ``multi_label``; Keras' update_confusion_matrix_variables."""
    yt = _np(y_true).astype(np.float64, copy=False)
    yp = _np(y_pred).astype(np.float64, copy=False)
    yp, yt = _same_rank(yp, yt)
    if yt.shape != yp.shape:
        raise ValueError(f"{who}: y_true and y_pred must have the same shape. "
                         f"Received: y_true.shape={_np(y_true).shape}, y_pred.shape={_np(y_pred).shape}")
    w = None
    if sample_weight is not None:
        w = _np(sample_weight).astype(np.float64, copy=False)[..., None]
        _, w = _same_rank(yt, w, expand_rank_1=False)
        w = _broadcast(w, yp.shape, who)
    if top_k is not None:
        if yp.ndim == 0:
            raise ValueError(f"{who}: top_k needs predictions with a class axis")
        idx = np.argsort(-yp, axis=-1, kind="stable")[..., :int(top_k)]
        keep = np.zeros(yp.shape, dtype=bool)
        np.put_along_axis(keep, idx, True, axis=-1)
        yp = np.where(keep, yp, NEG_INF)
    if class_id is not None:
        if yp.ndim < 2:
            raise ValueError(f"{who}: class_id needs y_pred of shape (num_samples, num_classes). "
                             f"Received: {yp.shape}")
        c = int(class_id)
        if not -yp.shape[-1] <= c < yp.shape[-1]:
            raise ValueError(f"{who}: class_id={class_id} is out of range for {yp.shape[-1]} classes")
        yt, yp = yt[..., c, None], yp[..., c, None]
        w = None if w is None else w[..., c, None]
    if clip:
        yp = np.clip(yp, 0.0, 1.0)
    yp = np.where(np.isnan(yp), -np.inf, yp)  # NaN is never > a threshold
    pos = yt != 0
    if label_weights is not None and not multi_label:
        lw = _broadcast(np.asarray(label_weights, np.float64), yp.shape, who, "label_weights")
        w = lw if w is None else w * lw
    if multi_label:
        if yp.ndim != 2:
            raise ValueError(f"{who}: y_pred must have rank 2 (samples, labels) with multi_label=True. "
                             f"Received: {yp.shape}")
        cols = [_confusion_1d(pos[:, j], yp[:, j], None if w is None else w[:, j], thresholds)
                for j in range(yp.shape[1])]
        return tuple(np.stack([c[i] for c in cols], axis=1) for i in range(4))
    return _confusion_1d(pos.reshape(-1), yp.reshape(-1), None if w is None else w.reshape(-1), thresholds)


def _confusion_1d(pos: np.ndarray, p: np.ndarray, w: Optional[np.ndarray], thresholds: np.ndarray):
    T = len(thresholds)
    order = np.argsort(thresholds, kind="stable")
    above = np.searchsorted(thresholds[order], p, side="left")  # how many thresholds are < p
    w = np.ones(p.shape) if w is None else w
    wp, wn = np.where(pos, w, 0.0), np.where(pos, 0.0, w)

    def counts(weights):
        b = np.bincount(above, weights=weights, minlength=T + 1)
        tail = np.cumsum(b[::-1])[::-1]  # tail[j] = weight of predictions above > j - 1 thresholds
        out = np.empty(T)
        out[order] = tail[1:]
        return out

    tp, fp = counts(wp), counts(wn)
    return tp, fp, wn.sum() - fp, wp.sum() - tp


def _div(a, b):
    """divide_no_nan: a / b, 0 where b == 0."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast_shapes(a.shape, b.shape)), where=b != 0)


def _thresholds(thresholds, default: float, who: str) -> np.ndarray:
    t = np.atleast_1d(np.asarray(default if thresholds is None else thresholds, dtype=np.float64))
    if thresholds is not None and (t.ndim != 1 or np.any(~((t >= 0) & (t <= 1)))):
        raise ValueError(f"{who}: threshold values must be in [0, 1]. Received: {thresholds}")
    return t


class _ConfusionMetric(Metric):
    """Precision / Recall: counts at ``thresholds`` (default 0.5; with ``top_k``, only the
    k highest predictions of each row are positive); ``class_id`` restricts to one class."""

    _direction = "up"

    def __init__(self, thresholds=None, top_k: Optional[int] = None, class_id: Optional[int] = None,
                 name: Optional[str] = None, dtype=None):
        who = type(self).__name__
        if top_k is not None and (int(top_k) != top_k or top_k < 1):
            raise ValueError(f"{who}: top_k must be a positive integer. Received: {top_k}")
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = _thresholds(thresholds, 0.5 if top_k is None else NEG_INF, who)
        self._clip = _evenly_spaced(self.thresholds)
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self) -> None:
        n = len(self.thresholds)
        self.true_positives, self.false_positives = np.zeros(n), np.zeros(n)
        self.true_negatives, self.false_negatives = np.zeros(n), np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        tp, fp, tn, fn = _confusion(y_true, y_pred, self.thresholds, sample_weight, type(self).__name__,
                                    self.top_k, self.class_id, clip=self._clip)
        self.true_positives += tp
        self.false_positives += fp
        self.true_negatives += tn
        self.false_negatives += fn

    def _value(self) -> np.ndarray:
        raise NotImplementedError

    def result(self):
        """A float for one threshold, an array (one value per threshold) otherwise."""
        r = self._value()
        return float(r[0]) if len(self.thresholds) == 1 else r

    def get_config(self) -> dict:
        return {"name": self.name, "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """tp / (tp + fp) at ``thresholds`` (0 when nothing is predicted positive)."""

    def _value(self):
        return _div(self.true_positives, self.true_positives + self.false_positives)


class Recall(_ConfusionMetric):
    """tp / (tp + fn) at ``thresholds`` (0 when there is no positive label)."""

    def _value(self):
        return _div(self.true_positives, self.true_positives + self.false_negatives)


class AUC(Metric):
    """Area under the ROC (``curve="ROC"``) or precision-recall (``"PR"``) curve, from
    confusion counts at ``num_thresholds`` evenly spaced thresholds in [0, 1] (Keras'
    approximation: the exact area is approached as ``num_thresholds`` grows; it is exact
    when no two distinct predictions fall between the same two thresholds).
    ``summation_method``: "interpolation" (trapezoids; for PR the Davis & Goadrich
    interpolation), "minoring" or "majoring". ``multi_label``: one curve per label column,
    averaged (weighted by ``label_weights``); otherwise all entries form one curve.
    ``from_logits``: apply a sigmoid to the predictions first."""

    _direction = "up"

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 name: Optional[str] = None, dtype=None, thresholds=None, multi_label: bool = False,
                 num_labels: Optional[int] = None, label_weights=None, from_logits: bool = False):
        if curve not in ("ROC", "PR", "roc", "pr"):
            raise ValueError(f'AUC: invalid curve "{curve}". Expected "ROC" or "PR"')
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f'AUC: invalid summation_method "{summation_method}". '
                             'Expected "interpolation", "minoring" or "majoring"')
        if thresholds is not None:
            inner = sorted(_thresholds(thresholds, 0.5, "AUC").tolist())
            self.num_thresholds = len(inner) + 2
            self._init_from_thresholds = True
        else:
            if int(num_thresholds) != num_thresholds or num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be an integer > 1. Received: {num_thresholds}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
            self._init_from_thresholds = False
        self._evenly = thresholds is None or _evenly_spaced(np.array([0.0] + inner + [1.0]))
        self._thresholds = np.array([0.0 - EPSILON] + inner + [1.0 + EPSILON])
        self.curve, self.summation_method = curve.upper(), summation_method
        if num_labels is not None and not multi_label:
            raise ValueError("AUC: num_labels is needed only when multi_label is True")
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, np.float64)
        self.from_logits = bool(from_logits)
        super().__init__(name, dtype)
        self.reset_state()

    @property
    def thresholds(self) -> List[float]:
        return list(self._thresholds)

    def reset_state(self) -> None:
        shape = (self.num_thresholds,) if not self.multi_label or self.num_labels is None \
            else (self.num_thresholds, self.num_labels)
        self.true_positives, self.false_positives = np.zeros(shape), np.zeros(shape)
        self.true_negatives, self.false_negatives = np.zeros(shape), np.zeros(shape)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        yp = _np(y_pred).astype(np.float64, copy=False)
        if self.from_logits:
            yp = 1.0 / (1.0 + np.exp(-yp))
        tp, fp, tn, fn = _confusion(y_true, yp, self._thresholds, sample_weight, "AUC",
                                    multi_label=self.multi_label,
                                    label_weights=None if self.multi_label else self.label_weights,
                                    clip=self._evenly)
        if self.multi_label and self.true_positives.shape != tp.shape:
            if self.true_positives.ndim == 2 or self.true_positives.any() or self.false_positives.any():
                raise ValueError(f"AUC: y_pred has {tp.shape[1]} labels, the metric was built for "
                                 f"{self.true_positives.shape[-1]}")
            self.true_positives, self.false_positives = np.zeros(tp.shape), np.zeros(tp.shape)
            self.true_negatives, self.false_negatives = np.zeros(tp.shape), np.zeros(tp.shape)
        self.true_positives += tp
        self.false_positives += fp
        self.true_negatives += tn
        self.false_negatives += fn

    def _average(self, by_label: np.ndarray) -> float:
        if not self.multi_label:
            return float(by_label)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(_div(np.sum(by_label * self.label_weights), np.sum(self.label_weights)))

    def _interpolate_pr_auc(self) -> float:
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _div(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _div(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore"):
            log_ratio = np.log(np.where(ratio > 0, ratio, 1.0))
        inc = _div(slope * (dtp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0))
        return self._average(np.sum(inc, axis=0))

    def result(self) -> float:
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div(fp, fp + tn), recall
        else:
            x, y = recall, _div(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average(np.sum((x[:-1] - x[1:]) * heights, axis=0))

    def get_config(self) -> dict:
        config = {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "from_logits": self.from_logits,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist()}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


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

    def __init__(self, name: str = "mean_absolute_error", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        t = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
        d = np.abs(y_pred - t)
        return d.mean(axis=-1) if d.ndim > 1 else d


class MeanSquaredError(Metric):
    _direction = "down"

    def __init__(self, name: str = "mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        t = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
        d = np.square(y_pred - t)
        return d.mean(axis=-1) if d.ndim > 1 else d


class RootMeanSquaredError(Metric):
    """sqrt of the weighted mean squared error over everything seen."""

    _direction = "down"

    def __init__(self, name: str = "root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        t = _target(y_true, y_pred, "RootMeanSquaredError")
        return np.square(y_pred.astype(np.float64) - t)

    def result(self) -> float:
        return math.sqrt(super().result())


class _LossMetric(Metric):
    """The per-sample values of an ember loss, averaged like ``Mean``."""

    _direction = "down"
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
    from . import losses as L
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
        from . import losses as L
        self.axis = int(axis)
        self._loss = L.CosineSimilarity(axis=self.axis)
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        return -_loss_values(self._loss, y_true, y_pred)


# ---------------------------------------------------------------------------------------
# lookup
# ---------------------------------------------------------------------------------------

_CLASSES = [BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
            SparseTopKCategoricalAccuracy, Precision, Recall, AUC, MeanAbsoluteError, MeanSquaredError,
            RootMeanSquaredError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, LogCoshError,
            CosineSimilarity, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
            KLDivergence, Poisson, Hinge, SquaredHinge, CategoricalHinge]
_BY_NAME = {}
for _c in _CLASSES:
    _BY_NAME[_snake(_c.__name__)] = _c
    _BY_NAME[_c.__name__.lower()] = _c
_ALIASES = {"mae": MeanAbsoluteError, "mse": MeanSquaredError, "mape": MeanAbsolutePercentageError,
            "msle": MeanSquaredLogarithmicError, "bce": BinaryCrossentropy, "logcosh": LogCoshError}
_BY_NAME.update(_ALIASES)
del _c


def get(identifier: Union[str, Metric, Callable], loss=None) -> Metric:
    """A metric by Keras name (any case: "precision", "auc", "top_k_categorical_accuracy",
    "mape", "RootMeanSquaredError", ...), a Metric (class or instance) or a function
    ``fn(y_true, y_pred) -> per-sample values`` (wrapped in MeanMetricWrapper). A metric made
    from a string is named by that string (the log key), like Keras. "accuracy" / "acc"
    picks binary / categorical / sparse accuracy from ``loss`` (from logits, the binary
    threshold is 0)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if not isinstance(identifier, str):
        if callable(identifier):
            return MeanMetricWrapper(identifier)
        raise TypeError(f"metric must be a name, a Metric or a function. Received: {identifier!r}")
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
    cls = _BY_NAME.get(key)
    if cls is None:
        known = sorted({_snake(c.__name__) for c in _CLASSES} | set(_ALIASES) | {"accuracy", "acc"})
        raise ValueError(f"Unknown metric {identifier!r}. Known: {known}")
    return cls(name=identifier)
