"""Keras-style losses: ``loss(y_true, y_pred, sample_weight=None)`` -> scalar Tensor.

Each loss computes a per-sample value (the mean over the last axis for elementwise losses)
and reduces it like Keras' default ``"sum_over_batch_size"``: sum(values * sample_weight)
divided by the number of values. Cross-entropies are computed from logits in a stable
form; on probabilities they clip to [1e-7, 1 - 1e-7] like Keras, and when ``y_pred`` came
straight from a softmax / sigmoid op they use its logits instead (as Keras' TF backend does).

>>> loss_fn = ember.losses.SparseCategoricalCrossentropy(from_logits=True)
>>> loss = loss_fn(labels, logits)
"""
from __future__ import annotations

from typing import Callable, Optional, Union

import numpy as np

from .ops import core
from .ops import losses as L
from .tensor import Tensor, as_tensor

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", None)


def _numeric(y, who: str, what: str = "y_true") -> np.ndarray:
    a = y.data if isinstance(y, Tensor) else y
    try:
        a = np.asarray(a)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{who}: {what} must be a numeric array: {e}") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{who}: {what} must be numeric. Received: dtype={a.dtype}, shape={a.shape}")
    return a


def _same_rank(t: np.ndarray, p_shape, who: str) -> np.ndarray:
    """Squeeze or expand a trailing unit axis so ``t`` has the rank of the prediction
    (Keras' squeeze_or_expand_to_same_rank), then require equal shapes."""
    if t.ndim == len(p_shape) - 1 and p_shape[-1] == 1:
        t = t[..., None]
    elif t.ndim == len(p_shape) + 1 and t.shape[-1] == 1:
        t = t[..., 0]
    if t.shape != tuple(p_shape):
        raise ValueError(f"{who}: y_true and y_pred must have the same shape. "
                         f"Received: y_true.shape={t.shape}, y_pred.shape={tuple(p_shape)}")
    return t


class Loss:
    """Base class: subclasses implement ``call(y_true, y_pred) -> per-sample Tensor``."""

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size", name: Optional[str] = None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {REDUCTIONS}. Received: {reduction!r}")
        self.reduction = reduction
        self.name = name or _snake(type(self).__name__)

    def call(self, y_true, y_pred: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        y_pred = as_tensor(y_pred)
        values = self.call(y_true, y_pred)
        return reduce_values(values, sample_weight, self.reduction, getattr(self, "_count", None), self.name)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}


def reduce_values(values: Tensor, sample_weight, reduction, count=None, who: str = "loss") -> Tensor:
    """Weight per-sample ``values`` and reduce them (``count``: divisor override)."""
    if sample_weight is not None:
        sw = _numeric(sample_weight, who, "sample_weight").astype(values.dtype, copy=False)
        while sw.ndim < values.ndim:
            sw = sw[..., None]
        if sw.ndim > values.ndim:
            sw = sw.reshape(sw.shape[:values.ndim]) if all(s == 1 for s in sw.shape[values.ndim:]) else sw
        try:
            np.broadcast_shapes(sw.shape, values.shape)
        except ValueError:
            raise ValueError(f"{who}: sample_weight of shape {sw.shape} does not match the per-sample loss "
                             f"of shape {values.shape}") from None
        values = values * sw
    if reduction in ("none", None):
        return values
    total = core.sum(values)
    if reduction == "sum":
        return total
    n = values.size if count is None else count
    return total / values.dtype.type(max(n, 1))


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


# ---------------------------------------------------------------------------------------
# regression
# ---------------------------------------------------------------------------------------

class MeanSquaredError(Loss):
    """mean((y_true - y_pred)^2, axis=-1), reduced over the batch."""

    def call(self, y_true, y_pred):
        t = _same_rank(_numeric(y_true, type(self).__name__), y_pred.shape, type(self).__name__)
        d = y_pred - t.astype(y_pred.dtype, copy=False)
        return core.mean(d * d, axis=-1)


