"""Image augmentation layers (Keras 3 names, arguments and configs): RandomFlip,
RandomRotation, RandomZoom, RandomTranslation, RandomContrast, RandomBrightness, RandomCrop.

They change images only when called with ``training=True`` (``fit`` does); otherwise they
return the input, except RandomCrop, which then center-crops the largest window of the
target aspect ratio and resizes it to (height, width), as Keras documents. Randomness
comes from ember's seeded generator (``ember.set_seed``) or the layer's own generator
when ``seed`` is given. Inputs are (batch, height, width, channels) or one image
(height, width, channels); ``data_format="channels_first"`` is accepted too.

Gradients: every transform is written with differentiable ops (flips and crops are
slices, contrast is arithmetic, rotation / zoom / translation are gathers weighted by
the interpolation), so the gradient reaches the input through the sampling, the
random parameters being constants.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .. import backend
from .. import random as erandom
from ..ops.core import clip, getitem, reshape, transpose, where
from ..tensor import Tensor
from .base import Layer
from .image_transform import (FILL_MODES, INTERPOLATIONS, affine_sample, rotation_transforms, smart_resize,
                              translation_transforms, zoom_transforms)


def _factor_range(layer: str, arg: str, factor, lo: float = -1.0, hi: float = 1.0) -> Tuple[float, float]:
    """(lower, upper) from a number f (meaning (-f, f)) or a pair, each within [lo, hi]."""
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2:
            raise ValueError(f"{layer}: {arg} must be a number or a pair (lower, upper). Received: {arg}={factor!r}")
        pair = (float(factor[0]), float(factor[1]))
    elif isinstance(factor, (int, float, np.integer, np.floating)):
        pair = (-abs(float(factor)), abs(float(factor)))
    else:
        raise ValueError(f"{layer}: {arg} must be a number or a pair (lower, upper). Received: {arg}={factor!r}")
    if not all(lo <= v <= hi for v in pair):
        raise ValueError(f"{layer}: {arg} must be within [{lo}, {hi}]. Received: {arg}={factor!r}")
    return min(pair), max(pair)


class _ImageAugmentation(Layer):
    """Random generator, layout handling and argument checks shared by the layers."""

    def __init__(self, seed: Optional[int] = None, data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self.data_format = (data_format or "channels_last").lower()
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{self._who()}: data_format must be 'channels_last' or 'channels_first'. "
                             f"Received: data_format={data_format!r}")

    def _who(self) -> str:
        return f"{type(self).__name__} layer '{self.name}'"

    def _generator(self) -> np.random.Generator:
        return self._rng if self._rng is not None else erandom.generator()

    def _check_fill(self, fill_mode, interpolation):
        if fill_mode not in FILL_MODES:
            raise ValueError(f"{self._who()}: fill_mode must be one of {FILL_MODES}. Received: fill_mode={fill_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{self._who()}: interpolation must be one of {INTERPOLATIONS}. "
                             f"Received: interpolation={interpolation!r}")

    def _to_nhwc(self, inputs) -> Tuple[Tensor, bool]:
        """The input as a float (N, H, W, C) Tensor, and whether it was one image."""
        if inputs.ndim not in (3, 4):
            raise ValueError(f"{self._who()} expects images (batch, height, width, channels) or one image "
                             f"(height, width, channels). Received: shape={inputs.shape}")
        x = inputs if inputs.dtype.kind == "f" else Tensor(inputs.data.astype(self.dtype))
        single = x.ndim == 3
        if single:
            x = reshape(x, (1,) + x.shape)
        if self.data_format == "channels_first":
            x = transpose(x, (0, 2, 3, 1))
        return x, single

    def _from_nhwc(self, y: Tensor, single: bool) -> Tensor:
        if self.data_format == "channels_first":
            y = transpose(y, (0, 3, 1, 2))
        return reshape(y, y.shape[1:]) if single else y

    def call(self, inputs, training=False):
        if not training:
            return inputs
        backend.require_host(f"{type(self).__name__} layer (host image transforms)", getattr(inputs, "data", inputs))
        x, single = self._to_nhwc(inputs)
        return self._from_nhwc(self._augment(x), single)

    def _augment(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(super().get_config(), seed=self.seed, data_format=self.data_format)


class RandomFlip(_ImageAugmentation):
    """Flip each image, with probability 1/2 per direction, left-right ("horizontal"),
    up-down ("vertical") or both ("horizontal_and_vertical", the default)."""

    def __init__(self, mode: str = "horizontal_and_vertical", seed: Optional[int] = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f"{self._who()}: mode must be 'horizontal', 'vertical' or 'horizontal_and_vertical'. "
                             f"Received: mode={mode!r}")
        self.mode = mode

    def _augment(self, x):
        rng, n = self._generator(), x.shape[0]
        for axis, on in ((2, "horizontal" in self.mode), (1, "vertical" in self.mode)):
            if on:
                flip = rng.random(n) < 0.5
                rev = getitem(x, (slice(None),) * axis + (slice(None, None, -1),))
                x = where(flip.reshape(n, 1, 1, 1), rev, x)
        return x

    def get_config(self) -> dict:
        return dict(super().get_config(), mode=self.mode)


class _AffineAugmentation(_ImageAugmentation):
    """Fill mode, interpolation and fill value of the resampling layers."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", fill_value=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self._check_fill(fill_mode, interpolation)
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, float(fill_value)

    def _augment(self, x):
        return affine_sample(x, self._transforms(x.shape[0], x.shape[1], x.shape[2]), self.interpolation,
                             self.fill_mode, self.fill_value)

    def _transforms(self, n: int, h: int, w: int) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(super().get_config(), fill_mode=self.fill_mode, interpolation=self.interpolation,
                    fill_value=self.fill_value)


