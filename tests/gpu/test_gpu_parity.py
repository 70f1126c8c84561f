"""CPU / GPU parity on a real NVIDIA GPU (CuPy): every kernel of the backend interface on
odd shapes (float64 to 1e-10 relative, float32 to 1e-4), a few ops through autograd, and a
short training run of the seed CNN. Skipped, with the reason, where no GPU is usable; run
by tools/gpu_check.sh on a lent machine."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.backend import cpu

runtime = pytest.importorskip("ember.backend.cuda.runtime", reason="the CUDA backend is not installed")
if runtime.emulating():
    pytest.skip("EMBER_CUDA_EMULATION is on: these tests need the real GPU", allow_module_level=True)
_why = runtime.unavailable_reason()
if _why is not None:
    pytest.skip(f"no usable GPU: {_why}", allow_module_level=True)

import cupy  # noqa: E402

import kernel_cases  # noqa: E402  (beside this file)
from training_run import seed_cnn_run  # noqa: E402


@pytest.fixture
def cuda():
    import ember.backend.cuda as cuda_backend
    yield cuda_backend
    ember.set_device("cpu")


def _dev(a):
    return cupy.asarray(a) if isinstance(a, np.ndarray) else a


def _host(a):
    assert isinstance(a, cupy.ndarray), f"the CUDA backend returned a {type(a).__name__}, not a device array"
    return cupy.asnumpy(a)


@pytest.mark.parametrize("case", sorted(kernel_cases.CASES))
@pytest.mark.parametrize("dtype,rtol,atol", [(np.float64, 1e-10, 1e-12), (np.float32, 1e-4, 1e-5)])
def test_every_kernel_matches_the_cpu(cuda, case, dtype, rtol, atol):
    kernel_cases.check_case(case, dtype, cpu, cuda, _dev, _host, rtol, atol)


def test_ops_and_gradients_match_through_autograd(cuda):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7, 9))
    w = rng.standard_normal((9, 4))
    grads = {}
    for dev in ("cpu", "cuda"):
        ember.set_device(dev)
        xl, wl = ember.Tensor(x, requires_grad=True), ember.Tensor(w, requires_grad=True)  # host leaves
        y = ember.functional.dense(xl.to(dev), wl.to(dev), activation="gelu")
        loss = (ember.functional.log_softmax(y) * y).sum() + ember.functional.layer_norm(y).mean()
        assert loss.device == dev
        loss.backward()  # the gradients come back through Tensor.to to the host leaves
        grads[dev] = (float(loss), xl.grad.numpy(), wl.grad.numpy())
    assert grads["cuda"][0] == pytest.approx(grads["cpu"][0], rel=1e-10)
    for i in (1, 2):
        np.testing.assert_allclose(grads["cuda"][i], grads["cpu"][i], rtol=1e-10, atol=1e-12)


def test_seed_cnn_training_run_matches_the_cpu(cuda):
    seed_cnn_run()