class MeanAbsoluteError(Loss):
    """mean(|y_true - y_pred|, axis=-1), reduced over the batch."""

    def call(self, y_true, y_pred):
        t = _same_rank(_numeric(y_true, type(self).__name__), y_pred.shape, type(self).__name__)
        return core.mean(core.abs(y_pred - t.astype(y_pred.dtype, copy=False)), axis=-1)


class Huber(Loss):
    """0.5 d^2 where |d| <= delta, else delta (|d| - delta / 2); mean over the last axis."""

    def __init__(self, delta: float = 1.0, reduction="sum_over_batch_size", name: Optional[str] = None):
        super().__init__(reduction, name or "huber_loss")
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        t = _same_rank(_numeric(y_true, "Huber"), y_pred.shape, "Huber")
        d = core.abs(y_pred - t.astype(y_pred.dtype, copy=False))
        quad = 0.5 * d * d
        lin = self.delta * d - 0.5 * self.delta ** 2
        return core.mean(core.where(d.data <= self.delta, quad, lin), axis=-1)


# ---------------------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------------------

def _logits_of(y_pred: Tensor, op: str) -> Optional[Tensor]:
    """The input of the ``op`` node (softmax over the last axis / sigmoid) that produced
    ``y_pred``, when the graph recorded it."""
    if getattr(y_pred, "_op", None) == op and y_pred._parents:
        return y_pred._parents[0]
    return None