class RandomRotation(_AffineAugmentation):
    """Rotate each image by a random angle: ``factor`` f (or (lower, upper)) in fractions
    of a full turn, f = 0.1 meaning [-36, 36] degrees; positive is counter-clockwise."""

    def __init__(self, factor, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: Optional[int] = None, fill_value: float = 0.0, value_range=(0, 255), **kwargs):
        super().__init__(fill_mode, interpolation, fill_value, seed, **kwargs)
        self.factor = factor
        self._range = _factor_range(self._who(), "factor", factor)
        self.value_range = tuple(value_range)

    def _transforms(self, n, h, w):
        lo, hi = self._range
        angles = self._generator().uniform(lo, hi, n) * 2 * np.pi
        return rotation_transforms(angles, h, w)

    def get_config(self) -> dict:
        return dict(super().get_config(), factor=self.factor, value_range=list(self.value_range))


class RandomZoom(_AffineAugmentation):
    """Zoom each image by 1 + a random amount in ``height_factor`` (f means (-f, f));
    positive values zoom out, negative zoom in. ``width_factor=None`` keeps the aspect
    ratio (the height's zoom for both axes)."""

    def __init__(self, height_factor, width_factor=None, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: Optional[int] = None, fill_value: float = 0.0, **kwargs):
        super().__init__(fill_mode, interpolation, fill_value, seed, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._h = _factor_range(self._who(), "height_factor", height_factor, -1.0, np.inf)
        self._w = None if width_factor is None else _factor_range(self._who(), "width_factor", width_factor,
                                                                  -1.0, np.inf)

    def _transforms(self, n, h, w):
        rng = self._generator()
        zy = 1.0 + rng.uniform(self._h[0], self._h[1], n)
        zx = zy if self._w is None else 1.0 + rng.uniform(self._w[0], self._w[1], n)
        return zoom_transforms(zx, zy, h, w)

    def get_config(self) -> dict:
        return dict(super().get_config(), height_factor=self.height_factor, width_factor=self.width_factor)


class RandomTranslation(_AffineAugmentation):
    """Shift each image by random fractions of its height and width: ``height_factor`` f
    (or (lower, upper)) draws a shift in [-f, f] * height (positive: down / right)."""

    def __init__(self, height_factor, width_factor, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: Optional[int] = None, fill_value: float = 0.0, **kwargs):
        super().__init__(fill_mode, interpolation, fill_value, seed, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._h = _factor_range(self._who(), "height_factor", height_factor)
        self._w = _factor_range(self._who(), "width_factor", width_factor)

    def _transforms(self, n, h, w):
        rng = self._generator()
        dy = rng.uniform(self._h[0], self._h[1], n) * h
        dx = rng.uniform(self._w[0], self._w[1], n) * w
        return translation_transforms(dx, dy)

    def get_config(self) -> dict:
        return dict(super().get_config(), height_factor=self.height_factor, width_factor=self.width_factor)


class RandomContrast(_ImageAugmentation):
    """``(x - mean) * c + mean`` per image and channel (mean over height and width), c drawn
    in [1 - lower, 1 + upper] (``factor`` f means lower = upper = f), clipped to
    ``value_range``."""

    def __init__(self, factor, value_range=(0, 255), seed: Optional[int] = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        pair = tuple(factor) if isinstance(factor, (list, tuple)) else (factor, factor)
        if len(pair) != 2 or not all(isinstance(v, (int, float, np.integer, np.floating)) and 0 <= v <= 1
                                     for v in pair):
            raise ValueError(f"{self._who()}: factor must be a number in [0, 1] or a pair (lower, upper) of them. "
                             f"Received: factor={factor!r}")
        self.factor = factor
        self._lower, self._upper = float(pair[0]), float(pair[1])
        self.value_range = tuple(value_range)
        if len(self.value_range) != 2 or self.value_range[0] >= self.value_range[1]:
            raise ValueError(f"{self._who()}: value_range must be (low, high) with low < high. "
                             f"Received: value_range={value_range!r}")

    def _augment(self, x):
        n = x.shape[0]
        c = self._generator().uniform(1.0 - self._lower, 1.0 + self._upper, n).astype(x.dtype).reshape(n, 1, 1, 1)
        mean = x.mean((1, 2), True)
        return clip((x - mean) * Tensor(c) + mean, self.value_range[0], self.value_range[1])

    def get_config(self) -> dict:
        return dict(super().get_config(), factor=self.factor, value_range=list(self.value_range))


class RandomBrightness(_ImageAugmentation):
    """Add ``delta * (high - low)`` to each image, delta drawn in ``factor`` (f means
    (-f, f), within [-1, 1]), then clip to ``value_range`` = (low, high)."""

    def __init__(self, factor, value_range=(0, 255), seed: Optional[int] = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor
        self._range = _factor_range(self._who(), "factor", factor)
        if not isinstance(value_range, (list, tuple)) or len(value_range) != 2:
            raise ValueError(f"{self._who()}: value_range must be a pair (low, high). "
                             f"Received: value_range={value_range!r}")
        self.value_range = tuple(sorted(float(v) for v in value_range))

    def _augment(self, x):
        n, (low, high) = x.shape[0], self.value_range
        delta = self._generator().uniform(self._range[0], self._range[1], n) * (high - low)
        return clip(x + Tensor(delta.astype(x.dtype).reshape(n, 1, 1, 1)), low, high)

    def get_config(self) -> dict:
        return dict(super().get_config(), factor=self.factor, value_range=list(self.value_range))


class RandomCrop(_ImageAugmentation):
    """Crop to (height, width). In training, at one random position for the whole batch
    (Keras); at inference, or when the input is not larger than the target in both
    dimensions, the largest centred window of the target's aspect ratio, resized to
    (height, width) bilinearly."""

    def __init__(self, height: int, width: int, seed: Optional[int] = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if int(height) < 1 or int(width) < 1:
            raise ValueError(f"{self._who()}: height and width must be positive integers. "
                             f"Received: height={height!r}, width={width!r}")
        self.height, self.width = int(height), int(width)

    def call(self, inputs, training=False):
        x, single = self._to_nhwc(inputs)
        H, W = x.shape[1], x.shape[2]
        if training and H > self.height and W > self.width:
            rng = self._generator()
            top = int(rng.integers(0, H - self.height + 1))
            left = int(rng.integers(0, W - self.width + 1))
            y = x[:, top:top + self.height, left:left + self.width, :]
        else:
            y = smart_resize(x, self.height, self.width)
        return self._from_nhwc(y, single)

    def compute_output_shape(self, input_shape):
        s = list(input_shape)
        hw = (-3, -2) if self.data_format == "channels_last" else (-2, -1)
        s[hw[0]], s[hw[1]] = self.height, self.width
        return tuple(s)

    def get_config(self) -> dict:
        return dict(super().get_config(), height=self.height, width=self.width)
