"""LayerNormalization (fused kernel over the last axis)."""
from __future__ import annotations

from ..ops import core
from ..ops.layer_norm import layer_norm
from .base import Layer


class LayerNormalization(Layer):
    """Normalise each sample over ``axis`` (default the last): (x - mean) / sqrt(var + eps)
    * gamma + beta (Keras defaults: epsilon=1e-3, center and scale on)."""

    supports_masking = True

    def __init__(self, axis=-1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer

    def build(self, input_shape) -> None:
        nd = len(input_shape)
        ax = self.axis if isinstance(self.axis, int) else tuple(self.axis)
        axes = (ax,) if isinstance(ax, int) else ax
        self._axes = tuple(sorted(a % nd for a in axes))
        shape = tuple(input_shape[a] for a in self._axes)
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer) if self.scale else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer) if self.center else None
        self.built = True

    def call(self, inputs):
        nd = inputs.ndim
        if self._axes == (nd - 1,):
            return layer_norm(inputs, self.gamma, self.beta, self.epsilon)
        mean = core.mean(inputs, self._axes, keepdims=True)
        var = core.var(inputs, self._axes, keepdims=True)
        y = (inputs - mean) / core.sqrt(var + self.epsilon)
        bshape = [1] * nd
        for a in self._axes:
            bshape[a] = inputs.shape[a]
        if self.gamma is not None:
            y = y * core.reshape(self.gamma, bshape)
        if self.beta is not None:
            y = y + core.reshape(self.beta, bshape)
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return dict(super().get_config(), axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale)
