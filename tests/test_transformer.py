"""MultiHeadAttention, position encodings, TransformerEncoder, Embedding."""
import numpy as np
import pytest

import ember
import ember.functional as F
from ember import layers
from ember.testing import gradcheck


def t64(a):
    return ember.Tensor(a, dtype="float64")


def ref_mha(m, q, v, mask=None, causal=False):
    W = {w.name.split("/", 1)[1]: w.numpy().astype(np.float64) for w in m.weights}
    qh = np.einsum("btd,dhk->bhtk", q, W["query/kernel"]) + W["query/bias"][None, :, None]
    kh = np.einsum("btd,dhk->bhtk", v, W["key/kernel"]) + W["key/bias"][None, :, None]
    vh = np.einsum("btd,dhk->bhtk", v, W["value/kernel"]) + W["value/bias"][None, :, None]
    s = qh @ np.swapaxes(kh, -1, -2) / np.sqrt(m.key_dim)
    allowed = np.ones(s.shape, bool)
    if causal:
        allowed &= np.tril(np.ones(s.shape[-2:], bool))
    if mask is not None:
        allowed &= mask[:, None]
    s = np.where(allowed, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o = p @ vh
    return np.einsum("bhtk,hko->bto", o, W["attention_output/kernel"]) + W["attention_output/bias"], p


def test_mha_matches_reference_and_keras_shapes():
    rng = np.random.default_rng(0)
    q, v = rng.standard_normal((2, 5, 6)), rng.standard_normal((2, 7, 6))
    m = layers.MultiHeadAttention(num_heads=3, key_dim=4, dtype="float64")
    mask = rng.random((2, 5, 7)) > 0.3
    mask[..., 0] = True
    out, scores = m(t64(q), t64(v), attention_mask=mask, return_attention_scores=True)
    want, p = ref_mha(m, q, v, mask)
    np.testing.assert_allclose(out.numpy(), want, atol=1e-10)
    np.testing.assert_allclose(scores.numpy(), p, atol=1e-10)
    assert m.query_kernel.shape == (6, 3, 4) and m.output_kernel.shape == (3, 4, 6)
    assert len(m.trainable_weights) == 8
    x = rng.standard_normal((2, 5, 6))
    m2 = layers.MultiHeadAttention(2, 3, value_dim=5, output_shape=9, dtype="float64")
    assert m2(t64(x), t64(x), use_causal_mask=True).shape == (2, 5, 9)
    causal = layers.MultiHeadAttention(2, 3, dtype="float64")
    got = causal(t64(x), t64(x), use_causal_mask=True).numpy()
    np.testing.assert_allclose(got, ref_mha(causal, x, x, causal=True)[0], atol=1e-10)


def test_mha_gradcheck():
    rng = np.random.default_rng(1)
    m = layers.MultiHeadAttention(2, 3, dtype="float64")
    q, v = rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 3, 5))
    m(t64(q), t64(v))
    mask = np.array([[1, 0, 1]] * 4, bool)
    gradcheck(lambda a, b: m(a, b, attention_mask=mask), [q, v])
    gradcheck(lambda a: m(a, a, use_causal_mask=True), [q])
    # weight gradients (query and key kernels passed in as the inputs)
    gradcheck(lambda wq, wk: _with_kernels(m, wq, wk, q, v), [m.query_kernel.numpy(), m.key_kernel.numpy()])


def _with_kernels(m, wq, wk, q, v):
    saved = m.query_kernel, m.key_kernel
    m.query_kernel, m.key_kernel = wq, wk
    try:
        return m(t64(q), t64(v))
    finally:
        m.query_kernel, m.key_kernel = saved


def test_mha_honours_embedding_mask_and_dropout():
    rng = np.random.default_rng(2)
    ids = rng.integers(1, 20, (2, 6))
    ids[0, 3:] = 0
    x = layers.Embedding(20, 8, mask_zero=True)(ids)
    m = layers.MultiHeadAttention(2, 4)
    out = m(x, x)
    # padded keys get no weight: changing the padded positions' values changes nothing for row 0
    x2 = ember.Tensor(x.numpy().copy())
    x2.data[0, 3:] = 5.0
    x2._mask = x._mask
    np.testing.assert_allclose(m(x2, x2).numpy()[0, :3], out.numpy()[0, :3], atol=1e-5)
    d = layers.MultiHeadAttention(2, 4, dropout=0.5)
    assert d(x, x, training=True).shape == (2, 6, 8)
    assert np.allclose(d(x, x, training=False).numpy(), d(x, x, training=False).numpy())


