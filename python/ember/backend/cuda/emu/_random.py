"""``fakecupy.random``: CuPy's random API drawing from seeded NumPy generators, returning
device arrays (module-level functions use the global ``RandomState``, as CuPy's)."""
from __future__ import annotations

import numpy as _np

from ._cupy_names import RANDOM
from .array import unwrap_call

__all__ = ["RandomState", "default_rng", "seed", "get_random_state",
           "set_random_state", "reset_states"]


class _Wrapped:
    def __init__(self, rng):
        self._rng = rng

    def __getattr__(self, name):
        attr = getattr(self._rng, name)
        if callable(attr) and not name.startswith("_"):
            return lambda *args, **kwargs: unwrap_call(attr, args, kwargs)
        return attr


class RandomState(_Wrapped):
    """cupy.random.RandomState: rand, randn, uniform, normal, randint, ... on device arrays."""

    def __init__(self, seed=None):
        super().__init__(_np.random.RandomState(seed))

    def seed(self, seed=None):
        self._rng.seed(seed)


class _Generator(_Wrapped):
    """What cupy.random.default_rng returns: random, standard_normal, integers, ... on device
    arrays (CuPy exports no Generator name; NumPy's PCG64 draws here, XORWOW on a GPU)."""

    def __init__(self, seed=None):
        if isinstance(seed, _np.random.Generator):
            raise TypeError("cupy.random.default_rng takes a seed (int) or a CuPy BitGenerator, "
                            "not a numpy.random.Generator: draw an integer seed from it")
        super().__init__(_np.random.default_rng(seed))


def default_rng(seed=None) -> _Generator:
    return _Generator(seed)


_state = RandomState()


def seed(seed=None) -> None:
    _state.seed(seed)


def get_random_state() -> RandomState:
    return _state


def set_random_state(rs: RandomState) -> None:
    global _state
    _state = rs


def reset_states() -> None:
    global _state
    _state = RandomState()


def __getattr__(name):
    if name not in RANDOM:
        raise AttributeError(f"module 'fakecupy.random' has no attribute {name!r} (neither has "
                             "cupy.random)")
    return getattr(_state, name)
