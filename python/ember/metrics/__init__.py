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

from typing import Callable, Union

from .base import (  # noqa: F401
    EPSILON, NEG_INF, Metric, Mean, Sum, MeanMetricWrapper,
)
from .accuracy import (  # noqa: F401
    BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, Accuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
)
from .confusion import (  # noqa: F401
    Precision, Recall, AUC,
)
from .regression import (  # noqa: F401
    MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, LogCoshError, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, KLDivergence, Poisson, Hinge, SquaredHinge, CategoricalHinge,
    CosineSimilarity,
)
from .base import _snake

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
        from .. import losses as L
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
