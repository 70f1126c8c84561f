"""BatchNormalization (Keras names and defaults)."""
from __future__ import annotations

from .. import _shard
from .. import functional as F
from ..ops.sync_norm import sync_batch_norm
from .base import Layer


class BatchNormalization(Layer):
    """Normalise each channel (``axis``, the last by default) with batch statistics in
    training and with moving statistics in inference:

        y = gamma * (x - mean) / sqrt(var + epsilon) + beta

    ``moving_mean`` / ``moving_variance`` are non-trainable weights updated in training as
    ``moving = momentum * moving + (1 - momentum) * batch_stat`` (Keras).

    ``synchronized=True`` (Keras' spelling; also :class:`SyncBatchNormalization`): in
    data-parallel training (``ember.distributed``) the batch statistics and the sums of
    the backward pass are those of the whole global batch, reduced over every rank; in a
    single process it is the ordinary layer.

    >>> bn = BatchNormalization()
    >>> y = bn(x, training=True)
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", synchronized: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.synchronized = bool(synchronized)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f"BatchNormalization layer '{self.name}': only one axis is supported. Received: {axis}")
            axis = axis[0]
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self._inits = (beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer)

    def build(self, input_shape) -> None:
        nd = len(input_shape)
        ax = self.axis + nd if self.axis < 0 else self.axis
        if nd < 2 or not 0 < ax < nd:
            raise ValueError(f"BatchNormalization layer '{self.name}': axis={self.axis} is invalid for an input of "
                             f"shape {tuple(input_shape)}")
        c = input_shape[ax]
        if c is None:
            raise ValueError(f"BatchNormalization layer '{self.name}': the axis {self.axis} dimension must be known. "
                             f"Received: shape={tuple(input_shape)}")
        bi, gi, mi, vi = self._inits
        self.gamma = self.add_weight("gamma", (c,), gi) if self.scale else None
        self.beta = self.add_weight("beta", (c,), bi) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", (c,), mi, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", (c,), vi, trainable=False)
        self.built = True

    def call(self, inputs, training: bool = False):
        want = self.moving_mean.shape[0]
        ax = self.axis + inputs.ndim if self.axis < 0 else self.axis
        if ax >= inputs.ndim or inputs.shape[ax] != want:
            raise ValueError(f"BatchNormalization layer '{self.name}' was built for {want} channels on axis "
                             f"{self.axis}. Received: shape={inputs.shape}")
        training = bool(training) and self.trainable
        shard = _shard.current() if training and self.synchronized else None
        if shard is not None:
            return sync_batch_norm(inputs, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                                   self.momentum, self.epsilon, self.axis, shard,
                                   name=f"BatchNormalization layer '{self.name}'")
        return F.batch_norm(inputs, self.gamma, self.beta, self.moving_mean, self.moving_variance, training,
                            self.momentum, self.epsilon, self.axis, name=f"BatchNormalization layer '{self.name}'")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center, scale=self.scale)
        if self.synchronized:
            cfg["synchronized"] = True
        return cfg


class SyncBatchNormalization(BatchNormalization):
    """``BatchNormalization(synchronized=True)``: statistics over the global batch of a
    data-parallel step (``ember.distributed``); the ordinary layer in a single process."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("synchronized", True)
        super().__init__(*args, **kwargs)
