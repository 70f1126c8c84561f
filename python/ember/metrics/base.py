"""The metric base class, the shared array helpers and the reductions (Mean, Sum,
MeanMetricWrapper).
"""
from __future__ import annotations

from typing import Callable, List, Optional

import numpy as np

from .. import backend
from ..tensor import Tensor, as_array_like, no_grad


EPSILON = 1e-7  # Keras' backend epsilon
NEG_INF = -1e10  # what Keras' top_k filter gives the predictions outside the top k



def _np(x) -> np.ndarray:
    """``x`` as a NumPy array: metrics accumulate on the host, so a device prediction or
    target is copied here, explicitly (one copy per batch and metric input)."""
    return backend.to_numpy(x.data if isinstance(x, Tensor) else x)


def _dev(x):
    """``x`` as an array on its own device (a Tensor's data; host data as NumPy)."""
    x = x.data if isinstance(x, Tensor) else x
    return x if backend.is_device_array(x) else backend.to_numpy(x)


def _on_device(*xs) -> bool:
    return any(backend.is_device_array(x.data if isinstance(x, Tensor) else x) for x in xs)


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
    # True when ``values`` is written with the arrays' own module (backend.xp): on a device
    # the per-sample values and the running sums then stay there (no device -> host read per
    # batch); a metric without it gets host copies of its inputs (one read per input).
    _device_values = False

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
        from .. import initializers
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
        if backend.is_device_array(v):
            return self._accumulate_on_device(v, sample_weight)
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

    def _accumulate_on_device(self, v, sample_weight) -> None:
        """``_accumulate`` with device values: the sums become 0-d float64 device arrays (the
        same float64 additions as on the host), read only when a result is logged."""
        xp = backend.xp(v)
        v = v.astype(np.float64)
        if sample_weight is not None:
            w = as_array_like(_dev(sample_weight), v).astype(np.float64)
            v, w = _same_rank(v, w)
            if v.ndim > w.ndim:
                v = v.mean(axis=tuple(range(w.ndim, v.ndim)))
            try:
                w = xp.broadcast_to(w, v.shape)
            except ValueError:
                raise ValueError(f"{type(self).__name__}: sample_weight of shape {w.shape} does not broadcast to "
                                 f"the values of shape {tuple(v.shape)}") from None
            self._total = self._total + xp.sum(v * w)
            self._count = self._count + xp.sum(w)
        else:
            self._total = self._total + xp.sum(v.mean(axis=tuple(range(1, v.ndim))) if v.ndim > 1 else v)
            self._count += v.shape[0] if v.ndim >= 1 else 1

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if self._device_values and _on_device(y_true, y_pred):
            yp = _dev(y_pred)
            self._accumulate(self.values(as_array_like(_dev(y_true), yp), yp), sample_weight)
        else:
            self._accumulate(self.values(_np(y_true), _np(y_pred)), sample_weight)

    def result(self) -> float:
        return _ratio(self._total, self._count)

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def _ratio(total, count):
    """total / count, 0.0 for no count; a 0-d device array when either lives on a device
    (no read: the zero test is done there too)."""
    if backend.is_device_array(total) or backend.is_device_array(count):
        xp = backend.xp(total, count)
        nz = count != 0
        return xp.where(nz, total, 0.0) / xp.where(nz, count, 1.0)
    return total / count if count else 0.0


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
        self._accumulate(_dev(values), sample_weight)  # a device value accumulates on its device


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
        from .. import losses as L
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


