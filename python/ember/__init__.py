"""ember: a small deep-learning library with C++ kernels and a Keras-style API.

>>> import ember
>>> from ember.layers import Dense
>>> model = ember.Sequential([Dense(8, activation="relu", input_shape=(2,)), Dense(1, activation="sigmoid")])
"""
from . import _C
from . import backend, functional, random, testing  # noqa: F401
from . import datasets  # noqa: F401
from .autograd import GradientTape, grad
from .ops.core import concatenate, stack
from .random import set_seed
from .tensor import Tensor, as_tensor, enable_grad, is_grad_enabled, no_grad
from . import initializers, regularizers, layers, losses, metrics, optimizers, callbacks, utils, models  # noqa: F401,E402
from .models import Model, Sequential  # noqa: E402
from .symbolic import Input  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Tensor", "as_tensor", "no_grad", "enable_grad", "is_grad_enabled", "grad", "GradientTape",
    "concatenate", "stack", "set_seed", "set_num_threads", "get_num_threads", "functional",
    "testing", "layers", "losses", "metrics", "optimizers", "callbacks", "utils", "models", "initializers",
    "regularizers", "Model", "Sequential", "Input",
]


def set_num_threads(n: int) -> None:
    """Set the number of threads ember's kernels use (overrides OMP_NUM_THREADS)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1. Received: {n}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads ember's kernels use."""
    return int(_C.get_num_threads())
