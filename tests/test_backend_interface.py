"""Every backend implements the declared kernel interface (ember.backend.interface), function
for function with the same parameter names and defaults, and exports no public kernel function
the interface does not declare (a kernel added to one backend only is caught here)."""
import importlib
import inspect

import pytest

from ember.backend import interface
from ember.backend.interface import KERNEL_FUNCTIONS, KernelBackend


def _params(fn, drop_self=False):
    ps = list(inspect.signature(fn).parameters.values())
    if drop_self:
        ps = ps[1:]
    return [(p.name, p.kind, p.default) for p in ps]


def _public_functions(module):
    """Public functions defined in ``module`` or its submodules (not imported helpers)."""
    prefix = module.__name__
    return {n: f for n, f in vars(module).items()
            if not n.startswith("_") and inspect.isfunction(f) and f.__module__.startswith(prefix)}


def _check_backend(module):
    funcs = _public_functions(module)
    missing = [n for n in KERNEL_FUNCTIONS if not callable(vars(module).get(n))]
    assert not missing, f"{module.__name__} lacks kernel functions of the interface: {missing}"
    mismatched = [n for n in KERNEL_FUNCTIONS
                  if _params(getattr(module, n)) != _params(getattr(KernelBackend, n), drop_self=True)]
    assert not mismatched, (f"{module.__name__}: parameters differ from the interface for {mismatched}: " +
                            "; ".join(f"{n}{inspect.signature(getattr(module, n))}" for n in mismatched))
    extra = sorted(set(funcs) - set(KERNEL_FUNCTIONS) - set(getattr(module, "NON_KERNEL_API", ())))
    assert not extra, (f"{module.__name__} exports public functions the interface does not declare: {extra} "
                       "(declare them in ember/backend/interface.py or make them private)")


def test_interface_declares_the_kernel_families():
    assert len(KERNEL_FUNCTIONS) == 32  # the 30 of issue 11 + the fused conv + max pool pair (issue 13)
    for fn in ("gemm", "conv2d", "conv2d_max_pool2d_backward", "attention_forward", "lstm_backward", "adam_update", "layernorm_backward"):
        assert fn in KERNEL_FUNCTIONS
    for n in KERNEL_FUNCTIONS:
        assert getattr(KernelBackend, n).__doc__, f"interface.{n} has no docstring"


def test_cpu_backend_implements_the_interface():
    _check_backend(importlib.import_module("ember.backend.cpu"))


def test_cuda_backend_implements_the_interface():
    # importing the package loads no CuPy and needs no GPU: the check runs everywhere
    _check_backend(importlib.import_module("ember.backend.cuda"))


def test_a_kernel_missing_from_the_cuda_backend_is_a_clear_error():
    cuda = importlib.import_module("ember.backend.cuda")
    saved = vars(cuda).pop("layernorm_forward")
    try:
        with pytest.raises(NotImplementedError, match="layernorm_forward: no CUDA implementation"):
            cuda.layernorm_forward
    finally:
        cuda.layernorm_forward = saved


def test_the_check_catches_a_missing_an_extra_and_a_renamed_function():
    import types
    cpu = importlib.import_module("ember.backend.cpu")
    fake = types.ModuleType("fake_backend")
    for n in KERNEL_FUNCTIONS:
        setattr(fake, n, getattr(cpu, n))
    with pytest.raises(AssertionError, match="lacks.*gemm"):
        delattr(fake, "gemm")
        _check_backend(fake)
    fake.gemm = cpu.gemm

    def extra_kernel(x):
        return x
    extra_kernel.__module__ = "fake_backend"
    fake.extra_kernel = extra_kernel
    with pytest.raises(AssertionError, match="does not declare.*extra_kernel"):
        _check_backend(fake)
    del fake.extra_kernel

    def softmax_lastaxis(x, logarithmic=False):
        return x
    fake.softmax_lastaxis = softmax_lastaxis
    with pytest.raises(AssertionError, match="parameters differ.*softmax_lastaxis"):
        _check_backend(fake)


def test_cpu_module_satisfies_the_runtime_protocol():
    assert isinstance(importlib.import_module("ember.backend.cpu"), KernelBackend)
    assert interface.__doc__
