"""``Masking``: marks the timesteps whose features all equal ``mask_value`` as padding."""
from __future__ import annotations

import numpy as np

from ..ops import core as C
from ..tensor import Tensor, as_array
from .base import Layer


class Masking(Layer):
    """Keras' ``Masking(mask_value=0.0)``: a timestep (the last axis holds its features) is
    masked when all its features equal ``mask_value``. The output is the input with masked
    timesteps set to zero, and it carries the mask (shape: the input's without the last
    axis) to the layers after it, as ``Embedding(mask_zero=True)`` does: LSTM / GRU /
    SimpleRNN / RNN skip those steps.

    >>> x = ember.Input(shape=(None, 3))
    >>> h = LSTM(8)(Masking(mask_value=0.0)(x))
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def _keep(self, inputs) -> np.ndarray:
        x = as_array(inputs)
        if x.ndim < 2:
            raise ValueError(f"Masking layer '{self.name}' expects inputs of rank >= 2 (batch, ..., features). "
                             f"Received: shape={tuple(x.shape)}")
        return (x != self.mask_value).any(axis=-1)

    def call(self, inputs):
        keep = self._keep(inputs)
        return C.mul(inputs, Tensor(keep[..., None].astype(inputs.dtype)))

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(super().get_config(), mask_value=self.mask_value)
