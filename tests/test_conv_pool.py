"""The fused conv2d + max pooling: kernel against the unfused pair on odd shapes on every
kernel path (bit-exact on integer data, where every sum is exact), NaN rules, the float64
finite-difference check of the op, binding validation, and the model-level fusion (engaged
where allowed, same results and gradients as the layers run one by one, never elsewhere)."""
import numpy as np
import pytest

import ember
from ember import _C
from ember import functional as F
from ember.layers import (Conv2D, Dense, Flatten, GlobalMaxPooling2D, Input, MaxPooling2D)
from ember.models import fusion
from ember.ops.conv import padding_amounts
from ember.ops.conv_pool import conv2d_max_pool2d
from ember.testing import check_op

# (x shape, kernel (KH, KW, OC), strides, conv pads, dilation, groups, pool, pool strides, pool pads)
GEOMETRIES = [
    ((3, 28, 28, 1), (3, 3, 32), (1, 1), (0, 0, 0, 0), (1, 1), 1, (2, 2), (2, 2), (0, 0, 0, 0)),  # the MNIST block
    ((2, 11, 13, 1), (3, 3, 16), (1, 1), (0, 0, 0, 0), (1, 1), 1, (2, 2), (2, 2), (0, 0, 0, 0)),  # odd: cells left out
    ((2, 15, 13, 1), (2, 3, 24), (2, 1), (0, 0, 0, 0), (1, 2), 1, (2, 2), (2, 2), (0, 0, 0, 0)),  # 16 + 8 channels
    ((2, 9, 10, 3), (3, 2, 8), (1, 1), (1, 1, 0, 1), (1, 1), 1, (3, 3), (3, 3), (0, 0, 0, 0)),
    ((2, 12, 9, 2), (2, 3, 40), (1, 2), (0, 0, 1, 1), (1, 1), 1, (2, 2), (2, 2), (0, 0, 0, 0)),
    ((2, 11, 9, 3), (3, 2, 5), (1, 2), (1, 0, 1, 1), (1, 1), 1, (3, 2), (2, 1), (1, 1, 0, 1)),  # overlap + padding
    ((2, 13, 12, 4), (2, 3, 8), (1, 1), (0, 0, 0, 0), (2, 1), 2, (2, 3), (2, 3), (0, 0, 0, 0)),  # groups, dilation
    ((1, 7, 7, 2), (1, 1, 16), (1, 1), (0, 0, 0, 0), (1, 1), 1, (3, 3), (1, 1), (1, 1, 1, 1)),  # 1x1: direct conv
    ((2, 6, 40, 9), (3, 3, 12), (2, 1), (1, 1, 1, 1), (1, 1), 1, (1, 4), (1, 4), (0, 0, 0, 0)),  # wide rows
]


def _ints(rng, shape, lo, hi, dt):
    return rng.integers(lo, hi + 1, size=shape).astype(dt)


def _geo(g):
    _, (KH, KW, OC), st, pads, dil, groups, pool, pst, ppads = g
    return list(st), list(pads), list(dil), groups, list(pool), list(pst), list(ppads)


def _pooled(x, w, b, g, act):
    """The unfused forward's pooled output."""
    st, pads, dil, groups, pool, pst, ppads = _geo(g)
    return _C.max_pool2d_forward(_C.conv2d_forward(x, w, b, st, pads, dil, groups, act), pool, pst, ppads)[0]


def _unfused(x, w, b, dy, g, act):
    """(y, idx, dx, dw, db) of the two kernels; idx as the fused op gives it: with the ReLU,
    -1 where the pooled output is a ReLU zero (y <= 0, not NaN), which passes no gradient."""
    st, pads, dil, groups, pool, pst, ppads = _geo(g)
    yc = _C.conv2d_forward(x, w, b, st, pads, dil, groups, act)
    y, idx = _C.max_pool2d_forward(yc, pool, pst, ppads)
    dyc = _C.max_pool2d_backward(dy, idx, list(yc.shape), pool, pst, ppads)
    grads = _C.conv2d_backward(x, w, dyc, yc if act else None, st, pads, dil, groups, act, True, True, True)
    if act:
        idx = np.where((y > 0) | np.isnan(y), idx, -1).astype(np.int32)
    return (y, idx) + tuple(grads)


