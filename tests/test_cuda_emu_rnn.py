"""CUDA LSTM / GRU / SimpleRNN (cuBLAS GEMMs + fused step kernels), emulated, against backend.cpu."""
import numpy as np
import pytest

from ember.backend.cuda import rnn as cuda_rnn

from _cuda_emu_seq import DTYPES, close, cpu, dev, emulation, host, rand  # noqa: F401

B, T, I, U = 3, 4, 5, 7
CASES = [  # (mask, recurrent mask, activation, recurrent activation)
    (False, False, "tanh", "sigmoid"),
    (True, True, "tanh", "sigmoid"),
    (True, False, "relu", "hard_sigmoid"),
    (False, True, "linear", "tanh"),
    (False, False, "sigmoid", "linear"),
]


def operands(dtype, gates, masked, rmasked, bias_shape, B=B, T=T):
    rng = np.random.default_rng(11)
    x = rand(rng, (B, T, I), dtype)
    W, R = rand(rng, (I, gates * U), dtype, 0.4), rand(rng, (U, gates * U), dtype, 0.4)
    b, h0 = rand(rng, bias_shape, dtype, 0.3), rand(rng, (B, U), dtype, 0.5)
    mask = rng.random((B, T)) > 0.3 if masked else None
    if masked:
        mask[1, 0] = False  # a skipped first step carries h0 / c0
    rm = ((rng.random((B, U)) > 0.25) / 0.75).astype(dtype) if rmasked else None
    dy, dh = rand(rng, (B, T, U), dtype), rand(rng, (B, U), dtype)
    return rng, x, W, R, b, h0, mask, rm, dy, dh


def same(got, want, dtype):
    assert len(got) == len(want)
    for a, e in zip(got, want):
        close(a, e, dtype, norm=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masked,rmasked,act,ract", CASES)
def test_lstm(dtype, masked, rmasked, act, ract):
    rng, x, W, R, b, h0, mask, rm, dy, dh = operands(dtype, 4, masked, rmasked, (4 * U,))
    c0, dc = rand(rng, (B, U), dtype), rand(rng, (B, U), dtype)
    fw = cpu.lstm_forward(x, W, R, b, h0, c0, mask, rm, act, ract)
    gfw = cuda_rnn.lstm_forward(*map(dev, (x, W, R, b, h0, c0, mask, rm)), act, ract)
    same(gfw, fw, dtype)
    bw = cpu.lstm_backward(dy, dh, dc, x, W, R, h0, c0, *fw, mask, rm, act, ract)
    gbw = cuda_rnn.lstm_backward(*map(dev, (dy, dh, dc, x, W, R, h0, c0)), *gfw, dev(mask), dev(rm), act, ract)
    same(gbw, bw, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masked,rmasked,act,ract", CASES)
def test_gru(dtype, masked, rmasked, act, ract):
    _, x, W, R, b, h0, mask, rm, dy, dh = operands(dtype, 3, masked, rmasked, (2, 3 * U))
    fw = cpu.gru_forward(x, W, R, b, h0, mask, rm, act, ract)
    gfw = cuda_rnn.gru_forward(*map(dev, (x, W, R, b, h0, mask, rm)), act, ract)
    same(gfw, fw, dtype)
    bw = cpu.gru_backward(dy, dh, x, W, R, h0, *fw, mask, rm, act, ract)
    gbw = cuda_rnn.gru_backward(*map(dev, (dy, dh, x, W, R, h0)), *gfw, dev(mask), dev(rm), act, ract)
    same(gbw, bw, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masked,rmasked,act,ract", CASES[:4])
def test_simple_rnn(dtype, masked, rmasked, act, ract):
    _, x, W, R, b, h0, mask, rm, dy, dh = operands(dtype, 1, masked, rmasked, (U,))
    y = cpu.simple_rnn_forward(x, W, R, b, h0, mask, act, rm)
    gy = cuda_rnn.simple_rnn_forward(*map(dev, (x, W, R, b, h0, mask)), act, dev(rm))
    close(gy, y, dtype)
    bw = cpu.simple_rnn_backward(dy, dh, x, W, R, h0, y, mask, act, rm)
    gbw = cuda_rnn.simple_rnn_backward(*map(dev, (dy, dh, x, W, R, h0)), gy, dev(mask), act, dev(rm))
    same(gbw, bw, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gru_more_steps_than_a_partial_sum_block(dtype):
    # B * T = 45 rows: the bias gradient's column sums span two 32-row partial blocks
    Bn, Tn = 5, 9
    _, x, W, R, b, h0, mask, rm, dy, dh = operands(dtype, 3, True, True, (2, 3 * U), Bn, Tn)
    fw = cpu.gru_forward(x, W, R, b, h0, mask, rm)
    gfw = cuda_rnn.gru_forward(*map(dev, (x, W, R, b, h0, mask, rm)))
    same(gfw, fw, dtype)
    same(cuda_rnn.gru_backward(*map(dev, (dy, dh, x, W, R, h0)), *gfw, dev(mask), dev(rm)),
         cpu.gru_backward(dy, dh, x, W, R, h0, *fw, mask, rm), dtype)


def test_nan_input_propagates_like_the_cpu():
    _, x, W, R, b, h0, mask, rm, dy, dh = operands(np.float64, 4, False, False, (4 * U,))
    x[0, 1, 2] = np.nan
    c0 = np.zeros((B, U))
    fw = cpu.lstm_forward(x, W, R, b, h0, c0)
    same(cuda_rnn.lstm_forward(*map(dev, (x, W, R, b, h0, c0))), fw, np.float64)


def test_empty_sequence():
    x = np.zeros((2, 0, 3))
    W, R, b, h0 = np.ones((3, 4)), np.ones((4, 4)), np.zeros(4), np.ones((2, 4))
    y = cuda_rnn.simple_rnn_forward(*map(dev, (x, W, R, b, h0)))
    assert host(y).shape == (2, 0, 4)
    dx, dW, dR, db, dh0 = cuda_rnn.simple_rnn_backward(dev(np.zeros((2, 0, 4))), dev(h0), *map(dev, (x, W, R, h0)), y)
    np.testing.assert_array_equal(host(dh0), h0)
    np.testing.assert_array_equal(host(dW), np.zeros((3, 4)))


def test_errors():
    x = dev(np.zeros((2, 3, 4)))
    W, R, b, h0 = dev(np.ones((4, 5))), dev(np.ones((5, 5))), dev(np.zeros(5)), dev(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="unsupported activation 'gelu'"):
        cuda_rnn.simple_rnn_forward(x, W, R, b, h0, None, "gelu")
    with pytest.raises(ValueError, match="'kernel' must have shape"):
        cuda_rnn.simple_rnn_forward(x, R, R, b, h0)
    with pytest.raises(TypeError, match="'mask' must be bool"):
        cuda_rnn.simple_rnn_forward(x, W, R, b, h0, dev(np.ones((2, 3), np.float64)))
