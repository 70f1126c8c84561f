"""CUDA softmax / log-softmax / fused cross-entropy kernels, emulated, against backend.cpu."""
import numpy as np
import pytest

from ember.backend.cuda import softmax as cuda_sm

from _cuda_emu_seq import DTYPES, close, cpu, dev, emulation, host, rand  # noqa: F401

# 131 > the 128 reduction lanes; 1 and primes elsewhere
SHAPES = [(1, 1), (3, 7), (2, 131), (17,), (2, 3, 5)]


def special_rows(dtype):
    """Rows covering the CPU's rules: finite, fully masked (-inf only), NaN, +inf, partly masked."""
    x = np.random.default_rng(3).standard_normal((6, 9)).astype(dtype) * 3
    x[1] = -np.inf
    x[2, 4] = np.nan
    x[3, 2] = np.inf
    x[4, ::2] = -np.inf
    x[5, 1] = np.nan
    x[5, 2:] = -np.inf
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_forward_backward(dtype, shape, log):
    rng = np.random.default_rng(0)
    x, dy = rand(rng, shape, dtype, 4), rand(rng, shape, dtype)
    y = cpu.softmax_lastaxis(x, log=log)
    yd = cuda_sm.softmax_lastaxis(dev(x), log=log)
    close(yd, y, dtype)
    close(cuda_sm.softmax_lastaxis_backward(yd, dev(dy), log=log), cpu.softmax_lastaxis_backward(y, dy, log=log),
          dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_nan_inf_and_masked_rows(dtype, log):
    x = special_rows(dtype)
    with np.errstate(invalid="ignore"):
        want = cpu.softmax_lastaxis(x, log=log)
    close(cuda_sm.softmax_lastaxis(dev(x), log=log), want, dtype)


def test_softmax_empty_rows():
    x = np.zeros((0, 5), np.float32)
    assert host(cuda_sm.softmax_lastaxis(dev(x))).shape == (0, 5)


def _labels(rng, shape, dtype, sparse):
    rows_shape, n = shape[:-1], shape[-1]
    if sparse:
        return rng.integers(0, n, size=rows_shape).astype(np.int64)
    p = rng.random(shape).astype(dtype)
    return p / p.sum(-1, keepdims=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 131), (2, 3, 5)])
@pytest.mark.parametrize("sparse", [False, True])
def test_xent_forward_backward(dtype, shape, sparse):
    rng = np.random.default_rng(1)
    x = rand(rng, shape, dtype, 3)
    lab = _labels(rng, shape, dtype, sparse)
    dloss = rand(rng, shape[:-1], dtype)
    loss, lse = cpu.xent_forward(x, lab, sparse)
    dl, dlse = cuda_sm.xent_forward(dev(x), dev(lab), sparse)
    close(dl, loss, dtype)
    close(dlse, lse, dtype)
    close(cuda_sm.xent_backward(dev(dloss), dev(x), dev(lab), dlse, sparse),
          cpu.xent_backward(dloss, x, lab, lse, sparse), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_xent_special_rows(dtype):
    x = special_rows(dtype)
    p = np.zeros_like(x)
    p[0, 3] = p[2, 0] = p[3, 5] = p[4, 1] = 1  # row 4: the target on a finite logit
    p[4, 1] = 0.5
    p[4, 3] = 0.5
    # row 1 (fully masked) and row 5 keep no target mass: 0 loss unless the row is NaN
    lab = np.array([3, 0, 0, 5, 1, 1], np.int64)
    with np.errstate(invalid="ignore", over="ignore"):
        for labels, sparse in ((p, False), (lab, True)):
            loss, lse = cpu.xent_forward(x, labels, sparse)
            dl, dlse = cuda_sm.xent_forward(dev(x), dev(labels), sparse)
            close(dl, loss, dtype)
            close(dlse, lse, dtype)
            g = np.ones(6, dtype)
            close(cuda_sm.xent_backward(dev(g), dev(x), dev(labels), dlse, sparse),
                  cpu.xent_backward(g, x, labels, lse, sparse), dtype)


def test_xent_masked_class_with_zero_target():
    """A -inf logit with a zero target adds nothing (ember's masked-class rule), as on the CPU."""
    x = np.array([[1.0, -np.inf, 2.0]])
    p = np.array([[0.25, 0.0, 0.75]])
    loss, _ = cpu.xent_forward(x, p, False)
    close(cuda_sm.xent_forward(dev(x), dev(p), False)[0], loss, np.float64)
    assert np.isfinite(loss).all()


def test_sparse_label_out_of_range_is_an_error():
    x = dev(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"label 4 at row 1 is outside \[0, 4\)"):
        cuda_sm.xent_forward(x, dev(np.array([0, 4, 1], np.int64)), True)
    with pytest.raises(ValueError, match="label -1"):
        cuda_sm.xent_backward(dev(np.ones(3, np.float32)), x, dev(np.array([0, 1, -1], np.int64)),
                              dev(np.zeros(3, np.float32)), True)


def test_integer_logits_are_refused():
    with pytest.raises(TypeError, match="float32 or float64"):
        cuda_sm.softmax_lastaxis(dev(np.zeros((2, 3), np.int32)))


@pytest.mark.parametrize("log", [0, 1])
def test_row_kernels_give_the_same_bits_for_any_launch(log):
    """Each row's reductions go through fixed lanes: block and grid sizes change no bit."""
    from ember.backend.cuda import runtime
    x = dev(np.random.default_rng(9).standard_normal((5, 300)).astype(np.float32) * 5)
    xp = runtime.xp()
    fn = runtime.kernel("softmax", "softmax_forward_f32")
    outs = []
    for grid, block in ((5, 128), (2, 32), (1, 256), (3, 1)):
        y = xp.empty((5, 300), dtype=np.float32)
        fn((grid,), (block,), (x, y, np.int64(5), np.int64(300), np.int32(log)), shared_mem=0)
        outs.append(host(y))
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