def _fused(x, w, b, dy, g, act, need=(True, True, True)):
    st, pads, dil, groups, pool, pst, ppads = _geo(g)
    y, idx = _C.conv2d_max_pool2d_forward(x, w, b, st, pads, dil, groups, act, pool, pst, ppads)
    grads = _C.conv2d_max_pool2d_backward(x, w, dy, idx, st, pads, dil, groups, pool, pst, ppads, *need)
    return (y, idx) + tuple(grads)


def _operands(g, dt, rng, integer=True):
    xs, (KH, KW, OC), groups = g[0], g[1], g[5]
    wshape = (KH, KW, xs[3] // groups, OC)
    if integer:  # small integers: every sum is exact, and ReLU / pooling ties abound
        return _ints(rng, xs, -2, 2, dt), _ints(rng, wshape, -1, 1, dt), _ints(rng, (OC,), -1, 1, dt)
    return (rng.standard_normal(xs).astype(dt), rng.standard_normal(wshape).astype(dt),
            rng.standard_normal(OC).astype(dt))


@pytest.fixture(params=_C.kernel_paths())
def path(request):
    _C.set_kernel_path(request.param)
    yield request.param
    _C.set_kernel_path("auto")


@pytest.mark.parametrize("g", GEOMETRIES)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("act", [0, 1])
def test_kernel_is_the_unfused_pair_on_integer_data(g, dt, act, path):
    rng = np.random.default_rng(3)
    x, w, b = _operands(g, dt, rng)
    dy = _ints(rng, _pooled(x, w, b, g, act).shape, -3, 3, dt)
    want = _unfused(x, w, b, dy, g, act)
    got = _fused(x, w, b, dy, g, act)
    for name, a, e in zip(("y", "idx", "dx", "dw", "db"), got, want):
        np.testing.assert_array_equal(a, e, err_msg=f"{name} on {path}")


@pytest.mark.parametrize("g", GEOMETRIES[:6])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_kernel_matches_the_unfused_pair_on_random_data(g, dt, path):
    rng = np.random.default_rng(5)
    x, w, b = _operands(g, dt, rng, integer=False)
    dy = rng.standard_normal(_pooled(x, w, b, g, 1).shape).astype(dt)
    want, got = _unfused(x, w, b, dy, g, 1), _fused(x, w, b, dy, g, 1)
    tol = 2e-5 if dt == np.float32 else 1e-12
    np.testing.assert_allclose(got[0], want[0], rtol=tol, atol=tol)
    np.testing.assert_array_equal(got[1], want[1])  # no near-ties in random data
    for a, e in zip(got[2:], want[2:]):
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol * max(1.0, float(np.abs(e).max())))


def test_only_the_requested_gradients_and_the_same_bits_for_any_thread_count(path):
    g = GEOMETRIES[0]
    rng = np.random.default_rng(8)
    x, w, b = _operands(g, np.float32, rng, integer=False)
    dy = rng.standard_normal((3, 13, 13, 32)).astype(np.float32)
    old = ember._C.get_num_threads() if hasattr(ember._C, "get_num_threads") else None
    try:
        ember.set_num_threads(1)
        one = _fused(x, w, b, dy, g, 1)
        ember.set_num_threads(2)
        two = _fused(x, w, b, dy, g, 1)
    finally:
        ember.set_num_threads(old or 0)
    for a, e in zip(one, two):
        np.testing.assert_array_equal(a, e)
    part = _fused(x, w, b, dy, g, 1, need=(False, True, False))
    assert part[2] is None and part[4] is None
    np.testing.assert_array_equal(part[3], one[3])


def test_nan_and_inf_follow_the_unfused_pair(path):
    # max pooling propagates NaN (the last one of a window wins), the fused ReLU keeps NaN,
    # and a NaN pooled output passes its gradient (PyTorch's threshold_backward)
    for g in (GEOMETRIES[0], GEOMETRIES[4]):
        for dt in (np.float32, np.float64):
            rng = np.random.default_rng(11)
            x, w, b = _operands(g, dt, rng)
            x.reshape(-1)[rng.integers(0, x.size, 6)] = [np.nan, np.inf, -np.inf, np.nan, np.inf, -np.inf]
            y0 = _pooled(x, w, b, g, 1)
            assert np.isnan(y0).any()
            dy = _ints(rng, y0.shape, -3, 3, dt)
            for act in (0, 1):
                want, got = _unfused(x, w, b, dy, g, act), _fused(x, w, b, dy, g, act)
                for name, a, e in zip(("y", "idx", "dx", "dw", "db"), got, want):
                    np.testing.assert_array_equal(a, e, err_msg=f"{name}, act={act}, {path}")


