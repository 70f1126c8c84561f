"""ember: a small deep-learning library with C++ kernels and a Keras-style API."""
from . import _C

__version__ = "0.1.0"


def set_num_threads(n: int) -> None:
    """Set the number of threads ember's kernels use (overrides OMP_NUM_THREADS)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1. Received: {n}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads ember's kernels use."""
    return int(_C.get_num_threads())
