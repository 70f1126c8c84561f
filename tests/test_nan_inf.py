"""NaN in means NaN out, +-inf as IEEE says, masks by position: one regression test per defect
of issue 10 (D4-D8, the sum-exp precision), on every kernel path. The random property test
over every op and layer lives in test_nan_inf_property.py."""
import numpy as np
import pytest

import ember
import ember.functional as F
from ember import _C

nan, inf = np.nan, np.inf


@pytest.fixture(params=_C.kernel_paths())
def path(request):
    _C.set_kernel_path(request.param)
    yield request.param
    _C.set_kernel_path("auto")


def rows(n, first):
    """Rows of length n whose leading entries are `first` (the rest ordinary logits)."""
    r = np.linspace(-2, 2, n).astype(np.float32)
    r[: len(first)] = first
    return r


# ---- D4: the vector exp kept NaN as exp(88) -------------------------------------------
@pytest.mark.parametrize("n", [3, 8, 16, 37, 1000])
def test_softmax_and_xent_of_a_nan_logit_are_nan(path, n):
    for at in (0, n - 1, n // 2):  # in a full vector, in the tail, in the middle
        x = np.stack([rows(n, []), rows(n, [])]).astype(np.float32)
        x[1, at] = nan
        y = F.softmax(ember.Tensor(x)).numpy()
        assert np.isfinite(y[0]).all() and np.isnan(y[1]).all(), (path, n, at, y[1, :4])
        assert np.isnan(F.log_softmax(ember.Tensor(x)).numpy()[1]).all()
        loss, lse = _C.xent_forward(x, np.array([0, (at + 1) % n]), True)
        assert np.isfinite(loss[0]) and np.isnan(loss[1]) and np.isnan(lse[1]), (path, n, at, loss)
        p = np.full_like(x, 1.0 / n)
        loss, _ = _C.xent_forward(x, p)
        assert np.isfinite(loss[0]) and np.isnan(loss[1])
        g = _C.xent_backward(np.ones(2, np.float32), x, np.array([0, (at + 1) % n]), lse, True)
        assert np.isfinite(g[0]).all() and np.isnan(g[1]).all()


# ---- D5: +inf rows and all-NaN rows gave zeros (the fully masked -inf rule) -------------
@pytest.mark.parametrize("n", [5, 16, 40])
def test_softmax_rows_with_inf_or_only_nan(path, n):
    x = np.stack([rows(n, [inf]), rows(n, [nan] * n), rows(n, [-inf] * n), rows(n, [-inf] * (n - 1) + [nan]),
                  rows(n, [-inf, 1.0]), rows(n, [inf, -inf])])
    y = F.softmax(ember.Tensor(x)).numpy()
    assert np.isnan(y[0]).all() and np.isnan(y[1]).all() and np.isnan(y[3]).all() and np.isnan(y[5]).all()
    assert (y[2] == 0).all()  # fully masked: zeros, not NaN (ember's rule)
    assert y[4, 0] == 0 and np.isfinite(y[4]).all() and abs(y[4].sum() - 1) < 1e-5
    ls = F.log_softmax(ember.Tensor(x)).numpy()
    assert np.isnan(ls[[0, 1, 3, 5]]).all()  # as PyTorch: x - max gives inf - inf
    assert ls[4, 0] == -inf and np.isfinite(ls[4, 1:]).all()
    loss, lse = _C.xent_forward(x, np.full(len(x), 1), True)
    assert np.isnan(loss[[0, 1, 3, 5]]).all() and np.isfinite(loss[4])
    loss, _ = _C.xent_forward(x, np.full(x.shape, 1.0 / n, np.float32))
    assert np.isnan(loss[[0, 1, 3, 5]]).all() and loss[4] == inf  # -p * log(0) = +inf


def test_xent_with_zero_targets_keeps_nan_logits(path):
    x = np.array([[nan, 1, 2], [0, 1, 2]], np.float32)
    loss, _ = _C.xent_forward(x, np.zeros_like(x))
    assert np.isnan(loss[0]) and loss[1] == 0  # 0 * log_softmax(NaN) is NaN, as in PyTorch

