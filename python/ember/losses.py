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

import math
import warnings
from typing import Callable, Optional, Union

import numpy as np

from . import backend
from .ops import core
from .ops import nn
from .ops import losses as L
from .ops.xent import sparse_labels
from .tensor import Tensor, as_array_like, as_tensor

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", None)


def _numeric(y, who: str, what: str = "y_true", like=None):
    """``y`` as a numeric array, on the device of the array ``like`` when given (host
    targets meeting a device prediction are copied there, explicitly)."""
    a = y.data if isinstance(y, Tensor) else y
    if not backend.is_array(a):
        try:
            a = np.asarray(a)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{who}: {what} must be a numeric array: {e}") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{who}: {what} must be numeric. Received: dtype={a.dtype}, shape={a.shape}")
    return a if like is None else as_array_like(a, like)


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
        sw = _numeric(sample_weight, who, "sample_weight", like=values.data).astype(values.dtype, copy=False)
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
        t = _same_rank(_numeric(y_true, type(self).__name__, like=y_pred.data), y_pred.shape, type(self).__name__)
        d = y_pred - t.astype(y_pred.dtype, copy=False)
        return core.mean(d * d, axis=-1)


class MeanAbsoluteError(Loss):
    """mean(|y_true - y_pred|, axis=-1), reduced over the batch."""

    def call(self, y_true, y_pred):
        t = _same_rank(_numeric(y_true, type(self).__name__, like=y_pred.data), y_pred.shape, type(self).__name__)
        return core.mean(core.abs(y_pred - t.astype(y_pred.dtype, copy=False)), axis=-1)


class Huber(Loss):
    """0.5 d^2 where |d| <= delta, else delta (|d| - delta / 2); mean over the last axis."""

    def __init__(self, delta: float = 1.0, reduction="sum_over_batch_size", name: Optional[str] = None):
        super().__init__(reduction, name or "huber_loss")
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        t = _same_rank(_numeric(y_true, "Huber", like=y_pred.data), y_pred.shape, "Huber")
        d = core.abs(y_pred - t.astype(y_pred.dtype, copy=False))
        quad = 0.5 * d * d
        lin = self.delta * d - 0.5 * self.delta ** 2
        return core.mean(core.where(d.data <= self.delta, quad, lin), axis=-1)


def _target(y_true, y_pred: Tensor, who: str) -> np.ndarray:
    """``y_true`` as an array of ``y_pred``'s rank (a trailing unit axis squeezed or added)
    and dtype."""
    return _same_rank(_numeric(y_true, who, like=y_pred.data), y_pred.shape, who).astype(y_pred.dtype, copy=False)


EPSILON = L.EPSILON  # Keras' backend epsilon (1e-7)


class MeanAbsolutePercentageError(Loss):
    """100 * mean(|y_true - y_pred| / max(|y_true|, epsilon), axis=-1)."""

    def call(self, y_true, y_pred):
        t = _target(y_true, y_pred, "MeanAbsolutePercentageError")
        xp = backend.xp(t)
        denom = xp.maximum(xp.abs(t), t.dtype.type(EPSILON))
        return core.mean(core.abs((y_pred - t) / denom), axis=-1) * 100.0


class MeanSquaredLogarithmicError(Loss):
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2, axis=-1)."""

    def call(self, y_true, y_pred):
        t = _target(y_true, y_pred, "MeanSquaredLogarithmicError")
        xp = backend.xp(t)
        lt = xp.log(xp.maximum(t, t.dtype.type(EPSILON)) + 1)
        d = core.log(core.maximum(y_pred, EPSILON) + 1.0) - lt
        return core.mean(d * d, axis=-1)


class LogCosh(Loss):
    """mean(log(cosh(y_pred - y_true)), axis=-1), computed as x + softplus(-2x) - log(2)
    (no overflow for large errors)."""

    def call(self, y_true, y_pred):
        x = y_pred - _target(y_true, y_pred, "LogCosh")
        return core.mean(x + nn.softplus(x * -2.0) - math.log(2.0), axis=-1)


class CosineSimilarity(Loss):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis): -1 for vectors pointing the
    same way, 0 for orthogonal ones (Keras normalizes by max(norm, epsilon))."""

    def __init__(self, axis: int = -1, reduction="sum_over_batch_size", name: Optional[str] = None):
        super().__init__(reduction, name)
        self.axis = int(axis)

    def call(self, y_true, y_pred):
        t = _target(y_true, y_pred, "CosineSimilarity")
        ax = self.axis
        xp = backend.xp(t)
        tn = t / xp.maximum(xp.sqrt(xp.sum(t * t, axis=ax, keepdims=True)), t.dtype.type(EPSILON))
        sq = core.sum(y_pred * y_pred, axis=ax, keepdims=True)
        pn = y_pred / core.sqrt(core.maximum(sq, EPSILON ** 2))
        return -core.sum(pn * tn, axis=ax)

    def get_config(self) -> dict:
        return dict(super().get_config(), axis=self.axis)


