"""Merge layers: combine a list of inputs of compatible shapes into one tensor."""
from __future__ import annotations

from typing import List

from ..ops import core as C
from .. import backend
from ..tensor import Tensor, as_array, as_bool_array, as_mask
from .base import Layer


class _Merge(Layer):
    supports_masking = True
    def _check(self, inputs) -> List[Tensor]:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects a list of at least 2 inputs. "
                             f"Received: {type(inputs).__name__}" + (f" of length {len(inputs)}" if isinstance(inputs, (list, tuple)) else ""))
        from ..tensor import as_tensor
        return [as_tensor(t) for t in inputs]

    def build(self, input_shape) -> None:
        self.built = True

    def _maybe_build(self, inputs) -> None:
        self.built = True

    @staticmethod
    def _input_masks(inputs) -> list:
        """The mask each input carries (None where it has none)."""
        return [getattr(t, "_mask", None) if isinstance(t, Tensor) else None for t in inputs] \
            if isinstance(inputs, (list, tuple)) else []

    def compute_mask(self, inputs, mask=None):
        """Keras' merge mask: a step is kept when any input keeps it; no mask unless every
        input has one."""
        masks = self._input_masks(inputs)
        if not masks or any(m is None for m in masks):
            return None
        out = as_mask(masks[0])
        for m in masks[1:]:
            out = out | as_mask(m)
        return out


class Add(_Merge):
    """Elementwise sum of the inputs (shapes must broadcast)."""

    def call(self, inputs):
        ts = self._check(inputs)
        out = ts[0]
        for t in ts[1:]:
            out = out + t
        return out


class Subtract(_Merge):
    """inputs[0] - inputs[1]."""

    def call(self, inputs):
        ts = self._check(inputs)
        if len(ts) != 2:
            raise ValueError(f"Subtract layer '{self.name}' expects exactly 2 inputs. Received: {len(ts)}")
        return ts[0] - ts[1]


class Multiply(_Merge):
    """Elementwise product of the inputs."""

    def call(self, inputs):
        ts = self._check(inputs)
        out = ts[0]
        for t in ts[1:]:
            out = out * t
        return out


class Average(_Merge):
    def call(self, inputs):
        ts = self._check(inputs)
        out = ts[0]
        for t in ts[1:]:
            out = out + t
        return out * (1.0 / len(ts))


class Maximum(_Merge):
    def call(self, inputs):
        ts = self._check(inputs)
        out = ts[0]
        for t in ts[1:]:
            out = C.maximum(out, t)
        return out


class Minimum(_Merge):
    """Elementwise minimum of the inputs."""

    def call(self, inputs):
        ts = self._check(inputs)
        out = ts[0]
        for t in ts[1:]:
            out = C.minimum(out, t)
        return out


