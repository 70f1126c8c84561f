"""Weight initializers with Keras names and defaults.

Each initializer is a callable ``init(shape, dtype) -> ndarray`` drawing from ember's seeded
generator (``ember.set_seed``). Fans follow Keras: for a kernel of shape
(..., fan_in, fan_out) the receptive field (leading dims) multiplies both fans.
"""
from __future__ import annotations

import math
from typing import Callable, Tuple, Union

import numpy as np

from . import random as erandom


def _fans(shape: Tuple[int, ...]) -> Tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = float(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: ``init(shape, dtype="float32") -> np.ndarray``."""

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(self.__dict__)


class Zeros(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    def __init__(self, value: float = 0.0):
        self.value = value

    def __call__(self, shape, dtype="float32"):
        return np.full(shape, self.value, dtype=dtype)


class RandomNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05):
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype="float32"):
        return erandom.generator().normal(self.mean, self.stddev, shape).astype(dtype)


class RandomUniform(Initializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05):
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype="float32"):
        return erandom.generator().uniform(self.minval, self.maxval, shape).astype(dtype)


class VarianceScaling(Initializer):
    """Keras VarianceScaling: scale / fan (fan_in, fan_out or their mean), drawn from a
    truncated normal, an untruncated normal or a uniform distribution."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal"):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be fan_in, fan_out or fan_avg. Received: {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "normal", "uniform"):
            raise ValueError(f"VarianceScaling: unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype="float32"):
        shape = tuple(int(s) for s in shape)
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, fan)
        g = erandom.generator()
        if self.distribution == "uniform":
            lim = math.sqrt(3.0 * var)
            return g.uniform(-lim, lim, shape).astype(dtype)
        if self.distribution in ("normal", "untruncated_normal"):
            return g.normal(0.0, math.sqrt(var), shape).astype(dtype)
        # truncated at 2 stddev; 0.879... corrects the variance lost to truncation
        std = math.sqrt(var) / 0.87962566103423978
        out = g.normal(0.0, 1.0, shape)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = g.normal(0.0, 1.0, int(bad.sum()))
            bad = np.abs(out) > 2
        return (out * std).astype(dtype)


class _FixedVarianceScaling(VarianceScaling):
    """A named VarianceScaling preset: no constructor arguments, so no config."""

    def get_config(self) -> dict:
        return {}


class GlorotUniform(_FixedVarianceScaling):
    def __init__(self):
        super().__init__(1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedVarianceScaling):
    def __init__(self):
        super().__init__(1.0, "fan_avg", "truncated_normal")


class HeNormal(_FixedVarianceScaling):
    def __init__(self):
        super().__init__(2.0, "fan_in", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    def __init__(self):
        super().__init__(2.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    def __init__(self):
        super().__init__(1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """A (scaled) random orthogonal matrix, over the last axis vs the rest (Keras)."""

    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        shape = tuple(int(s) for s in shape)
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        cols = shape[-1]
        a = erandom.generator().normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q[:rows, :cols]).reshape(shape).astype(dtype)


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_normal": RandomNormal, "random_uniform": RandomUniform,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_normal": HeNormal, "he_uniform": HeUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "variance_scaling": VarianceScaling,
    # Keras' short aliases
    "uniform": RandomUniform, "normal": RandomNormal, "one": Ones, "zero": Zeros,
}


_BY_CLASS = {c.__name__: c for c in (Zeros, Ones, Constant, RandomNormal, RandomUniform, VarianceScaling,
                                     GlorotUniform, GlorotNormal, HeNormal, HeUniform, LecunNormal, Orthogonal)}


def serialize(initializer):
    """A JSON-able form of ``initializer`` for layer configs: a name stays a name, an
    Initializer becomes {"class_name", "config"} (Keras' form); None for a plain callable,
    which cannot be written down."""
    if initializer is None or isinstance(initializer, str):
        return initializer
    if isinstance(initializer, Initializer) and type(initializer).__name__ in _BY_CLASS:
        return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    return None


def get(identifier: Union[str, dict, Initializer, Callable, None]) -> Callable:
    """An initializer from a Keras name ("glorot_uniform", "zeros", ...), a serialized
    {"class_name", "config"} dict, an instance or a callable ``(shape, dtype) -> array``."""
    if identifier is None:
        return Zeros()
    if isinstance(identifier, dict):
        cls = _BY_CLASS.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown initializer class {identifier.get('class_name')!r}. Known: {sorted(_BY_CLASS)}")
        return cls(**identifier.get("config", {}))
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(f"Unknown initializer {identifier!r}. Known: {sorted(_BY_NAME)}")
        return _BY_NAME[key]()
    if callable(identifier):
        return identifier
    raise TypeError(f"initializer must be a name, an Initializer or a callable. Received: {identifier!r}")