# ---------------------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------------------

def _logits_for(y_pred: Tensor, op: str, who: str) -> Tensor:
    """With ``from_logits=True``: the pre-activation logits when ``y_pred`` came out of a
    sigmoid / softmax (and a warning), as Keras 3 does with the TensorFlow backend (its
    ``_keras_logits``); else ``y_pred`` itself."""
    z = _logits_of(y_pred, op)
    if z is None:
        return y_pred
    warnings.warn(f"`{who}` received `from_logits=True`, but the `output` argument was produced by a "
                  f"{op.capitalize()} activation and thus does not represent logits. Was this intended?",
                  UserWarning, stacklevel=4)
    return z


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
        t = _same_rank(_numeric(y_true, "BinaryCrossentropy", like=y_pred.data), y_pred.shape, "BinaryCrossentropy")
        t = t.astype(y_pred.dtype, copy=False)
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            v = L.sigmoid_binary_cross_entropy(_logits_for(y_pred, "sigmoid", "binary_crossentropy"), t)
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
        t = _numeric(y_true, "CategoricalCrossentropy", like=y_pred.data)
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
            return L.softmax_cross_entropy(_logits_for(y_pred, "softmax", "categorical_crossentropy"), t)
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
        lab = _numeric(y_true, "SparseCategoricalCrossentropy", like=y_pred.data)
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
            lab = backend.xp(lab).where(mask, lab, 0)
            self._count = int(mask.sum())
        if self.from_logits:
            v = L.sparse_softmax_cross_entropy(_logits_for(y_pred, "softmax", "sparse_categorical_crossentropy"), lab)
        else:
            z = _logits_of(y_pred, "softmax")
            if z is not None:
                v = L.sparse_softmax_cross_entropy(z, lab)
            else:
                li = sparse_labels("SparseCategoricalCrossentropy", lab, y_pred)
                onehot = (li[..., None] == backend.xp(li).arange(y_pred.shape[-1])).astype(y_pred.dtype)
                v = L.categorical_cross_entropy_probs(y_pred, onehot)
        if mask is not None:
            v = v * mask.astype(v.dtype)
        return v


def _hinge_labels(t: np.ndarray) -> np.ndarray:
    """Keras' convert_binary_labels_to_hinge: labels that are all 0 / 1 become -1 / 1;
    other labels (already -1 / 1) are used as they are."""
    if not backend.is_device_array(t):
        if bool(((t == 0) | (t == 1)).all()):
            return 2 * t - 1
        return t
    # on a device the choice is made there (a host branch would wait for the device)
    return backend.xp(t).where(((t == 0) | (t == 1)).all(), 2 * t - 1, t)


class Hinge(Loss):
    """mean(max(1 - y_true * y_pred, 0), axis=-1); y_true in {-1, 1} (0 / 1 labels are
    converted to -1 / 1, as Keras does)."""

    def call(self, y_true, y_pred):
        t = _hinge_labels(_target(y_true, y_pred, type(self).__name__))
        return core.mean(core.relu(1.0 - y_pred * t), axis=-1)


class SquaredHinge(Loss):
    """mean(max(1 - y_true * y_pred, 0)^2, axis=-1); labels as for Hinge."""

    def call(self, y_true, y_pred):
        t = _hinge_labels(_target(y_true, y_pred, type(self).__name__))
        h = core.relu(1.0 - y_pred * t)
        return core.mean(h * h, axis=-1)


