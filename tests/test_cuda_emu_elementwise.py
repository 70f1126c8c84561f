"""CUDA elementwise kernels (fused bias + activation, optimizer steps), emulated, against backend.cpu."""
import numpy as np
import pytest

from _cuda_emu import *  # noqa: F401,F403  (the emulation fixture, dev/host/close, cpu)
from ember.backend.cuda import elementwise as cu

ACTS = list(cpu.FUSED_ACTIVATIONS)
SHAPES = [(1, 1), (5, 61), (71, 3)]  # 305 elements: more than one block of 256; 71 rows: 3 row blocks of db


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_b", [True, False])
def test_bias_act_forward(dtype, act, shape, with_b):
    rng = np.random.default_rng(1)
    x = rand(rng, shape, dtype, nan_at=[3])  # NaN in, NaN out for every activation
    b = rand(rng, shape[1:], dtype) if with_b else None
    want = cpu.bias_act_forward(x, b, act, 0.1)
    close(cu.bias_act_forward(dev(x), dev(b), act, 0.1), want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_act_forward_in_place(dtype):
    rng = np.random.default_rng(2)
    x = rand(rng, (7, 11), dtype)
    b = rand(rng, (11,), dtype)
    xd = dev(x)
    y = cu.bias_act_forward(xd, dev(b), "tanh", out=xd)
    assert y is xd
    close(xd, cpu.bias_act_forward(x, b, "tanh"), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("need_db", [True, False])
def test_bias_act_backward(dtype, act, shape, need_db):
    rng = np.random.default_rng(3)
    x = rand(rng, shape, dtype, nan_at=[1])
    b = rand(rng, shape[1:], dtype)
    y = cpu.bias_act_forward(x, b, act, 0.1)
    y.reshape(-1)[2 % y.size] = np.nan  # a NaN output: relu passes dy there, others NaN
    dy = rand(rng, shape, dtype, nan_at=[4])
    dx, db = cpu.bias_act_backward(dy, y, x, b, act, 0.1, need_db)
    gx, gb = cu.bias_act_backward(dev(dy), dev(y), dev(x), dev(b), act, 0.1, need_db)
    close(gx, dx, dtype)
    if need_db:
        close(gb, db, dtype)
    else:
        assert gb is None


def test_bias_act_backward_broadcast_dy_and_empty_rows():
    rng = np.random.default_rng(4)
    y = rand(rng, (6, 5), np.float32)
    dy = np.broadcast_to(rand(rng, (5,), np.float32), (6, 5))
    gx, gb = cu.bias_act_backward(runtime.xp().broadcast_to(dev(dy[0]), (6, 5)), dev(y), None, None, "sigmoid")
    dx, db = cpu.bias_act_backward(dy, y, None, None, "sigmoid")
    close(gx, dx, np.float32)
    close(gb, db, np.float32)
    e = np.zeros((0, 4), np.float64)
    gx, gb = cu.bias_act_backward(dev(e), dev(e), None, None, "relu")
    close(gb, np.zeros(4), np.float64)
    assert host(gx).shape == (0, 4)


def test_bias_act_same_bits_across_launches():
    rng = np.random.default_rng(5)
    x, b, dy = rand(rng, (71, 19), np.float32), rand(rng, (19,), np.float32), rand(rng, (71, 19), np.float32)
    y = cpu.bias_act_forward(x, b, "gelu")
    same_bits_across_launches(lambda: (cu.bias_act_forward(dev(x), dev(b), "gelu"),
                                       *cu.bias_act_backward(dev(dy), dev(y), dev(x), dev(b), "gelu", 0.0, True),
                                       cu.bias_act_backward(dev(dy), dev(y), dev(x), dev(b), "gelu", 0.0, False)[0]))


def test_bias_act_errors():
    x = dev(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="bias_act_forward.*activation"):
        cu.bias_act_forward(x, None, "swish")
    with pytest.raises(ValueError, match=r"'b' must have shape \(3,\)"):
        cu.bias_act_forward(x, dev(np.zeros(4, np.float32)), "relu")
    with pytest.raises(TypeError, match="on the GPU"):
        cu.bias_act_forward(np.zeros((2, 3), np.float32), None, "relu")
    with pytest.raises(ValueError, match="'y' is required"):
        cu.bias_act_backward(x, None, x, None, "relu")


# ---------------------------------------------------------------------------------------
# optimizer steps: every state buffer is compared after one in-place step
# ---------------------------------------------------------------------------------------

def _state(rng, name, n, dtype):
    a = rand(rng, (n,), dtype)
    return np.abs(a) if name in ("v", "vhat") else a * 0.1 if name == "avg" else a


def _step(fn_cpu, fn_cu, dtype, n, state_names, **kw):
    rng = np.random.default_rng(n)
    p = rand(rng, (n,), dtype)
    g = rand(rng, (n,), dtype, nan_at=[n // 2])  # a NaN gradient poisons its own element only
    states = {k: _state(rng, k, n, dtype) if k in state_names else None for k in kw.pop("slots")}
    dp, dg = dev(p), dev(g)
    ds = {k: dev(v) for k, v in states.items()}
    fn_cpu(p, g, *states.values(), **kw)
    fn_cu(dp, dg, *ds.values(), **kw)
    close(dp, p, dtype)
    for k, v in states.items():
        if v is not None:
            close(ds[k], v, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 37, 300])
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_sgd_update(dtype, n, momentum, nesterov, wd):
    names = ("m",) if momentum else ()
    _step(cpu.sgd_update, cu.sgd_update, dtype, n, names, slots=("m",), lr=0.1, momentum=momentum,
          nesterov=nesterov, weight_decay=wd)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 37, 300])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.004])