class BinaryCrossentropy(Loss):
    """Binary cross-entropy between targets in [0, 1] and probabilities (or logits with
    ``from_logits=True``); mean over the last axis. ``label_smoothing`` moves targets
    towards 0.5."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name: Optional[str] = None):
        super().__init__(reduction, name or "binary_crossentropy")
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)

    def call(self, y_true, y_pred):
        t = _same_rank(_numeric(y_true, "BinaryCrossentropy"), y_pred.shape, "BinaryCrossentropy")
        t = t.astype(y_pred.dtype, copy=False)
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            v = L.sigmoid_binary_cross_entropy(y_pred, t)
        else:
            z = _logits_of(y_pred, "sigmoid")
            v = L.sigmoid_binary_cross_entropy(z, t) if z is not None else L.binary_cross_entropy_probs(y_pred, t)
        return core.mean(v, axis=-1) if v.ndim else v


class CategoricalCrossentropy(Loss):
    """Cross-entropy between one-hot (or soft) targets (..., C) and class probabilities
    (or logits with ``from_logits=True``) of the same shape."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name: Optional[str] = None):
        super().__init__(reduction, name or "categorical_crossentropy")
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)

    def call(self, y_true, y_pred):
        t = _numeric(y_true, "CategoricalCrossentropy")
        if t.shape != y_pred.shape:
            hint = (" (integer class labels need SparseCategoricalCrossentropy, or "
                    "ember.utils.to_categorical)" if t.ndim == y_pred.ndim - 1 or (t.ndim == y_pred.ndim and t.shape[-1] == 1)
                    else "")
            raise ValueError(f"CategoricalCrossentropy: y_true and y_pred must have the same shape (..., classes). "
                             f"Received: y_true.shape={t.shape}, y_pred.shape={y_pred.shape}{hint}")
        t = t.astype(y_pred.dtype, copy=False)
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + self.label_smoothing / y_pred.shape[-1]
        if self.from_logits:
            return L.softmax_cross_entropy(y_pred, t)
        z = _logits_of(y_pred, "softmax")
        return L.softmax_cross_entropy(z, t) if z is not None else L.categorical_cross_entropy_probs(y_pred, t)


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy between integer labels (...) or (..., 1) and class probabilities
    (or logits) (..., C). ``ignore_class``: a label value that contributes nothing (and is
    not counted in the mean)."""

    def __init__(self, from_logits: bool = False, ignore_class: Optional[int] = None, axis: int = -1,
                 reduction="sum_over_batch_size", name: Optional[str] = None):
        super().__init__(reduction, name or "sparse_categorical_crossentropy")
        self.from_logits, self.ignore_class = bool(from_logits), ignore_class

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        self._count = None
        return super().__call__(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred):
        lab = _numeric(y_true, "SparseCategoricalCrossentropy")
        want = y_pred.shape[:-1]
        if lab.shape == want + (1,):
            lab = lab[..., 0]
        if lab.shape != want:
            raise ValueError("SparseCategoricalCrossentropy: y_true must hold integer class labels of shape "
                             f"{want} (or {want + (1,)}) for y_pred of shape {y_pred.shape}. "
                             f"Received: y_true.shape={lab.shape}"
                             + (" (one-hot labels need CategoricalCrossentropy)" if lab.shape == y_pred.shape else ""))
        mask = None
        if self.ignore_class is not None:
            mask = lab != self.ignore_class
            lab = np.where(mask, lab, 0)
            self._count = int(mask.sum())
        if self.from_logits:
            v = L.sparse_softmax_cross_entropy(y_pred, lab)
        else:
            z = _logits_of(y_pred, "softmax")
            if z is not None:
                v = L.sparse_softmax_cross_entropy(z, lab)
            else:
                C = y_pred.shape[-1]
                li = _int_labels(lab, C)
                onehot = np.zeros(y_pred.shape, dtype=y_pred.dtype)
                np.put_along_axis(onehot, li[..., None], 1, axis=-1)
                v = L.categorical_cross_entropy_probs(y_pred, onehot)
        if mask is not None:
            v = v * mask.astype(v.dtype)
        return v


def _int_labels(lab: np.ndarray, C: int) -> np.ndarray:
    if lab.dtype.kind == "f" and not np.all(np.mod(lab, 1) == 0):
        raise ValueError(f"SparseCategoricalCrossentropy: labels must be integer class indices. Received: dtype={lab.dtype}")
    li = lab.astype(np.intp)
    if li.size and (li.min() < 0 or li.max() >= C):
        raise ValueError(f"SparseCategoricalCrossentropy: labels must be in [0, {C}). Received: min={li.min()}, max={li.max()}")
    return li


class LossFunctionWrapper(Loss):
    """A loss from a plain function ``fn(y_true, y_pred) -> per-sample Tensor``."""

    def __init__(self, fn: Callable, reduction="sum_over_batch_size", name: Optional[str] = None, **kwargs):
        super().__init__(reduction, name or getattr(fn, "__name__", "loss"))
        self.fn, self.kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        out = self.fn(y_true, y_pred, **self.kwargs)
        return as_tensor(out)


# ---------------------------------------------------------------------------------------
# functions (per-sample values, like keras.losses.mean_squared_error) and lookup by name
# ---------------------------------------------------------------------------------------

def mean_squared_error(y_true, y_pred) -> Tensor:
    return MeanSquaredError().call(y_true, as_tensor(y_pred))


def mean_absolute_error(y_true, y_pred) -> Tensor:
    return MeanAbsoluteError().call(y_true, as_tensor(y_pred))


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0) -> Tensor:
    return BinaryCrossentropy(from_logits, label_smoothing).call(y_true, as_tensor(y_pred))


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0) -> Tensor:
    return CategoricalCrossentropy(from_logits, label_smoothing).call(y_true, as_tensor(y_pred))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, ignore_class=None) -> Tensor:
    return SparseCategoricalCrossentropy(from_logits, ignore_class).call(y_true, as_tensor(y_pred))


def huber(y_true, y_pred, delta: float = 1.0) -> Tensor:
    return Huber(delta).call(y_true, as_tensor(y_pred))


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_BY_NAME = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError, "meansquarederror": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError, "meanabsoluteerror": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy, "binarycrossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy, "categoricalcrossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "sparsecategoricalcrossentropy": SparseCategoricalCrossentropy,
}


def get(identifier: Union[str, Loss, Callable, None]) -> Optional[Loss]:
    """A loss from a Keras name ("mse", "binary_crossentropy", ...), a Loss or a function."""
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown loss {identifier!r}. Known: {sorted(k for k in _BY_NAME if '_' in k or len(k) <= 4)}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"loss must be a name, a Loss or a callable. Received: {identifier!r}")
