"""CUDA attention forward / backward kernels, emulated, against backend.cpu."""
import numpy as np
import pytest

from ember.backend.cuda import attention as cuda_attn

from _cuda_emu_seq import DTYPES, close, cpu, dev, emulation, host, rand  # noqa: F401


def qkv(rng, B, H, Tq, Tk, D, Dv, dtype, layout):
    def shape(T, F):
        return (B, H, T, F) if layout == "bhtd" else (B, T, H, F)
    return (rand(rng, shape(Tq, D), dtype), rand(rng, shape(Tk, D), dtype), rand(rng, shape(Tk, Dv), dtype),
            rand(rng, shape(Tq, Dv), dtype))


def check(dtype, dims, mask=None, causal=False, scale=0.5, layout="bhtd", q=None, backward=True):
    rng = np.random.default_rng(7)
    qq, k, v, g = qkv(rng, *dims, dtype, layout)
    q = qq if q is None else q
    with np.errstate(invalid="ignore", over="ignore"):
        out, lse = cpu.attention_forward(q, k, v, mask, causal, scale, layout)
    dout, dlse = cuda_attn.attention_forward(dev(q), dev(k), dev(v), dev(mask), causal, scale, layout)
    close(dout, out, dtype)
    close(dlse, lse, dtype)
    if not backward:
        return
    with np.errstate(invalid="ignore", over="ignore"):
        want = cpu.attention_backward(g, q, k, v, out, lse, mask, causal, scale, layout)
    got = cuda_attn.attention_backward(dev(g), dev(q), dev(k), dev(v), dout, dlse, dev(mask), causal, scale, layout)
    for a, e in zip(got, want):
        close(a, e, dtype, norm=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["bhtd", "bthd"])
@pytest.mark.parametrize("dims", [(1, 1, 1, 1, 1, 1), (2, 3, 5, 7, 3, 2)])
def test_attention_plain(dtype, layout, dims):
    check(dtype, dims, layout=layout)


@pytest.mark.parametrize("dtype", DTYPES)
def test_attention_multiple_tiles_and_causal(dtype):
    # 67 queries: two query blocks of 64 threads; 71 keys: two key tiles
    check(dtype, (1, 1, 67, 71, 2, 3), causal=True, scale=0.7)
    check(dtype, (1, 2, 67, 5, 3, 2), causal=False, layout="bthd")


def test_attention_wide_heads_use_smaller_blocks():
    # float64 heads of 64 + 64 features: 16 queries per block (shared memory), 24 keys per tile
    check(np.float64, (1, 1, 19, 29, 64, 64), causal=True, scale=0.2)
    check(np.float64, (1, 1, 19, 29, 64, 64), scale=0.2, layout="bthd")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_attention_mask_broadcast_and_fully_masked_rows(dtype, causal):
    B, H, Tq, Tk = 2, 3, 5, 7
    mask = np.random.default_rng(2).random((B, 1, Tq, Tk)) > 0.4
    mask[0, 0, 2] = False  # a fully masked row: out 0, lse +inf, zero gradients
    check(dtype, (B, H, Tq, Tk, 3, 2), mask=mask, causal=causal)
    check(dtype, (B, H, Tq, Tk, 3, 2), mask=mask[0, 0, 3], causal=causal, layout="bthd")  # (Tk,) keys only


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [0.0, -0.75])
def test_attention_scale_not_positive(dtype, scale):
    mask = np.random.default_rng(4).random((5, 7)) > 0.3
    check(dtype, (2, 1, 5, 7, 3, 4), mask=mask, causal=True, scale=scale)


@pytest.mark.parametrize("dtype", DTYPES)
def test_attention_nan_score_row_and_masked_nan_value(dtype):
    rng = np.random.default_rng(5)
    B, H, Tq, Tk, D, Dv = 1, 2, 4, 6, 3, 2
    q = rand(rng, (B, H, Tq, D), dtype)
    q[0, 1, 2, 0] = np.nan  # this row's scores are NaN: out and lse NaN
    check(dtype, (B, H, Tq, Tk, D, Dv), q=q)
    # a NaN value behind a masked key never reaches the forward output
    mask = np.ones((Tq, Tk), bool)
    mask[:, 3] = False
    qq, k, v, _ = qkv(rng, B, H, Tq, Tk, D, Dv, dtype, "bhtd")
    v[0, 0, 3, 1] = np.nan
    out, lse = cuda_attn.attention_forward(dev(qq), dev(k), dev(v), dev(mask), False, 0.5, "bhtd")
    want, want_lse = cpu.attention_forward(qq, k, v, mask, False, 0.5, "bhtd")
    assert np.isfinite(host(out)).all()
    close(out, want, dtype)
    close(lse, want_lse, dtype)


def test_attention_empty_keys():
    q = np.ones((1, 1, 3, 2))
    k, v = np.ones((1, 1, 0, 2)), np.ones((1, 1, 0, 4))
    out, lse = cuda_attn.attention_forward(dev(q), dev(k), dev(v), None, False, 1.0)
    np.testing.assert_array_equal(host(out), np.zeros((1, 1, 3, 4)))
    assert np.isposinf(host(lse)).all()


def test_attention_errors():
    q = dev(np.ones((1, 1, 3, 2)))
    with pytest.raises(ValueError, match="layout must be"):
        cuda_attn.attention_forward(q, q, q, None, False, 1.0, "bad")
    with pytest.raises(TypeError, match="'mask' must be a bool array"):
        cuda_attn.attention_forward(q, q, q, dev(np.ones((3, 3), np.float32)), False, 1.0)
    with pytest.raises(ValueError, match="'mask' must broadcast"):
        cuda_attn.attention_forward(q, q, q, dev(np.ones((2, 3), bool)), False, 1.0)


def test_forward_bits_do_not_depend_on_the_query_block():
    """A key tile that a row does not attend leaves it bit for bit unchanged, so the number of
    queries per block (and the causal tile skipping it implies) changes no bit."""
    from ember.backend.cuda import runtime
    rng = np.random.default_rng(3)
    B, H, Tq, Tk, D, Dv, kt = 1, 2, 37, 41, 3, 2, 8
    q, k, v = (dev(rand(rng, s, np.float32)) for s in ((B, H, Tq, D), (B, H, Tk, D), (B, H, Tk, Dv)))
    xp = runtime.xp()
    fn = runtime.kernel("attention", "attention_forward_f32")
    outs = []
    for qb, grid in ((64, 2), (16, 3), (5, 1), (1, 7)):
        out, lse = xp.empty((B, H, Tq, Dv), dtype=np.float32), xp.empty((B, H, Tq), dtype=np.float32)
        args = (q, k, v, xp.zeros((1,), dtype=np.int32), out, lse, *(np.int64(a) for a in (B, H, Tq, Tk, D, Dv)),
                *(np.int64(0),) * 4, np.int32(1), np.int32(0), np.int32(0), np.float32(0.6), np.int32(kt))
        fn((grid,), (qb,), args, shared_mem=((D + Dv) * qb + kt * (qb + D + Dv)) * 4)
        outs.append((host(out), host(lse)))
    for o, l in outs[1:]:
        np.testing.assert_array_equal(o, outs[0][0])
        np.testing.assert_array_equal(l, outs[0][1])