class Dot(_Merge):
    """Keras' ``Dot(axes, normalize=False)``: the dot product of two batched inputs along
    ``axes`` (an int for both, or one per input; the batch axis 0 cannot be one), the
    remaining axes of the first input then of the second kept: (b, d)·(b, d) -> (b, 1),
    (b, n, d)·(b, m, d) with axes=2 -> (b, n, m). ``normalize``: L2-normalize both along
    ``axes`` first (the result is then the cosine similarity)."""

    def __init__(self, axes, normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise ValueError(f"Dot layer '{self.name}': axes must be an int or a pair of ints. Received: axes={axes}")
            axes = (int(axes[0]), int(axes[1]))
        else:
            axes = int(axes)
        self.axes, self.normalize = axes, bool(normalize)

    def call(self, inputs):
        ts = self._check(inputs)
        if len(ts) != 2:
            raise ValueError(f"Dot layer '{self.name}' expects exactly 2 inputs. Received: {len(ts)}")
        x, y = ts
        ax = self.axes if isinstance(self.axes, tuple) else (self.axes, self.axes)
        ax = tuple(a % t.ndim if t.ndim else a for a, t in zip(ax, ts))
        if x.ndim < 2 or y.ndim < 2 or 0 in ax or x.shape[0] != y.shape[0] or x.shape[ax[0]] != y.shape[ax[1]]:
            raise ValueError(f"Dot layer '{self.name}': the inputs must be batched (rank >= 2, same batch size) "
                             f"and match along axes {self.axes} (not the batch axis 0). Received shapes: "
                             f"{[x.shape, y.shape]}")
        if self.normalize:
            x, y = _l2_normalize(x, ax[0]), _l2_normalize(y, ax[1])
        b, k = x.shape[0], x.shape[ax[0]]
        x_rest = [d for i, d in enumerate(x.shape) if i not in (0, ax[0])]
        y_rest = [d for i, d in enumerate(y.shape) if i not in (0, ax[1])]
        xm = C.reshape(C.transpose(x, [0] + [i for i in range(1, x.ndim) if i != ax[0]] + [ax[0]]), (b, -1, k))
        ym = C.reshape(C.transpose(y, [0, ax[1]] + [i for i in range(1, y.ndim) if i != ax[1]]), (b, k, -1))
        out = C.matmul(xm, ym)
        return C.reshape(out, (b, *(x_rest + y_rest)) if x_rest or y_rest else (b, 1))

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> dict:
        return dict(super().get_config(), axes=list(self.axes) if isinstance(self.axes, tuple) else self.axes,
                    normalize=self.normalize)


def _l2_normalize(x: Tensor, axis: int) -> Tensor:
    # Keras' l2_normalize: x / sqrt(max(sum(x^2), 1e-12))
    return x / C.sqrt(C.maximum(C.sum(x * x, axis=axis, keepdims=True), 1e-12))


class Concatenate(_Merge):
    """Join the inputs along ``axis`` (default the last)."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        ts = self._check(inputs)
        nd = ts[0].ndim
        for t in ts:
            if t.ndim != nd:
                raise ValueError(f"Concatenate layer '{self.name}': inputs must have the same rank. "
                                 f"Received shapes: {[x.shape for x in ts]}")
        ax = self.axis % nd
        for t in ts[1:]:
            if any(a != b for i, (a, b) in enumerate(zip(t.shape, ts[0].shape)) if i != ax):
                raise ValueError(f"Concatenate layer '{self.name}': inputs must match on all axes but {self.axis}. "
                                 f"Received shapes: {[x.shape for x in ts]}")
        return C.concatenate(ts, axis=ax)

    def compute_mask(self, inputs, mask=None):
        """Keras' Concatenate mask: the inputs' masks (all-True for an input without one,
        widened to the input's rank) joined along ``axis``, then any() over the last axis."""
        masks = self._input_masks(inputs)
        if not masks or all(m is None for m in masks):
            return None
        full = []
        like = as_array(inputs[0])
        xp = backend.xp(like)
        for t, m in zip(inputs, masks):
            shape = tuple(t.shape)
            if m is None:
                full.append(xp.ones(shape, dtype=bool))
            else:
                m = as_bool_array(m, like)
                full.append(xp.broadcast_to(m[..., None], shape) if m.ndim < len(shape) else m)
        return xp.concatenate(full, axis=self.axis).any(axis=-1)

    def get_config(self) -> dict:
        return dict(super().get_config(), axis=self.axis)


# Keras' functional forms: ``layers.add([a, b])`` is ``layers.Add()([a, b])``.
def add(inputs, **kwargs):
    """The elementwise sum of ``inputs`` (an ``Add`` layer applied to them)."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``inputs[0] - inputs[1]`` (a ``Subtract`` layer)."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """The elementwise product of ``inputs`` (a ``Multiply`` layer)."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """The elementwise mean of ``inputs`` (an ``Average`` layer)."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """The elementwise maximum of ``inputs`` (a ``Maximum`` layer)."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """The elementwise minimum of ``inputs`` (a ``Minimum`` layer)."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    """``inputs`` joined along ``axis`` (a ``Concatenate`` layer)."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes, normalize: bool = False, **kwargs):
    """The batched dot product of two inputs along ``axes`` (a ``Dot`` layer)."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
