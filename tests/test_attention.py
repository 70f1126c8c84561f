"""Tiled scaled dot-product attention: reference, masks, gradients, edge cases."""
import numpy as np
import pytest

import ember
import ember.functional as F
from ember import _C
from ember.testing import gradcheck


def ref_attention(q, k, v, mask=None, causal=False, scale=None):
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    allowed = np.ones(s.shape, bool)
    if causal:
        allowed &= np.tril(np.ones(s.shape[-2:], bool))
    if mask is not None:
        allowed &= mask
    s = np.where(allowed, s, -np.inf)
    m = s.max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    e = np.where(allowed, np.exp(s - m), 0)
    z = e.sum(-1, keepdims=True)
    p = np.divide(e, z, out=np.zeros_like(e), where=z > 0)
    return p @ v


def ref_attention_grads(q, k, v, g, mask=None, causal=False, scale=None):
    """float64 NumPy gradients of ref_attention: (dq, dk, dv) for output gradient g."""
    q, k, v, g = (np.asarray(a, np.float64) for a in (q, k, v, g))
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    allowed = np.ones(s.shape, bool)
    if causal:
        allowed &= np.tril(np.ones(s.shape[-2:], bool))
    if mask is not None:
        allowed &= mask
    s = np.where(allowed, s, -np.inf)
    m = s.max(-1, keepdims=True)
    e = np.where(allowed, np.exp(s - np.where(np.isfinite(m), m, 0)), 0)
    z = e.sum(-1, keepdims=True)
    p = np.divide(e, z, out=np.zeros_like(e), where=z > 0)
    dv = np.swapaxes(p, -1, -2) @ g
    dp = g @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True)) * scale
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, dv


# Every kernel path this CPU can run (portable, avx2, avx512 where present), each capped in turn.
@pytest.fixture(params=_C.kernel_paths())
def path(request):
    _C.set_kernel_path(request.param)
    yield request.param
    _C.set_kernel_path("auto")


def qkv(rng, B, H, Tq, Tk, D, Dv, dt=np.float64):
    return (rng.standard_normal((B, H, Tq, D)).astype(dt), rng.standard_normal((B, H, Tk, D)).astype(dt),
            rng.standard_normal((B, H, Tk, Dv)).astype(dt))


@pytest.mark.parametrize("shape", [(1, 1, 1, 1, 1, 1), (2, 3, 67, 131, 17, 9), (1, 2, 130, 130, 64, 64),
                                   (2, 1, 5, 3, 8, 16), (1, 2, 97, 71, 40, 33)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_forward_matches_reference(path, shape, causal, masked):
    rng = np.random.default_rng(0)
    B, H, Tq, Tk, D, Dv = shape
    q, k, v = qkv(rng, *shape)
    mask = rng.random((B, 1, Tq, Tk)) > 0.3 if masked else None
    want = ref_attention(q, k, v, mask, causal)
    for dt, tol in ((np.float32, 2e-5), (np.float64, 1e-12)):
        got = F.scaled_dot_product_attention(q.astype(dt), k.astype(dt), v.astype(dt), attn_mask=mask,
                                             is_causal=causal).numpy()
        assert got.dtype == dt
        np.testing.assert_allclose(got, want, atol=tol * 10, rtol=tol)


def test_kernel_matches_naive_oracle(path):
    rng = np.random.default_rng(1)
    q, k, v = qkv(rng, 2, 2, 70, 90, 16, 8, np.float32)
    m = np.broadcast_to(rng.random((2, 1, 70, 90)) > 0.5, (2, 2, 70, 90))
    o1, l1 = _C.attention_forward(q, k, v, m, True, 0.3)
    o2, l2 = _C.attention_forward_naive(q, k, v, m, True, 0.3)
    np.testing.assert_allclose(o1, o2, atol=1e-5)
    fin = np.isfinite(l2)
    np.testing.assert_allclose(l1[fin], l2[fin], atol=1e-4)
    assert np.array_equal(np.isfinite(l1), fin)


@pytest.mark.parametrize("causal,masked", [(False, False), (True, False), (False, True), (True, True)])
def test_gradcheck(path, causal, masked):
    rng = np.random.default_rng(2)
    B, H, Tq, Tk, D, Dv = 2, 2, 5, 7, 3, 4
    if causal:
        Tk = Tq
    q, k, v = qkv(rng, B, H, Tq, Tk, D, Dv)
    mask = None
    if masked:
        mask = rng.random((B, 1, Tq, Tk)) > 0.4
        mask[0, 0, 1] = False  # one fully masked row
    gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask, is_causal=causal), [q, k, v])


