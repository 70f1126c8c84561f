"""MultiHeadAttention (Keras signature) on the fused scaled dot-product attention kernel."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ops import core
from ..ops.attention import attention_bthd, attention_weights, scaled_dot_product_attention
from ..ops.dense import dense
from ..tensor import Tensor, as_tensor
from .base import Layer


class MultiHeadAttention(Layer):
    """Multi-head attention (Keras): project query, key and value into ``num_heads`` heads
    of ``key_dim`` (``value_dim``) features, attend, project back to the query's feature
    size (or ``output_shape``).

    Call: ``mha(query, value, key=None, attention_mask=None, use_causal_mask=False,
    return_attention_scores=False, training=None)``; query (B, Tq, dq), value (B, Tv, dv),
    attention_mask bool (B, Tq, Tv) with True = attend. Masks carried by the query / value
    tensors (from ``Embedding(mask_zero=True)``) are honoured too.

    >>> MultiHeadAttention(num_heads=4, key_dim=32)(x, x, use_causal_mask=True)
    """

    def __init__(self, num_heads: int, key_dim: int, value_dim: Optional[int] = None, dropout: float = 0.0,
                 use_bias: bool = True, output_shape=None, attention_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if int(num_heads) <= 0 or int(key_dim) <= 0:
            raise ValueError(f"MultiHeadAttention: num_heads and key_dim must be positive. Received: {num_heads}, {key_dim}")
        if attention_axes is not None:
            raise NotImplementedError("MultiHeadAttention: attention_axes is not supported (attends over axis 1)")
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim) if value_dim else self.key_dim
        self.dropout = float(dropout)
        self.use_bias = use_bias
        self._output_shape = output_shape
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def build(self, input_shape) -> None:
        pass  # weights are made on the first call, once query, key and value shapes are known

    def _build_all(self, qd: int, kd: int, vd: int) -> None:
        H, K, V = self.num_heads, self.key_dim, self.value_dim
        out = self._output_shape if self._output_shape is not None else qd
        out = int(out[-1] if isinstance(out, (tuple, list)) else out)
        self._out_dim = out
        ki, bi = self.kernel_initializer, self.bias_initializer
        self.query_kernel = self.add_weight("query/kernel", (qd, H, K), ki)
        self.key_kernel = self.add_weight("key/kernel", (kd, H, K), ki)
        self.value_kernel = self.add_weight("value/kernel", (vd, H, V), ki)
        self.output_kernel = self.add_weight("attention_output/kernel", (H, V, out), ki)
        if self.use_bias:
            self.query_bias = self.add_weight("query/bias", (H, K), bi)
            self.key_bias = self.add_weight("key/bias", (H, K), bi)
            self.value_bias = self.add_weight("value/bias", (H, V), bi)
            self.output_bias = self.add_weight("attention_output/bias", (out,), bi)
        self._mha_built = True

    def _project(self, x: Tensor, kernel: Tensor, bias) -> Tensor:
        """(B, T, d) -> (B, T, H, k) (no copy: the fused attention reads this layout)."""
        d, H, k = kernel.shape
        y = dense(x, core.reshape(kernel, (d, H * k)), None if bias is None else core.reshape(bias, (H * k,)))
        return core.reshape(y, (x.shape[0], x.shape[1], H, k))

    def __call__(self, query, value=None, key=None, attention_mask=None, use_causal_mask: bool = False,
                 return_attention_scores: bool = False, training=None, **kwargs):
        from ..symbolic import SymbolicTensor
        if isinstance(query, SymbolicTensor):
            return super().__call__(query, value, key=key, attention_mask=attention_mask,
                                    use_causal_mask=use_causal_mask, return_attention_scores=return_attention_scores,
                                    training=training, **kwargs)
        if value is None:
            raise TypeError("MultiHeadAttention: call as mha(query, value, key=None, ...); 'value' is missing")
        return self.call(query, value, key, attention_mask, use_causal_mask, return_attention_scores, bool(training))

    def call(self, query, value, key=None, attention_mask=None, use_causal_mask: bool = False,
             return_attention_scores: bool = False, training: bool = False):
        q_mask = getattr(query, "_mask", None)
        v_mask = getattr(value, "_mask", None)
        query, value = as_tensor(query, self.dtype), as_tensor(value, self.dtype)
        key = value if key is None else as_tensor(key, self.dtype)
        for nm, t in (("query", query), ("value", value), ("key", key)):
            if t.ndim != 3:
                raise ValueError(f"MultiHeadAttention expects a 3-D {nm} (batch, time, features). Received: shape={t.shape}")
        if not getattr(self, "_mha_built", False):
            self._build_all(query.shape[-1], key.shape[-1], value.shape[-1])
            self.built = True
        B, Tq, Tv = query.shape[0], query.shape[1], value.shape[1]
        mask = None
        if attention_mask is not None:
            mask = np.asarray(attention_mask.data if isinstance(attention_mask, Tensor) else attention_mask).astype(bool)
            if mask.ndim == 2:
                mask = mask[None]
        if q_mask is not None or v_mask is not None:
            auto = np.ones((B, Tq, Tv), dtype=bool)
            if q_mask is not None:
                auto &= np.asarray(q_mask, dtype=bool)[:, :, None]
            if v_mask is not None:
                auto &= np.asarray(v_mask, dtype=bool)[:, None, :]
            mask = auto if mask is None else (mask & auto)
        mask4 = None if mask is None else mask[:, None]
        qh = self._project(query, self.query_kernel, getattr(self, "query_bias", None))
        kh = self._project(key, self.key_kernel, getattr(self, "key_bias", None))
        vh = self._project(value, self.value_kernel, getattr(self, "value_bias", None))
        if Tq != Tv and use_causal_mask:
            # Keras aligns the causal mask to the bottom-right when lengths differ
            cm = np.tril(np.ones((Tq, Tv), dtype=bool), Tv - Tq)
            mask4 = cm[None, None] if mask4 is None else (mask4 & cm)
            use_causal_mask = False
        scale = 1.0 / np.sqrt(self.key_dim)
        if self.dropout and training:  # attention dropout needs the materialised probabilities
            def bhtd(t):
                return core.transpose(t, (0, 2, 1, 3))
            o = scaled_dot_product_attention(bhtd(qh), bhtd(kh), bhtd(vh), attn_mask=mask4, dropout_p=self.dropout,
                                             is_causal=use_causal_mask, scale=scale, training=True)
            o = core.transpose(o, (0, 2, 1, 3))
        else:
            o = attention_bthd(qh, kh, vh, mask4, use_causal_mask, scale)
        H, V = self.num_heads, self.value_dim
        o = core.reshape(o, (B, Tq, H * V))
        out = dense(o, core.reshape(self.output_kernel, (H * V, self._out_dim)),
                    self.output_bias if self.use_bias else None)
        if q_mask is not None:
            out._mask = q_mask
        if return_attention_scores:
            scores = attention_weights(core.transpose(qh, (0, 2, 1, 3)), core.transpose(kh, (0, 2, 1, 3)), mask4,
                                       use_causal_mask, scale)
            return out, scores
        return out

    def get_config(self) -> dict:
        return dict(super().get_config(), num_heads=self.num_heads, key_dim=self.key_dim, value_dim=self.value_dim,
                    dropout=self.dropout, use_bias=self.use_bias, output_shape=self._output_shape)