def test_adam_update(dtype, n, amsgrad, wd):
    names = ("m", "v", "vhat") if amsgrad else ("m", "v")
    _step(cpu.adam_update, cu.adam_update, dtype, n, names, slots=("m", "v", "vhat"), lr=0.01, lr_t=0.003,
          beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=wd)


def test_adam_amsgrad_nan_in_vhat_stays():
    p, g = np.ones(3), np.array([0.5, 0.5, 0.5])
    m, v, vh = np.zeros(3), np.zeros(3), np.array([np.nan, 0.1, 0.0])
    dp, dvh = dev(p), dev(vh)
    cu.adam_update(dp, dev(g), dev(m), dev(v), dvh, 0.01, 0.01, 0.9, 0.999, 1e-7, 0.0)
    cpu.adam_update(p, g, m, v, vh, 0.01, 0.01, 0.9, 0.999, 1e-7, 0.0)
    close(dvh, vh, np.float64)
    close(dp, p, np.float64)
    assert np.isnan(vh[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 37, 300])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.02])
def test_rmsprop_update(dtype, n, momentum, centered, wd):
    names = ("v",) + (("mom",) if momentum else ()) + (("avg",) if centered else ())
    _step(cpu.rmsprop_update, cu.rmsprop_update, dtype, n, names, slots=("v", "mom", "avg"), lr=0.01, rho=0.9,
          momentum=momentum, epsilon=1e-7, weight_decay=wd)


def test_updates_same_bits_across_launches():
    rng = np.random.default_rng(6)
    p, g, m, v = (rand(rng, (301,), np.float32) for _ in range(4))
    v = np.abs(v)

    def run():
        dp, dm, dv = dev(p), dev(m), dev(v)
        cu.adam_update(dp, dev(g), dm, dv, None, 0.01, 0.003, 0.9, 0.999, 1e-7, 0.01)
        cu.rmsprop_update(dp, dev(g), dv, dm, None, 0.01, 0.9, 0.5, 1e-7, 0.0)
        cu.sgd_update(dp, dev(g), dm, 0.1, 0.9, True, 0.01)
        return dp, dm, dv

    same_bits_across_launches(run)


def test_update_errors():
    p = dev(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="adam_update: state 'v' is required"):
        cu.adam_update(p, p, dev(np.zeros(4, np.float32)), None, None, 0.1, 0.1, 0.9, 0.99, 1e-7, 0.0)
    with pytest.raises(ValueError, match="sgd_update: 'grad' has shape"):
        cu.sgd_update(p, dev(np.zeros(5, np.float32)), None, 0.1, 0.0, False, 0.0)
    with pytest.raises(ValueError, match="rmsprop_update: state 'v'"):
        cu.rmsprop_update(p, p, dev(np.zeros(4, np.float64)), None, None, 0.1, 0.9, 0.0, 1e-7, 0.0)
    m = dev(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="same array"):
        cu.adam_update(p, p, m, m, None, 0.1, 0.1, 0.9, 0.99, 1e-7, 0.0)


def test_non_contiguous_inputs_are_made_contiguous():
    rng = np.random.default_rng(7)
    x, b = rand(rng, (9, 14), np.float64), rand(rng, (7,), np.float64)
    y = cu.bias_act_forward(dev(x)[:, ::2], dev(b), "relu")
    close(y, cpu.bias_act_forward(x[:, ::2], b, "relu"), np.float64)
    out = dev(np.zeros((7, 9)))
    assert cu.bias_act_forward(dev(x)[:, ::2].T, None, "sigmoid", out=out) is out
    close(out, cpu.bias_act_forward(x[:, ::2].T, None, "sigmoid"), np.float64)