def test_transformer_encoder_and_positions():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    for nf in (False, True):
        enc = layers.TransformerEncoder(intermediate_dim=16, num_heads=2, norm_first=nf, dropout=0.1)
        y = enc(x, use_causal_mask=True, training=True)
        assert y.shape == x.shape
        y.sum().backward()
        assert all(w.grad is not None for w in enc.trainable_weights)
    enc = layers.TransformerEncoder(ff_dim=16, num_heads=2, dtype="float64")
    x64 = rng.standard_normal((2, 4, 6))
    gradcheck(lambda a: enc(a, use_causal_mask=True), [x64])
    # causal: the output at position t does not depend on inputs after t
    y1 = enc(t64(x64), use_causal_mask=True).numpy()
    x2 = x64.copy()
    x2[:, 3] += 1.0
    y2 = enc(t64(x2), use_causal_mask=True).numpy()
    np.testing.assert_allclose(y1[:, :3], y2[:, :3], atol=1e-12)
    pe = layers.PositionalEncoding()(np.zeros((1, 4, 6), np.float32)).numpy()[0]
    np.testing.assert_allclose(pe[:, 0], np.sin(np.arange(4)), atol=1e-6)
    np.testing.assert_allclose(pe[:, 1], np.cos(np.arange(4)), atol=1e-6)
    pos = layers.PositionEmbedding(sequence_length=10)
    assert pos(x).shape == x.shape
    with pytest.raises(ValueError, match="sequence_length"):
        pos(np.zeros((1, 11, 8), np.float32))


def test_embedding_gradient_scatter_adds():
    emb = layers.Embedding(6, 3)
    ids = np.array([[1, 1, 4], [0, 1, 5]])
    y = emb(ids)
    y.backward(np.ones(y.shape, np.float32))
    g = emb.embeddings.grad.numpy()
    np.testing.assert_allclose(g[:, 0], [1, 3, 0, 0, 1, 1])
    gradcheck(lambda t: F.embedding_lookup(t, ids), [np.random.default_rng(4).standard_normal((6, 3))])


def test_tiny_char_lm_learns():
    """A 1-layer causal Transformer memorises a short repeating string."""
    ember.set_seed(0)
    text = "hello world, " * 20
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text])
    T = 12
    tok = layers.Embedding(len(chars), 16)
    pos = layers.PositionEmbedding(T)
    enc = layers.TransformerEncoder(32, 2, norm_first=True)
    head = layers.Dense(len(chars))
    opt = ember.optimizers.Adam(1e-2)
    rng = np.random.default_rng(0)
    for step in range(60):
        s = rng.integers(0, len(data) - T - 1, 16)
        w = data[s[:, None] + np.arange(T + 1)]
        with ember.GradientTape() as tape:
            h = tok(w[:, :-1])
            h = enc(h + pos(h), use_causal_mask=True)
            loss = F.sparse_softmax_cross_entropy(head(h), w[:, 1:]).mean()
        vs = tok.trainable_weights + pos.trainable_weights + enc.trainable_weights + head.trainable_weights
        opt.apply_gradients(zip(tape.gradient(loss, vs), vs))
    assert float(loss.data) < 0.5


def test_embedding_gradient_matches_scatter_add_reference_and_empty_ids():
    rng = np.random.default_rng(8)
    table = rng.standard_normal((50, 4))
    for shape in [(3, 7), (200,), (2, 0)]:
        ids = rng.integers(0, 50, shape)
        t = ember.Tensor(table, requires_grad=True)
        y = F.embedding_lookup(t, ids)
        g = rng.standard_normal(y.shape)
        y.backward(g)
        want = np.zeros_like(table)
        np.add.at(want, ids.reshape(-1), g.reshape(-1, 4))
        np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-12, atol=1e-12)
