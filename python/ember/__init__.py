"""ember: a small deep-learning library with C++ kernels and a Keras-style API.

>>> import ember
>>> from ember.layers import Dense
>>> model = ember.Sequential([Dense(8, activation="relu", input_shape=(2,)), Dense(1, activation="sigmoid")])
"""
import os as _os

# OpenMP worker threads that spin long between parallel regions steal the cores from the
# threads doing the work whenever anything else runs on the machine (measured on a loaded
# 2-core machine: MNIST CNN epoch 7.6 s with 2 threads at GNU OpenMP's default spin, 1.8 s
# with a short spin). A short spin keeps quick hand-offs when the machine is idle. Read by
# libgomp when it loads (with ember._C below); the user's own settings win.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "1000"

from . import _C  # noqa: E402
from . import backend, functional, ops, random, testing  # noqa: F401
from . import cuda  # noqa: F401  (imports CuPy only when asked)
from .backend import get_device, set_device  # noqa: F401
from . import datasets  # noqa: F401
from .autograd import GradientTape, grad
from .ops.core import concatenate, stack
from .random import set_seed
from .tensor import Tensor, as_tensor, enable_grad, is_grad_enabled, no_grad
from . import initializers, regularizers, layers, losses, metrics, optimizers, callbacks, utils, models  # noqa: F401,E402
from .models import Model, Sequential  # noqa: E402
from .layers.core import Input  # noqa: E402
from . import distributed  # noqa: F401,E402  (mpi4py is imported only when MPI is first used)

from ._version import __version__  # noqa: E402

__all__ = [
    "Tensor", "as_tensor", "no_grad", "enable_grad", "is_grad_enabled", "grad", "GradientTape",
    "concatenate", "stack", "set_seed", "set_num_threads", "get_num_threads", "functional", "ops", "random",
    "testing", "layers", "losses", "metrics", "optimizers", "callbacks", "utils", "models", "initializers",
    "regularizers", "distributed", "Model", "Sequential", "Input", "set_device", "get_device", "cuda",
]


def set_num_threads(n: int) -> None:
    """Set the number of threads ember's kernels use (overrides OMP_NUM_THREADS).

    ``n`` is between 1 and ``ember._C.max_threads()`` (the larger of 1024 and the logical
    CPUs): more threads than CPUs never speed the kernels up, and OpenMP aborts the process
    when it cannot create a team."""
    n = int(n)
    if n < 1 or n > _C.max_threads():
        raise ValueError(f"set_num_threads: n must be between 1 and {_C.max_threads()}. Received: {n}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads ember's kernels use."""
    return int(_C.get_num_threads())
