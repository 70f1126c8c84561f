"""Deterministic image preprocessing layers (Keras 3 names, arguments and configs):
Resizing and CenterCrop. Active at training and inference alike; written with
differentiable ops (slices, padding, interpolation matrices), so gradients reach the input.
"""
from __future__ import annotations

from typing import Optional

from ..ops.core import pad
from .augmentation import _ImageAugmentation
from .image_transform import resize, smart_resize


class _FixedSize(_ImageAugmentation):
    """A target (height, width) and the shape arithmetic of layers that produce it."""

    def __init__(self, height: int, width: int, data_format: Optional[str] = None, **kwargs):
        super().__init__(seed=None, data_format=data_format, **kwargs)
        if int(height) < 1 or int(width) < 1:
            raise ValueError(f"{self._who()}: height and width must be positive integers. "
                             f"Received: height={height!r}, width={width!r}")
        self.height, self.width = int(height), int(width)

    def call(self, inputs):
        x, single = self._to_nhwc(inputs)
        return self._from_nhwc(self._apply(x), single)

    def compute_output_shape(self, input_shape):
        s = list(input_shape)
        hw = (-3, -2) if self.data_format == "channels_last" else (-2, -1)
        s[hw[0]], s[hw[1]] = self.height, self.width
        return tuple(s)

    def get_config(self) -> dict:
        cfg = dict(super().get_config(), height=self.height, width=self.width)
        del cfg["seed"]
        return cfg


class Resizing(_FixedSize):
    """Resize images to (height, width) ("bilinear" or "nearest", half-pixel centres, no
    antialiasing). ``crop_to_aspect_ratio`` first takes the largest centred window of the
    target's aspect ratio; ``pad_to_aspect_ratio`` instead pads (centred, ``fill_value``)."""

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", crop_to_aspect_ratio: bool = False,
                 pad_to_aspect_ratio: bool = False, fill_mode: str = "constant", fill_value: float = 0.0,
                 antialias: bool = False, data_format: Optional[str] = None, **kwargs):
        super().__init__(height, width, data_format, **kwargs)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"{self._who()}: interpolation must be 'bilinear' or 'nearest'. "
                             f"Received: interpolation={interpolation!r}")
        if antialias or fill_mode != "constant" or (crop_to_aspect_ratio and pad_to_aspect_ratio):
            raise ValueError(f"{self._who()}: supported are antialias=False, fill_mode='constant', and at most one of "
                             f"crop_to_aspect_ratio / pad_to_aspect_ratio. Received: antialias={antialias}, "
                             f"fill_mode={fill_mode!r}, crop_to_aspect_ratio={crop_to_aspect_ratio}, "
                             f"pad_to_aspect_ratio={pad_to_aspect_ratio}")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = bool(crop_to_aspect_ratio), bool(pad_to_aspect_ratio)
        self.fill_mode, self.fill_value = fill_mode, float(fill_value)

    def _apply(self, x):
        if self.crop_to_aspect_ratio:
            return smart_resize(x, self.height, self.width, self.interpolation)
        if self.pad_to_aspect_ratio:
            H, W = x.shape[1], x.shape[2]
            ph = max(H, int(W * self.height / self.width))
            pw = max(W, int(H * self.width / self.height))
            top, left = (ph - H) // 2, (pw - W) // 2
            x = pad(x, ((0, 0), (top, ph - H - top), (left, pw - W - left), (0, 0)), value=self.fill_value)
        return resize(x, self.height, self.width, self.interpolation)

    def get_config(self) -> dict:
        return dict(super().get_config(), interpolation=self.interpolation,
                    crop_to_aspect_ratio=self.crop_to_aspect_ratio, pad_to_aspect_ratio=self.pad_to_aspect_ratio,
                    fill_mode=self.fill_mode, fill_value=self.fill_value)


class CenterCrop(_FixedSize):
    """Crop the central (height, width) window; an input smaller than that in either
    dimension is resized instead (the largest centred window of the target's aspect ratio,
    bilinear), as Keras does."""

    def _apply(self, x):
        H, W = x.shape[1], x.shape[2]
        if H < self.height or W < self.width:
            return smart_resize(x, self.height, self.width)
        top, left = (H - self.height) // 2, (W - self.width) // 2
        return x[:, top:top + self.height, left:left + self.width, :]
