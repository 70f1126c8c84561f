"""Noise and structured-dropout layers (Keras names and defaults): GaussianNoise,
GaussianDropout, SpatialDropout1D/2D/3D. All are the identity at inference; in training
they draw from ember's seeded generator (``ember.set_seed``), or from the layer's own
when ``seed`` is given."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .. import functional as F
from .. import random as erandom
from ..tensor import Tensor
from .base import Layer
from .core import Dropout


class _Noise(Layer):

    supports_masking = True  # passes the mask on unchanged (Keras)
    def __init__(self, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def _generator(self) -> np.random.Generator:
        return self._rng if self._rng is not None else erandom.generator()

    def _normal(self, x: Tensor, mean: float, stddev: float) -> Tensor:
        dt = x.dtype
        noise = erandom.draw_like(x.data, self._generator(), "standard_normal", x.shape, dt)
        if stddev != 1.0:
            noise *= dt.type(stddev)
        if mean != 0.0:
            noise += dt.type(mean)
        return Tensor(noise)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(super().get_config(), seed=self.seed)


class GaussianNoise(_Noise):
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` in training (a
    regulariser, and data augmentation for real-valued inputs); identity at inference."""

    def __init__(self, stddev: float, seed: Optional[int] = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not float(stddev) >= 0.0:
            raise ValueError(f"GaussianNoise layer '{self.name}': stddev must be >= 0. Received: stddev={stddev!r}")
        self.stddev = float(stddev)

    def call(self, inputs, training: bool = False):
        if not training or self.stddev == 0.0:
            return inputs
        x = inputs if inputs.dtype.kind == "f" else F.cast(inputs, self.dtype)
        return x + self._normal(x, 0.0, self.stddev)

    def get_config(self) -> dict:
        return dict(super().get_config(), stddev=self.stddev)


class GaussianDropout(_Noise):
    """Multiply by Gaussian noise of mean 1 and standard deviation sqrt(rate / (1 - rate))
    in training; identity at inference."""

    def __init__(self, rate: float, seed: Optional[int] = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"GaussianDropout layer '{self.name}': rate must be in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)

    def call(self, inputs, training: bool = False):
        if not training or self.rate == 0.0:
            return inputs
        x = inputs if inputs.dtype.kind == "f" else F.cast(inputs, self.dtype)
        return x * self._normal(x, 1.0, math.sqrt(self.rate / (1.0 - self.rate)))

    def get_config(self) -> dict:
        return dict(super().get_config(), rate=self.rate)


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one keep / drop draw per (sample, channel), shared
    over the steps / spatial axes."""
    _rank = 1
    _names = "steps"

    def __init__(self, rate: float, data_format: Optional[str] = None, seed: Optional[int] = None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        df = (data_format or "channels_last").lower()
        if df not in ("channels_last", "channels_first"):
            raise ValueError(f"{type(self).__name__} layer '{self.name}': data_format must be 'channels_last' or "
                             f"'channels_first'. Received: {data_format!r}")
        self.data_format = df

    def call(self, inputs, training: bool = False):
        nd = self._rank + 2
        if inputs.ndim != nd:
            layout = (f"(batch, {self._names}, channels)" if self.data_format == "channels_last"
                      else f"(batch, channels, {self._names})")
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects a {nd}-D input {layout}. "
                             f"Received: shape={inputs.shape}")
        ones = (1,) * self._rank
        self.noise_shape = (None,) + ones + (None,) if self.data_format == "channels_last" else (None, None) + ones
        return super().call(inputs, training)

    def get_config(self) -> dict:
        cfg = super().get_config()
        del cfg["noise_shape"]
        return dict(cfg, data_format=self.data_format)


class SpatialDropout1D(_SpatialDropout):
    """Drop whole channels of (batch, steps, channels) (``rate``: the fraction dropped)."""

    def __init__(self, rate: float, seed: Optional[int] = None, **kwargs):
        super().__init__(rate, None, seed, **kwargs)

    def get_config(self) -> dict:
        cfg = super().get_config()
        del cfg["data_format"]
        return cfg


class SpatialDropout2D(_SpatialDropout):
    """Drop whole feature maps of (batch, height, width, channels) (or channels_first)."""
    _rank = 2
    _names = "height, width"


class SpatialDropout3D(_SpatialDropout):
    """Drop whole feature maps of (batch, depth, height, width, channels) (or channels_first)."""
    _rank = 3
    _names = "depth, height, width"
