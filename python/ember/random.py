"""ember's random state: one seeded generator drives init, dropout and shuffling."""
from __future__ import annotations

import random as _pyrandom
from typing import Optional

import numpy as np

from . import _shard

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


def batch_draw(rng: np.random.Generator, method: str, shape, dtype=np.float32) -> np.ndarray:
    """``rng.<method>(shape, dtype=dtype)`` ("random" or "standard_normal") for numbers whose
    first axis is the batch. During a data-parallel step (``ember.distributed``) it draws
    the numbers of the whole global batch and keeps this rank's rows: N ranks then use
    exactly the masks one process would, and every rank's generator advances alike."""
    shard = _shard.current()
    shape = tuple(shape)
    if shard is None or not shape or shape[0] != shard.hi - shard.lo:
        return getattr(rng, method)(shape, dtype=dtype)
    full = getattr(rng, method)((shard.rows,) + shape[1:], dtype=dtype)
    return full[shard.lo:shard.hi]