class CategoricalHinge(Loss):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) over the last axis,
    for one-hot y_true."""

    def call(self, y_true, y_pred):
        t = _target(y_true, y_pred, "CategoricalHinge")
        pos = core.sum(y_pred * t, axis=-1)
        neg = core.max(y_pred * (1 - t), axis=-1)
        return core.relu(neg - pos + 1.0)


class KLDivergence(Loss):
    """Kullback-Leibler divergence sum(y_true * log(y_true / y_pred), axis=-1), both clipped
    to [epsilon, 1] like Keras (no gradient where y_pred was clipped)."""

    def __init__(self, reduction="sum_over_batch_size", name: Optional[str] = None):
        super().__init__(reduction, name or "kl_divergence")

    def call(self, y_true, y_pred):
        t = _target(y_true, y_pred, "KLDivergence")
        xp = backend.xp(t)
        tc = xp.clip(t, t.dtype.type(EPSILON), 1)
        # the constant as a Tensor on the left: a device array minus a Tensor is not an op
        return core.sum((as_tensor(xp.log(tc)) - core.log(core.clip(y_pred, EPSILON, 1.0))) * tc, axis=-1)


class Poisson(Loss):
    """mean(y_pred - y_true * log(y_pred + epsilon), axis=-1) (y_pred a positive rate)."""

    def call(self, y_true, y_pred):
        t = _target(y_true, y_pred, "Poisson")
        return core.mean(y_pred - core.log(y_pred + EPSILON) * t, axis=-1)


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


def mean_absolute_percentage_error(y_true, y_pred) -> Tensor:
    return MeanAbsolutePercentageError().call(y_true, as_tensor(y_pred))


def mean_squared_logarithmic_error(y_true, y_pred) -> Tensor:
    return MeanSquaredLogarithmicError().call(y_true, as_tensor(y_pred))


def log_cosh(y_true, y_pred) -> Tensor:
    return LogCosh().call(y_true, as_tensor(y_pred))


def cosine_similarity(y_true, y_pred, axis: int = -1) -> Tensor:
    return CosineSimilarity(axis).call(y_true, as_tensor(y_pred))


def hinge(y_true, y_pred) -> Tensor:
    return Hinge().call(y_true, as_tensor(y_pred))


def squared_hinge(y_true, y_pred) -> Tensor:
    return SquaredHinge().call(y_true, as_tensor(y_pred))


def categorical_hinge(y_true, y_pred) -> Tensor:
    return CategoricalHinge().call(y_true, as_tensor(y_pred))


def kl_divergence(y_true, y_pred) -> Tensor:
    return KLDivergence().call(y_true, as_tensor(y_pred))


def poisson(y_true, y_pred) -> Tensor:
    return Poisson().call(y_true, as_tensor(y_pred))


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
logcosh = log_cosh

_BY_NAME = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError, "meansquarederror": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError, "meanabsoluteerror": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy, "binarycrossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy, "categoricalcrossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "sparsecategoricalcrossentropy": SparseCategoricalCrossentropy,
    "mape": MeanAbsolutePercentageError, "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "meanabsolutepercentageerror": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "meansquaredlogarithmicerror": MeanSquaredLogarithmicError,
    "log_cosh": LogCosh, "logcosh": LogCosh,
    "cosine_similarity": CosineSimilarity, "cosinesimilarity": CosineSimilarity,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "squaredhinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge, "categoricalhinge": CategoricalHinge,
    "kld": KLDivergence, "kl_divergence": KLDivergence, "kldivergence": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson,
}


def get(identifier: Union[str, Loss, Callable, None]) -> Optional[Loss]:
    """A loss from a Keras name ("mse", "binary_crossentropy", "kld", "hinge", ...; any
    case), a Loss or a function."""
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            known = sorted(k for k, c in _BY_NAME.items() if k != c.__name__.lower() or k == _snake(c.__name__))
            raise ValueError(f"Unknown loss {identifier!r}. Known: {known}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"loss must be a name, a Loss or a callable. Received: {identifier!r}")