def test_gradcheck_multi_block():
    rng = np.random.default_rng(3)
    q, k, v = qkv(rng, 1, 1, 70, 70, 2, 2)
    F_ = lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True)  # noqa: E731
    gradcheck(F_, [q, k, v], atol=1e-5)


def test_fully_masked_rows_give_zeros_and_finite_grads():
    rng = np.random.default_rng(4)
    q, k, v = qkv(rng, 1, 2, 4, 6, 8, 8, np.float32)
    mask = np.ones((1, 1, 4, 6), bool)
    mask[..., 2, :] = False
    ts = [ember.Tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ts, attn_mask=mask)
    assert np.all(out.numpy()[:, :, 2] == 0)
    out.sum().backward()
    for t in ts:
        assert np.all(np.isfinite(t.grad.numpy()))
    assert np.all(ts[0].grad.numpy()[:, :, 2] == 0)


def test_large_logits_and_empty_shapes():
    rng = np.random.default_rng(5)
    q, k, v = qkv(rng, 1, 1, 9, 9, 4, 4, np.float32)
    out = F.scaled_dot_product_attention(q * 1e4, k * 1e4, v, is_causal=True)
    assert np.all(np.isfinite(out.numpy()))
    for B, T in ((0, 5), (2, 0)):
        ts = [ember.Tensor(np.zeros((B, 2, T, 4), np.float32), requires_grad=True) for _ in range(3)]
        out = F.scaled_dot_product_attention(*ts, is_causal=True)
        assert out.shape == (B, 2, T, 4)
        out.sum().backward()
    q0 = ember.Tensor(np.ones((1, 1, 3, 4), np.float32))
    out = F.scaled_dot_product_attention(q0, np.zeros((1, 1, 0, 4), np.float32), np.zeros((1, 1, 0, 4), np.float32))
    assert np.all(out.numpy() == 0)


def test_three_d_inputs_and_float_mask():
    rng = np.random.default_rng(6)
    q, k, v = (rng.standard_normal((2, 5, 4)) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v).numpy()
    np.testing.assert_allclose(out, ref_attention(q, k, v), atol=1e-6)
    add = np.where(rng.random((5, 5)) > 0.5, 0.0, -np.inf)
    add[:, 0] = 0
    got = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], attn_mask=add).numpy()
    np.testing.assert_allclose(got, ref_attention(q[:, None], k[:, None], v[:, None], np.isfinite(add)), atol=1e-6)


# float32 kernels (the SIMD paths are float32 only) on shapes that leave partial register
# tiles in every direction: T and D of 1, primes, non-multiples of 16 and 32, several blocks.
F32_SHAPES = [(1, 1, 1, 1, 1, 1), (2, 3, 67, 131, 17, 9), (1, 2, 97, 71, 40, 33), (1, 1, 131, 131, 64, 48),
              (3, 1, 13, 29, 31, 47), (1, 1, 7, 5, 96, 3)]


