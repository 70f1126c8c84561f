"""Reshaping layers: Reshape, ZeroPadding2D (Flatten lives in core.py)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .. import functional as F
from .base import Layer


class Reshape(Layer):
    """Reshape everything but the batch dimension: ``Reshape((28, 28, 1))``; one entry may
    be -1 (inferred)."""

    def __init__(self, target_shape: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(s) for s in target_shape)
        if sum(1 for s in self.target_shape if s == -1) > 1 or any(s < -1 or s == 0 for s in self.target_shape):
            raise ValueError(f"Reshape layer '{self.name}': target_shape must be positive integers with at most one "
                             f"-1. Received: {target_shape!r}")

    def _resolve(self, input_shape):
        rest = input_shape[1:]
        if any(s is None for s in rest):
            return self.target_shape
        total = int(np.prod(rest)) if rest else 1
        known = int(np.prod([s for s in self.target_shape if s != -1])) if self.target_shape else 1
        if -1 in self.target_shape:
            if known == 0 or total % known:
                raise ValueError(f"Reshape layer '{self.name}': cannot reshape {tuple(rest)} into {self.target_shape}")
            return tuple(total // known if s == -1 else s for s in self.target_shape)
        if known != total:
            raise ValueError(f"Reshape layer '{self.name}': cannot reshape an input of shape {tuple(input_shape)} "
                             f"({total} values per sample) into {self.target_shape} ({known} values)")
        return self.target_shape

    def call(self, inputs):
        return F.reshape(inputs, (inputs.shape[0],) + self._resolve(inputs.shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(input_shape)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["target_shape"] = self.target_shape
        return cfg


class ZeroPadding2D(Layer):
    """Pad height and width with zeros: ``padding`` is p, (ph, pw) or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, (int, np.integer)):
            pads = ((int(padding),) * 2, (int(padding),) * 2)
        else:
            items = list(padding)
            if len(items) == 2 and all(isinstance(a, (int, np.integer)) for a in items):
                pads = ((int(items[0]),) * 2, (int(items[1]),) * 2)
            elif len(items) == 2 and all(len(a) == 2 for a in items):
                pads = tuple(tuple(int(v) for v in a) for a in items)
            else:
                raise ValueError(f"ZeroPadding2D layer '{self.name}': padding must be p, (ph, pw) or "
                                 f"((top, bottom), (left, right)). Received: {padding!r}")
        if min(min(p) for p in pads) < 0:
            raise ValueError(f"ZeroPadding2D layer '{self.name}': padding must be >= 0. Received: {padding!r}")
        self.padding = pads
        self.data_format = (data_format or "channels_last").lower()

    def get_config(self) -> dict:
        return dict(super().get_config(), padding=self.padding, data_format=self.data_format)

    def call(self, inputs):
        if inputs.ndim != 4:
            raise ValueError(f"ZeroPadding2D layer '{self.name}' expects a 4-D input. Received: shape={inputs.shape}")
        (t, b), (l, r) = self.padding
        if self.data_format == "channels_last":
            width = ((0, 0), (t, b), (l, r), (0, 0))
        else:
            width = ((0, 0), (0, 0), (t, b), (l, r))
        return F.pad(inputs, width)

    def compute_output_shape(self, input_shape):
        (t, b), (l, r) = self.padding
        s = list(input_shape)
        hi, wi = (1, 2) if self.data_format == "channels_last" else (2, 3)
        s[hi] = None if s[hi] is None else s[hi] + t + b
        s[wi] = None if s[wi] is None else s[wi] + l + r
        return tuple(s)
