"""Attention layers: MultiHeadAttention (Keras signature) on the fused scaled dot-product
attention kernel; Attention (dot-product) and AdditiveAttention (Keras), composed of ops."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import backend
from .. import random as erandom
from ..ops import core, nn
from ..ops.attention import attention_bthd, attention_weights, scaled_dot_product_attention
from ..ops.dense import dense
from ..tensor import Tensor, as_bool_array, as_tensor
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
            mask = as_bool_array(attention_mask, query.data)
            if mask.ndim == 2:
                mask = mask[None]
        if q_mask is not None or v_mask is not None:
            auto = backend.xp(query.data).ones((B, Tq, Tv), dtype=bool)
            if q_mask is not None:
                auto &= as_bool_array(q_mask, query.data)[:, :, None]
            if v_mask is not None:
                auto &= as_bool_array(v_mask, query.data)[:, None, :]
            mask = auto if mask is None else (mask & auto)
        mask4 = None if mask is None else mask[:, None]
        qh = self._project(query, self.query_kernel, getattr(self, "query_bias", None))
        kh = self._project(key, self.key_kernel, getattr(self, "key_bias", None))
        vh = self._project(value, self.value_kernel, getattr(self, "value_bias", None))
        if Tq != Tv and use_causal_mask:
            # Keras aligns the causal mask to the bottom-right when lengths differ
            xp = backend.xp(query.data)
            cm = xp.tril(xp.ones((Tq, Tv), dtype=bool), Tv - Tq)
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


class _BaseDenseAttention(Layer):
    """Keras' Attention / AdditiveAttention: ``layer([query, value])`` or ``layer([query,
    value, key])``; query (B, Tq, d), value (B, Tv, dv), key (B, Tv, d) (value by default).

    scores (B, Tq, Tv) -> softmax over Tv (value positions masked out get -1e9 first) ->
    weights @ value: (B, Tq, dv). Call keywords: ``mask=[query_mask, value_mask]`` (bool
    (B, Tq) / (B, Tv), True = keep; masks carried by the inputs, from
    ``Embedding(mask_zero=True)``, are used when none is given), ``use_causal_mask``
    (query i attends to value positions j <= i), ``return_attention_scores`` (also returns
    the (B, Tq, Tv) weights), ``training`` (dropout on the weights). The output keeps the
    query's mask and is zero at masked query positions.
    """

    supports_masking = True

    def __init__(self, dropout: float = 0.0, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{type(self).__name__} layer '{self.name}': dropout must be in [0, 1). "
                             f"Received: dropout={dropout!r}")
        self.dropout = float(dropout)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def _inputs(self, inputs):
        cls = f"{type(self).__name__} layer '{self.name}'"
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            got = f"a list of {len(inputs)}" if isinstance(inputs, (list, tuple)) else type(inputs).__name__
            raise ValueError(f"{cls} must be called on a list [query, value] or [query, value, key]. Received: {got}")
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) == 3 else v
        shapes = [tuple(t.shape) for t in inputs]
        if any(len(s) != 3 for s in shapes):
            raise ValueError(f"{cls} expects 3-D query, value and key (batch, steps, features). "
                             f"Received: shapes={shapes}")
        if not (q.shape[0] == v.shape[0] == k.shape[0]) or k.shape[1] != v.shape[1]:
            raise ValueError(f"{cls}: query (B, Tq, d), value (B, Tv, dv) and key (B, Tv, d) must agree on B and Tv. "
                             f"Received: shapes={shapes}")
        if q.shape[2] != k.shape[2]:
            raise ValueError(f"{cls}: query and key must have the same feature size. "
                             f"Received: query shape={q.shape}, key shape={k.shape}")
        return q, v, k

    def _scores(self, q: Tensor, k: Tensor) -> Tensor:
        raise NotImplementedError

    def call(self, inputs, mask=None, training: bool = False, return_attention_scores: bool = False,
             use_causal_mask: bool = False):
        q, v, k = self._inputs(inputs)
        if isinstance(mask, (list, tuple)):
            if len(mask) not in (2, 3):
                raise ValueError(f"{type(self).__name__} layer '{self.name}': mask must be [query_mask, value_mask]. "
                                 f"Received: a list of {len(mask)}")
            q_mask, v_mask = mask[0], mask[1]
        else:
            q_mask, v_mask = getattr(inputs[0], "_mask", None), getattr(inputs[1], "_mask", None)
        dt = np.promote_types(q.dtype, k.dtype)
        scores = self._scores(as_tensor(q, dt), as_tensor(k, dt))
        B, Tq, Tv = scores.shape
        keep = None
        if v_mask is not None:
            vm = as_bool_array(v_mask, scores.data)
            if vm.shape != (B, Tv):
                raise ValueError(f"{type(self).__name__} layer '{self.name}': the value mask must have shape "
                                 f"{(B, Tv)}. Received: {vm.shape}")
            keep = vm[:, None, :]
        if use_causal_mask:
            xp = backend.xp(scores.data)
            causal = xp.tril(xp.ones((Tq, Tv), dtype=bool))[None]
            keep = causal if keep is None else keep & causal
        if keep is not None:
            scores = scores - Tensor((~keep).astype(scores.dtype) * scores.dtype.type(1e9))
        weights = nn.softmax(scores, -1)
        if training and self.dropout > 0:
            rng = self._rng if self._rng is not None else erandom.generator()
            kept = erandom.draw_like(weights.data, rng, "random", weights.shape) >= self.dropout
            weights = weights * Tensor(kept.astype(weights.dtype) * weights.dtype.type(1.0 / (1.0 - self.dropout)))
        out = core.matmul(weights, as_tensor(v, weights.dtype))
        if q_mask is not None:
            qm = as_bool_array(q_mask, out.data)
            if qm.shape != (B, Tq):
                raise ValueError(f"{type(self).__name__} layer '{self.name}': the query mask must have shape "
                                 f"{(B, Tq)}. Received: {qm.shape}")
            out = out * Tensor(qm[:, :, None].astype(out.dtype))
            out._mask = q_mask  # the output keeps the query's mask (also when the scores are returned)
        if return_attention_scores:
            return out, weights
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            return mask[0]
        return mask

    def compute_output_shape(self, input_shape):
        q, v = input_shape[0], input_shape[1]
        return tuple(q[:-1]) + (v[-1],)

    def get_config(self) -> dict:
        return dict(super().get_config(), dropout=self.dropout, seed=self.seed)


class Attention(_BaseDenseAttention):
    """Dot-product (Luong) attention, Keras ``Attention``: scores = query @ key^T (times a
    trainable scalar ``scale`` when ``use_scale``); ``score_mode="concat"``: scores =
    concat_score_weight * sum(tanh(scale * (query_i + key_j))) over features.

    >>> context = Attention()([decoder_states, encoder_states])
    """

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: Optional[int] = None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention layer '{self.name}': score_mode must be 'dot' or 'concat'. "
                             f"Received: score_mode={score_mode!r}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.scale = self.concat_score_weight = None

    def build(self, input_shape) -> None:
        if self.use_scale:
            self.scale = self.add_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones")
        self.built = True

    def _scores(self, q, k):
        if self.score_mode == "dot":
            s = core.matmul(q, core.swapaxes(k, 1, 2))
            return s if self.scale is None else s * self.scale
        pair = core.expand_dims(q, 2) + core.expand_dims(k, 1)  # (B, Tq, Tv, d)
        if self.scale is not None:
            pair = pair * self.scale
        return self.concat_score_weight * core.sum(core.tanh(pair), -1)

    def get_config(self) -> dict:
        return dict(super().get_config(), use_scale=self.use_scale, score_mode=self.score_mode)


class AdditiveAttention(_BaseDenseAttention):
    """Additive (Bahdanau) attention, Keras ``AdditiveAttention``: scores_ij =
    sum(scale * tanh(query_i + key_j)) over features, ``scale`` a trainable vector of the
    feature size when ``use_scale`` (the default)."""

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, seed: Optional[int] = None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = bool(use_scale)
        self.scale = None

    def build(self, input_shape) -> None:
        if self.use_scale:
            if len(input_shape) != 3 or input_shape[-1] is None:
                raise ValueError(f"AdditiveAttention layer '{self.name}' expects a 3-D query with a known feature "
                                 f"size. Received: query shape={tuple(input_shape)}")
            self.scale = self.add_weight("scale", (input_shape[-1],), "glorot_uniform")
        self.built = True

    def _scores(self, q, k):
        if self.scale is not None and q.shape[-1] != self.scale.shape[0]:
            raise ValueError(f"AdditiveAttention layer '{self.name}' was built for {self.scale.shape[0]} features. "
                             f"Received: query shape={q.shape}")
        t = core.tanh(core.expand_dims(q, 2) + core.expand_dims(k, 1))  # (B, Tq, Tv, d)
        return core.sum(t if self.scale is None else t * self.scale, -1)

    def get_config(self) -> dict:
        return dict(super().get_config(), use_scale=self.use_scale)