@pytest.mark.parametrize("shape", F32_SHAPES)
@pytest.mark.parametrize("causal,masked", [(False, False), (True, False), (False, True), (True, True)])
def test_float32_forward_and_backward_match_reference(path, shape, causal, masked):
    rng = np.random.default_rng(11)
    B, H, Tq, Tk, D, Dv = shape
    q, k, v = qkv(rng, *shape, dt=np.float32)
    g = rng.standard_normal((B, H, Tq, Dv)).astype(np.float32)
    mask = None
    if masked:
        mask = rng.random((B, 1, Tq, Tk)) > 0.3
        mask[..., Tq // 2, :] = False  # a fully masked row
    scale = 0.3
    mb = None if mask is None else np.broadcast_to(mask, (B, H, Tq, Tk))
    o, lse = _C.attention_forward(q, k, v, mb, causal, scale)
    np.testing.assert_allclose(o, ref_attention(q, k, v, mask, causal, scale), atol=2e-5, rtol=2e-5)
    if masked:
        assert np.all(o[:, :, Tq // 2] == 0) and np.all(np.isinf(lse[:, :, Tq // 2]))
    got = _C.attention_backward(g, q, k, v, o, lse, mb, causal, scale)
    for a, want in zip(got, ref_attention_grads(q, k, v, g, mask, causal, scale)):
        assert a.dtype == np.float32 and np.all(np.isfinite(a))
        np.testing.assert_allclose(a, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("shape", [(2, 3, 80, 80, 16, 16), (2, 2, 97, 71, 40, 33)])
def test_thread_count_does_not_change_results(path, shape):
    rng = np.random.default_rng(7)
    q, k, v = qkv(rng, *shape, dt=np.float32)
    causal = shape[2] == shape[3]
    n = ember.get_num_threads()
    outs = []
    for t in (1, 2):
        ember.set_num_threads(t)
        o, l = _C.attention_forward(q, k, v, None, causal, 0.25)
        outs.append((o, _C.attention_backward(o, q, k, v, o, l, None, causal, 0.25)))
    ember.set_num_threads(n)
    assert np.array_equal(outs[0][0], outs[1][0])
    for a, b in zip(outs[0][1], outs[1][1]):
        assert np.array_equal(a, b)


def test_bad_inputs_raise():
    q = np.zeros((1, 2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="scaled_dot_product_attention"):
        F.scaled_dot_product_attention(q, np.zeros((1, 2, 3, 5), np.float32), q)
    with pytest.raises(ValueError, match="does not broadcast"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((2, 2), bool))
    with pytest.raises(TypeError):
        _C.attention_forward(q, q.astype(np.float64), q, None, False, 1.0)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    q, k, v = qkv(rng, 2, 2, 37, 37, 16, 16, np.float32)
    mask = rng.random((2, 1, 37, 37)) > 0.3
    mask[..., 0] = True
    ts = [ember.Tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ts, attn_mask=mask)
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    tt = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    to = torch.nn.functional.scaled_dot_product_attention(*tt, attn_mask=torch.from_numpy(mask))
    to.backward(torch.from_numpy(g))
    np.testing.assert_allclose(out.numpy(), to.detach().numpy(), atol=2e-5)
    for e, t in zip(ts, tt):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), atol=2e-4)
    tc = torch.nn.functional.scaled_dot_product_attention(*[torch.from_numpy(a) for a in (q, k, v)], is_causal=True)
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy(), tc.numpy(), atol=2e-5)


def test_bthd_layout_matches_bhtd():
    rng = np.random.default_rng(9)
    q, k, v = qkv(rng, 2, 3, 70, 66, 8, 5, np.float32)
    m = np.broadcast_to(rng.random((2, 1, 70, 66)) > 0.3, (2, 3, 70, 66))
    o, lse = _C.attention_forward(q, k, v, m, True, 0.3)
    t = lambda a: np.ascontiguousarray(a.transpose(0, 2, 1, 3))  # noqa: E731
    o2, lse2 = _C.attention_forward(t(q), t(k), t(v), m, True, 0.3, "bthd")
    np.testing.assert_array_equal(t(o), o2)
    np.testing.assert_array_equal(lse, lse2)
    g = rng.standard_normal(o.shape).astype(np.float32)
    d1 = _C.attention_backward(g, q, k, v, o, lse, m, True, 0.3)
    d2 = _C.attention_backward(t(g), t(q), t(k), t(v), o2, lse2, m, True, 0.3, "bthd")
    for a, b in zip(d1, d2):
        np.testing.assert_array_equal(t(a), b)
    with pytest.raises(ValueError, match="layout"):
        _C.attention_forward(q, k, v, None, False, 1.0, "bhdt")
