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

