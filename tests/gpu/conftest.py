"""tests/gpu: CPU / GPU parity on a real NVIDIA GPU (tools/gpu_check.sh runs them on a lent
machine). Without a usable GPU every test here is skipped with the reason.

``EMBER_GPU_TESTS_EMULATE=1`` runs the same tests against the emulated CUDA backend instead
(``runtime.use_emulation(True)``: EmuArray device arrays, the .cu kernels compiled for the
host by g++), to check the tests themselves without a GPU. CI does not do that: the kernel
families' own tests (tests/test_cuda_emu_*.py) already run emulated there. An
``EMBER_CUDA_EMULATION=1`` left in the environment does not count as a GPU here.
``EMBER_GPU_TESTS_REQUIRE=1`` (tools/gpu_check.sh) makes a missing GPU an error, not a skip.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import ember

HERE = Path(__file__).resolve().parent
from gpu_env import EMULATE  # beside this file


def _runtime():
    from ember.backend.cuda import runtime
    return runtime


def skip_reason():
    """None when the tests here can run, else why not."""
    if EMULATE:
        return None if shutil.which("g++") else "EMBER_GPU_TESTS_EMULATE=1, but the CUDA emulator needs g++"
    why = ember.cuda.unavailable_reason()
    if why is None and _runtime().emulating():
        why = "only EMBER_CUDA_EMULATION is on"
    if why is None:
        return None
    return f"tests/gpu need a real GPU (EMBER_GPU_TESTS_EMULATE=1 runs them emulated): {why}"


def pytest_collection_modifyitems(config, items):
    mine = [it for it in items if HERE in Path(str(it.path)).resolve().parents]
    if not mine:
        return
    reason = skip_reason()
    if reason is not None and os.environ.get("EMBER_GPU_TESTS_REQUIRE") == "1":
        raise pytest.UsageError(f"EMBER_GPU_TESTS_REQUIRE=1, but {reason}")
    if reason is not None:
        for it in mine:
            it.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def gpu_mode():
    """The real GPU (emulation off, whatever the environment says) or, with
    EMBER_GPU_TESTS_EMULATE=1, the emulated device; the CPU is current again after."""
    rt = _runtime()
    with rt.emulation(EMULATE):
        try:
            yield
        finally:
            ember.set_device("cpu")


@pytest.fixture
def xp():
    """The device array module (cupy, or fakecupy when emulated)."""
    return _runtime().xp()


@pytest.fixture
def cuda_backend():
    import ember.backend.cuda as cuda
    return cuda


@pytest.fixture
def to_dev(xp):
    import numpy as np
    return lambda a: xp.asarray(a) if isinstance(a, np.ndarray) else a


@pytest.fixture
def to_host(xp):
    def host(a):
        assert isinstance(a, xp.ndarray), f"the CUDA backend returned a {type(a).__name__}, not a device array"
        return a.get()
    return host


@pytest.fixture
def sync():
    """Wait for the device (a no-op when emulated: each launch runs to completion)."""
    if EMULATE:
        return lambda: None
    import cupy
    return cupy.cuda.Device().synchronize