@pytest.mark.parametrize("act", [None, "relu"])
@pytest.mark.parametrize("geo", [dict(strides=1, padding="valid", pool_size=2, pool_strides=None, pool_padding="valid"),
                                 dict(strides=(2, 1), padding="same", pool_size=(3, 2), pool_strides=(1, 2),
                                      pool_padding="same")])
def test_op_against_its_reference_and_finite_differences(act, geo):
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4)), rng.standard_normal(4)
    conv = dict(strides=geo["strides"], padding=geo["padding"])
    pool = dict(pool_size=geo["pool_size"], strides=geo["pool_strides"], padding=geo["pool_padding"])

    def fused(x, w, b):
        return conv2d_max_pool2d(x, w, b, activation=act, pool_size=pool["pool_size"], pool_strides=pool["strides"],
                                 pool_padding=pool["padding"], **conv)

    def reference(x, w, b):  # the two unfused ops (each checked against NumPy in test_conv / test_pool)
        return F.max_pool2d(F.conv2d(x, w, b, activation=act, **conv), **pool).numpy()
    check_op(fused, reference, [x, w, b])
    y = fused(ember.Tensor(x.astype(np.float32)), ember.Tensor(w.astype(np.float32)), b.astype(np.float32))
    assert y._op == "conv2d_max_pool2d"


def test_bindings_check_every_argument():
    f32 = np.float32
    x, w, b = np.ones((2, 6, 6, 3), f32), np.ones((3, 3, 3, 8), f32), np.ones(8, f32)
    C = ([1, 1], [0, 0, 0, 0], [1, 1], 1)
    P = ([2, 2], [2, 2], [0, 0, 0, 0])
    fwd, bwd = _C.conv2d_max_pool2d_forward, _C.conv2d_max_pool2d_backward
    y, idx = fwd(x, w, b, *C, 1, *P)
    assert y.shape == idx.shape == (2, 2, 2, 8) and idx.dtype == np.int32
    cases = [
        (lambda: fwd(x, w, b, *C, 2, *P), ValueError, r"conv2d_max_pool2d: act must be 0 .*Received: act=2"),
        (lambda: fwd(x, w, b[:4], *C, 1, *P), ValueError, r"'b' must have shape \(8,\)"),
        (lambda: fwd(x, w, b.astype(np.float64), *C, 1, *P), TypeError, r"'b' has dtype float64"),
        (lambda: fwd(x[:, ::2], w, b, *C, 1, *P), ValueError, r"'x' must be C-contiguous"),
        (lambda: fwd(x, w, b, *C, 1, [5, 5], [1, 1], [0, 0, 0, 0]), ValueError,
         r"pool window \(5, 5\) is larger than the padded input 4x4.*conv output \(2, 4, 4, 8\)"),
        (lambda: fwd(x, w, b, *C, 1, [2, 2], [0, 1], [0, 0, 0, 0]), ValueError, r"strides must be two integers >= 1"),
        (lambda: fwd(x, w, b, *C, 1, [2, 2], [2, 2], [2, 0, 0, 0]), ValueError, r"padding must be smaller"),
        (lambda: fwd(x, np.ones((3, 3, 2, 8), f32), b, *C, 1, *P), ValueError, r"expects 2 input channels"),
        (lambda: bwd(x, w, y, idx.astype(np.int64), *C, *P, True, True, True), TypeError, r"'idx' must be int32"),
        (lambda: bwd(x, w, y, idx[:1], *C, *P, True, True, True), ValueError, r"'idx' must have shape"),
        (lambda: bwd(x, w, y[:, :1], idx, *C, *P, True, True, True), ValueError, r"'dy' must have shape"),
        (lambda: bwd(x, w, y.astype(np.float64), idx, *C, *P, True, True, True), TypeError, r"'dy' has dtype"),
        (lambda: bwd(x, w, y, idx[:, ::2], *C, *P, True, True, True), ValueError, r"'idx' must have shape"),
        (lambda: bwd(x, w, y, idx, *C, [2, 2], [2, 2], [0, 0], True, True, True), ValueError, r"padding must be"),
    ]
    for call, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            call()


