"""Merge layers: combine a list of inputs of compatible shapes into one tensor."""
from __future__ import annotations

from typing import List

from ..ops import core as C
from ..tensor import Tensor
from .base import Layer


class _Merge(Layer):
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

    def get_config(self) -> dict:
        return dict(super().get_config(), axis=self.axis)


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)
