"""ember's random state: one seeded generator drives init, dropout and shuffling."""
from __future__ import annotations

import random as _pyrandom
from typing import Optional

import numpy as np

_rng = np.random.default_rng()


def set_seed(seed: Optional[int]) -> None:
    """Seed initialisation, dropout and shuffling (and Python's and NumPy's global RNGs,
    as ``keras.utils.set_random_seed`` does) so runs are reproducible."""
    global _rng
    _rng = np.random.default_rng(seed)
    if seed is not None:
        _pyrandom.seed(seed)
        np.random.seed(seed % (2 ** 32))


def generator() -> np.random.Generator:
    """The generator ember draws from."""
    return _rng
