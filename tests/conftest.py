import sys

import pytest

import ember
from ember import backend


@pytest.fixture(autouse=True)
def _seed():
    ember.set_seed(1234)
    yield


@pytest.fixture(autouse=True)
def _device_restored():
    """A test that changes the current device or the CUDA emulation flag cannot leak the
    change into the tests after it (weights would be created on the wrong device)."""
    device = backend._current
    rt = sys.modules.get("ember.backend.cuda.runtime")
    emulation = rt._emulation if rt is not None else None
    yield
    backend._current = device
    rt = sys.modules.get("ember.backend.cuda.runtime")
    if rt is not None:
        rt._emulation = emulation


@pytest.fixture
def emulated():
    """The CUDA backend emulated for this test (EmuArray device arrays, the .cu kernels run
    on the CPU); the current device is put back to the CPU after."""
    from ember.backend.cuda import runtime
    with runtime.emulation():
        try:
            yield
        finally:
            ember.set_device("cpu")