@pytest.mark.parametrize("P", [([2, 2], [2, 2], [0, 0, 0, 0]), ([3, 2], [1, 2], [1, 1, 0, 1])])
@pytest.mark.parametrize("C_", [8, 5])
def test_backward_rejects_an_index_outside_its_window(P, C_, path):
    x, w = np.ones((2, 7, 6, 3), np.float32), np.ones((2, 2, 3, C_), np.float32)
    C = ([1, 1], [0, 0, 0, 0], [1, 1], 1)
    y, idx = _C.conv2d_max_pool2d_forward(x, w, None, *C, 1, *P)
    for bad in (-2, 6 * 5, 2**31 - 1, -2**31, int(idx[1, 1, 1, 2]) + 5 * 100):
        i2 = idx.copy()
        i2[1, 1, 1, 2] = bad
        with pytest.raises(ValueError, match=rf"conv2d_max_pool2d_backward: 'idx' .*idx\[1, 1, 1, 2\] = {bad}\b"):
            _C.conv2d_max_pool2d_backward(x, w, y, i2, *C, *P, True, True, True)
    i2 = idx.copy()
    i2[0, 0, 0, 0] = -1  # -1 (no cell) is valid: that output passes no gradient
    _C.conv2d_max_pool2d_backward(x, w, y, i2, *C, *P, True, True, True)


# ---------------------------------------------------------------------------------------
# model-level fusion
# ---------------------------------------------------------------------------------------

def _ops(t):
    """The op names of the graph that produced t."""
    names, stack, seen = [], [t], set()
    while stack:
        u = stack.pop()
        if id(u) in seen:
            continue
        seen.add(id(u))
        names.append(getattr(u, "_op", None) or "")
        stack.extend(getattr(u, "_parents", ()))
    return names


def _fused_ops(t):
    return [n for n in _ops(t) if n.startswith("conv2d_max_pool2d")]


def _cnn(activation="relu", **conv_kw):
    ember.set_seed(4)
    m = ember.Sequential([Conv2D(8, (3, 3), activation=activation, input_shape=(12, 11, 2), **conv_kw),
                          MaxPooling2D((2, 2)), Flatten(), Dense(16, activation="relu"),
                          Dense(5, activation="softmax")])
    m.compile(optimizer="adam", loss="categorical_crossentropy")
    return m


def _data(n=48):
    rng = np.random.default_rng(9)
    return (rng.standard_normal((n, 12, 11, 2)).astype(np.float32),
            np.eye(5, dtype=np.float32)[rng.integers(0, 5, n)])


@pytest.fixture
def unfused():
    """Run the block with the fusion switched off (the layers one by one)."""
    fusion.ENABLED = False
    yield
    fusion.ENABLED = True


def _run_both(fn):
    fusion.ENABLED = True
    try:
        a = fn()
        fusion.ENABLED = False
        b = fn()
    finally:
        fusion.ENABLED = True
    return a, b


