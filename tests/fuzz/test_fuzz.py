"""The bounded fuzz run of the test suite (about 2 minutes in all, split over the kernel
paths this CPU has; EMBER_FUZZ_SECONDS sets the total) and the coverage rule: every
public function of ember._C has a fuzz spec. The long run is
``python -m tests.fuzz --minutes 10 --path all``."""
import os

import pytest

from ember import _C

from . import specs_conv_pool, specs_dense, specs_spatial  # noqa: F401 - they register the specs
from .core import SPECS
from .runner import all_names, run

TOTAL_SECONDS = float(os.environ.get("EMBER_FUZZ_SECONDS", "120"))


def test_every_binding_has_a_fuzz_spec():
    public = set(all_names())
    missing = sorted(public - set(SPECS))
    assert not missing, f"ember._C functions without a fuzz spec in tests/fuzz/: {missing}"
    stale = sorted(set(SPECS) - public)
    assert not stale, f"fuzz specs for functions ember._C no longer has: {stale}"


@pytest.mark.skipif(TOTAL_SECONDS <= 0, reason="EMBER_FUZZ_SECONDS=0")
@pytest.mark.parametrize("path", _C.kernel_paths())
def test_bounded_fuzz_run(path):
    rep = run(path, TOTAL_SECONDS / len(_C.kernel_paths()), all_names(), seed=1)
    summary = rep.table(f"kernel path {path}")
    print(summary)
    assert rep.total("tried") > 0
    assert rep.total("crash") == 0 and rep.total("wrong") == 0, summary


def test_float32_overflow_rule_of_the_reference():
    """A float64 reference past float32's range is an infinity in float32, or NaN (float32
    intermediates overflowed: inf - inf on the way, as a GRU with linear gates found);
    everything else stays exact: NaN only where the reference is NaN, infinities equal."""
    import numpy as np
    from .core import Mismatch, close
    f32 = np.float32
    close("y", np.array([np.nan, -np.inf, 1.0], f32), np.array([-1e300, -1e300, 1.0]), f32)
    for got, want in [([np.nan], [np.inf]), ([np.nan], [1.0]), ([np.inf], [-1e300]), ([1.0], [1e300])]:
        with pytest.raises(Mismatch):
            close("y", np.array(got, f32), np.array(want), f32)
    with pytest.raises(Mismatch):  # float64 results have no such excuse
        close("y", np.array([np.nan]), np.array([-1e300]), np.float64)
