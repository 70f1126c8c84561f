"""Transformer building blocks: position encodings and the encoder block."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import backend
from ..ops import core, nn
from ..ops.dense import dense
from ..ops.layer_norm import layer_norm
from .attention import MultiHeadAttention
from ..tensor import Tensor, as_array_like, as_bool_array, as_tensor
from .base import Layer


def sinusoidal_encoding(length: int, dim: int, max_wavelength: float = 10000.0, dtype="float32") -> np.ndarray:
    """The (length, dim) sine/cosine table of "Attention is all you need" (sin on even
    features, cos on odd)."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    i = np.arange(dim)[None, :]
    angle = pos / np.power(max_wavelength, (2 * (i // 2)) / dim)
    return np.where(i % 2 == 0, np.sin(angle), np.cos(angle)).astype(dtype)


class PositionalEncoding(Layer):
    """Adds the fixed sinusoidal position encoding to (batch, time, features) inputs."""

    supports_masking = True

    def __init__(self, max_wavelength: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = float(max_wavelength)

    def get_config(self) -> dict:
        return dict(super().get_config(), max_wavelength=self.max_wavelength)

    def call(self, inputs):
        if inputs.ndim != 3:
            raise ValueError(f"PositionalEncoding expects a 3-D input (batch, time, features). Received: shape={inputs.shape}")
        table = sinusoidal_encoding(inputs.shape[1], inputs.shape[2], self.max_wavelength, inputs.dtype)
        return inputs + as_array_like(table, inputs.data)  # a host constant: copied to the input's device


class PositionEmbedding(Layer):
    """A learned position embedding (keras_hub): returns the (time, features) embeddings of
    positions 0..T-1 broadcast to the input's shape; add it to the token embeddings.

    >>> x = tok(ids); x = x + PositionEmbedding(sequence_length=128)(x)
    """

    def __init__(self, sequence_length: int, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)
        self.initializer = initializer

    def get_config(self) -> dict:
        cfg = dict(super().get_config(), sequence_length=self.sequence_length)
        if isinstance(self.initializer, str):
            cfg["initializer"] = self.initializer
        return cfg

    def build(self, input_shape) -> None:
        self.position_embeddings = self.add_weight("embeddings", (self.sequence_length, input_shape[-1]), self.initializer)
        self.built = True

    def call(self, inputs):
        T = inputs.shape[-2]
        if T > self.sequence_length:
            raise ValueError(f"PositionEmbedding: sequence of length {T} exceeds sequence_length={self.sequence_length}")
        pe = core.getitem(self.position_embeddings, slice(0, T))
        return core.broadcast_to(pe, inputs.shape)


class TransformerEncoder(Layer):
    """One Transformer encoder block (keras_hub): self-attention and a feed-forward network
    (``intermediate_dim``, alias ``ff_dim``), each with dropout, a residual connection and
    layer normalisation (after, or before with ``normalize_first`` / ``norm_first``).
    ``attention_dropout`` (default ``dropout``) drops attention probabilities; 0 keeps the
    fused attention kernel in training too.

    Call: ``block(x, padding_mask=None, attention_mask=None, use_causal_mask=False)``.
    """

    supports_masking = True

    def __init__(self, intermediate_dim: Optional[int] = None, num_heads: int = 1, dropout: float = 0.0,
                 activation="relu", layer_norm_epsilon: float = 1e-5, normalize_first: bool = False,
                 ff_dim: Optional[int] = None, norm_first: Optional[bool] = None, key_dim: Optional[int] = None,
                 kernel_initializer="glorot_uniform", attention_dropout: Optional[float] = None, **kwargs):
        super().__init__(**kwargs)
        self.intermediate_dim = int(intermediate_dim or ff_dim or 0)
        if self.intermediate_dim <= 0:
            raise ValueError("TransformerEncoder: intermediate_dim (or ff_dim) must be a positive int")
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.attention_dropout = self.dropout if attention_dropout is None else float(attention_dropout)
        self.activation = activation
        self.epsilon = float(layer_norm_epsilon)
        self.normalize_first = bool(norm_first if norm_first is not None else normalize_first)
        self.key_dim = key_dim
        self.kernel_initializer = kernel_initializer

    def get_config(self) -> dict:
        cfg = dict(super().get_config(), intermediate_dim=self.intermediate_dim, num_heads=self.num_heads,
                   dropout=self.dropout, attention_dropout=self.attention_dropout,
                   layer_norm_epsilon=self.epsilon, normalize_first=self.normalize_first, key_dim=self.key_dim)
        for k in ("activation", "kernel_initializer"):
            if isinstance(getattr(self, k), str):
                cfg[k] = getattr(self, k)
        return cfg

    def build(self, input_shape) -> None:
        d = int(input_shape[-1])
        if self.key_dim is None and d % self.num_heads:
            raise ValueError(f"TransformerEncoder: feature size {d} is not divisible by num_heads={self.num_heads}")
        self.attention = MultiHeadAttention(self.num_heads, self.key_dim or d // self.num_heads,
                                            dropout=self.attention_dropout,
                                            kernel_initializer=self.kernel_initializer, name=f"{self.name}/attention",
                                            dtype=self.dtype)
        ki = self.kernel_initializer
        self.ln1_gamma = self.add_weight("attention_norm/gamma", (d,), "ones")
        self.ln1_beta = self.add_weight("attention_norm/beta", (d,), "zeros")
        self.ln2_gamma = self.add_weight("ffn_norm/gamma", (d,), "ones")
        self.ln2_beta = self.add_weight("ffn_norm/beta", (d,), "zeros")
        self.ff1_kernel = self.add_weight("ffn1/kernel", (d, self.intermediate_dim), ki)
        self.ff1_bias = self.add_weight("ffn1/bias", (self.intermediate_dim,), "zeros")
        self.ff2_kernel = self.add_weight("ffn2/kernel", (self.intermediate_dim, d), ki)
        self.ff2_bias = self.add_weight("ffn2/bias", (d,), "zeros")
        self.built = True

    def call(self, inputs, padding_mask=None, attention_mask=None, use_causal_mask: bool = False, training=False,
             mask=None):
        x = inputs
        pm = padding_mask if padding_mask is not None else mask
        xd = x.data if isinstance(x, Tensor) else as_tensor(x).data
        am = None if attention_mask is None else as_bool_array(attention_mask, xd)
        if pm is not None:
            pm = as_bool_array(pm, xd)
            pad = pm[:, None, :] & backend.xp(xd).ones((1, x.shape[1], 1), dtype=bool)
            am = pad if am is None else (am & pad)
        h = layer_norm(x, self.ln1_gamma, self.ln1_beta, self.epsilon) if self.normalize_first else x
        a = self.attention(h, h, attention_mask=am, use_causal_mask=use_causal_mask, training=training)
        a = nn.dropout(a, self.dropout, training=training) if self.dropout else a
        x = x + a
        if not self.normalize_first:
            x = layer_norm(x, self.ln1_gamma, self.ln1_beta, self.epsilon)
        h = layer_norm(x, self.ln2_gamma, self.ln2_beta, self.epsilon) if self.normalize_first else x
        f = dense(h, self.ff1_kernel, self.ff1_bias, activation=self.activation)
        f = dense(f, self.ff2_kernel, self.ff2_bias)
        f = nn.dropout(f, self.dropout, training=training) if self.dropout else f
        x = x + f
        if not self.normalize_first:
            x = layer_norm(x, self.ln2_gamma, self.ln2_beta, self.epsilon)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