@pytest.mark.parametrize("activation", ["relu", None, "linear"])
def test_sequential_fuses_the_block_and_trains_as_the_layers_do(activation):
    x, y = _data()
    m = _cnn(activation)
    cfg, summary = m.get_config(), []
    m.summary(print_fn=summary.append)
    out = m(x[:4], training=True)
    assert len(_fused_ops(out)) == 1 and not any(n.startswith("Conv2D") or n.startswith("MaxPooling2D")
                                                 for n in _ops(out))

    def train():
        mm = _cnn(activation)
        pred = mm.predict(x, verbose=0)
        mm.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
        with ember.GradientTape() as tape:
            loss = ember.losses.categorical_crossentropy(y, mm(x, training=True)).mean() \
                if hasattr(ember.losses, "categorical_crossentropy") else mm(x, training=True).sum()
        grads = tape.gradient(loss, mm.trainable_weights)
        return pred, [w.copy() for w in mm.get_weights()], [g.numpy() for g in grads]
    (p1, w1, g1), (p2, w2, g2) = _run_both(train)
    np.testing.assert_array_equal(p1, p2)  # float32 inference: the same conv kernel, the same bits
    for a, b in zip(w1 + g1, w2 + g2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # dW summed in other blocks: rounding
    assert m.get_config() == cfg
    after = []
    m.summary(print_fn=after.append)
    assert after == summary


def test_functional_fuses_only_a_conv_output_nothing_else_reads():
    x, _ = _data(6)
    inp = Input((12, 11, 2))
    c1 = Conv2D(4, 3, activation="relu", name="c1")(inp)
    p1 = MaxPooling2D(2, name="p1")(c1)                       # fusable: c1 read by p1 only
    c2 = Conv2D(4, 2, name="c2")(p1)
    p2 = MaxPooling2D(2, strides=1, padding="same", name="p2")(c2)  # c2 also read below: not fused
    side = GlobalMaxPooling2D(name="g")(c2)
    c3 = Conv2D(3, 1, activation="relu", name="c3")(p2)
    p3 = MaxPooling2D(2, name="p3")(c3)                       # c3 is a model output: not fused
    model = ember.Model(inp, [Flatten()(p3), side, c3])
    outs = model(x, training=True)
    fused = sorted(set(n for o in outs for n in _fused_ops(o)))
    assert fused == ["conv2d_max_pool2d: Conv2D layer 'c1' + MaxPooling2D layer 'p1'"]
    ref = _run_both(lambda: [o.numpy() for o in model(x)])
    for a, b in zip(*ref):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(activation="tanh"), dict(data_format="channels_first"),
                                dict(activity_regularizer="l2")])
def test_what_the_fused_op_does_not_cover_runs_the_layers(kw):
    shape = (2, 12, 11) if kw.get("data_format") else (12, 11, 2)
    m = ember.Sequential([Conv2D(4, 3, input_shape=shape, **kw),
                          MaxPooling2D(2, data_format=kw.get("data_format")), Flatten()])
    out = m(np.ones((2,) + shape, np.float32), training=True)
    assert not _fused_ops(out)


def test_a_subclassed_conv_runs_its_own_call():
    class Doubled(Conv2D):
        def call(self, inputs):
            return super().call(inputs) * 2.0
    m = ember.Sequential([Doubled(4, 3, input_shape=(12, 11, 2)), MaxPooling2D(2), Flatten()])
    x = np.ones((2, 12, 11, 2), np.float32)
    out = m(x, training=True)
    assert not _fused_ops(out)


def test_bad_input_gets_the_layers_errors():
    m = _cnn()
    with pytest.raises(ValueError, match=r"Conv2D layer .* was built for 2 input channels"):
        m(np.ones((2, 12, 11, 3), np.float32))


def test_a_saved_model_loads_and_runs_fused(tmp_path):
    x, y = _data(16)
    m = _cnn()
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "cnn.ember")  # ember's own format (.keras needs the optional h5py)
    m.save(path)
    m2 = ember.models.load_model(path)
    assert [type(l).__name__ for l in m2.layers] == [type(l).__name__ for l in m.layers]
    out = m2(x, training=True)
    assert len(_fused_ops(out)) == 1
    np.testing.assert_array_equal(m2.predict(x, verbose=0), m.predict(x, verbose=0))


def test_padding_amounts_of_the_pool_match_the_layer():
    # the fused op pads the pooling of the conv output as MaxPooling2D does ("same": TF's split)
    assert padding_amounts("same", (5, 4), (3, 2), (2, 1)) == (1, 1, 0, 1)


def test_a_copied_functional_model_runs_its_own_layers():
    import copy
    inp = Input((12, 11, 2))
    model = ember.Model(inp, Flatten()(MaxPooling2D(2)(Conv2D(4, 3, activation="relu")(inp))))
    x, _ = _data(4)
    model(x)  # the fused pairs are found and kept
    twin = copy.deepcopy(model)
    twin.layers[1].kernel.data[...] *= -1.0
    got = twin(x, training=True)
    assert len(_fused_ops(got)) == 1
    ref = _run_both(lambda: twin(x).numpy())
    np.testing.assert_array_equal(got.numpy(), ref[1])
    assert not np.array_equal(got.numpy(), model(x).numpy())
