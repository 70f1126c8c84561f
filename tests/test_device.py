"""The device API on the CPU side: set_device / get_device / EMBER_DEVICE, Tensor.device and
Tensor.to, the backend dispatch for host arrays, and that `import ember` never imports CuPy."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember import backend


def test_dispatch_on_host_arrays_is_numpy_and_the_cpu_kernels():
    a = np.zeros(3, np.float32)
    assert backend.xp(a) is np and backend.ops(a) is backend.cpu
    assert backend.xp(a, 1.0, None) is np and backend.xp() is np
    assert backend.is_array(a) and not backend.is_array([1, 2]) and not backend.is_device_array(a)
    assert backend.to_numpy(a) is a and backend.device_of(a) == "cpu"
    assert backend.to_device(a, "cpu") is a
    backend.require_host("some_op", a)  # host data: no error


def test_get_and_set_device_validate_names():
    assert ember.get_device() == "cpu"
    ember.set_device("CPU")
    assert ember.get_device() == "cpu"
    with pytest.raises(ValueError, match=r"device must be one of \('cpu', 'cuda'\).*Received: device='tpu'"):
        ember.set_device("tpu")
    with pytest.raises(ValueError, match="cuda:1"):
        ember.set_device("cuda:1")
    assert backend.check_device("gpu") == "cuda" and backend.check_device("cuda:0") == "cuda"


def test_set_device_cuda_without_a_gpu_says_what_is_missing(monkeypatch):
    runtime = pytest.importorskip("ember.backend.cuda.runtime")
    monkeypatch.setattr(runtime, "_emulation", False)
    if runtime.is_available():
        pytest.skip("a real GPU is usable here")
    with pytest.raises(RuntimeError, match="CUDA device is not available: CuPy"):
        ember.set_device("cuda")
    assert ember.get_device() == "cpu"
    assert isinstance(ember.cuda.unavailable_reason(), str) and not ember.cuda.is_available()


def test_tensor_device_and_to():
    t = ember.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    assert t.device == "cpu"
    assert t.to("cpu") is t
    with pytest.raises(ValueError, match="device must be one of"):
        t.to("metal")


def _run(code, **env):
    e = dict(os.environ)
    e.pop("EMBER_CUDA_EMULATION", None)
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=120)


def test_import_ember_does_not_import_cupy_even_with_ember_device_set():
    code = ("import sys, ember; assert 'cupy' not in sys.modules, 'cupy imported'; "
            "assert 'ember.backend.cuda' not in sys.modules; print(ember.get_device())")
    r = _run(code, EMBER_DEVICE="cuda")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "cuda"
    r = _run(code)
    assert r.returncode == 0 and r.stdout.strip() == "cpu", r.stderr


def test_ember_device_env_is_validated():
    r = _run("import ember; ember.get_device()", EMBER_DEVICE="tpu")
    assert r.returncode != 0 and "EMBER_DEVICE: device must be one of" in r.stderr
