"""ember's random state and ``keras.random``'s functions.

One seeded generator drives initialisation, dropout and shuffling (``ember.set_seed``).
The Keras-style draws (``normal``, ``uniform``, ``dropout`` ...) take ``seed`` as Keras 3
does: ``None`` draws from that global generator; an ``int`` is stateless (the same
numbers at every call); a :class:`SeedGenerator` gives new numbers at every call,
reproducibly from its seed.

This module sits below the ops (it imports only ``tensor``): ``ops.nn.dropout`` uses the
dropout defined here.
"""
from __future__ import annotations

import numbers
import random as _pyrandom
from typing import Optional, Sequence, Union

import numpy as np

from . import _shard, backend
from .tensor import Tensor, as_tensor, make_op

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


def draw_like(like, rng: np.random.Generator, method: str, shape, dtype=np.float32, batch: bool = True):
    """Random numbers ("random" or "standard_normal") for an op on ``like`` (an array), on
    its device. On the CPU: drawn from ``rng`` exactly as always (through :func:`batch_draw`
    when axis 0 is the batch). On a GPU: drawn on the device by a device generator seeded
    from ``rng`` (one integer, taken when that host generator is first used for the device),
    so ``ember.set_seed`` and layer seeds make GPU runs reproducible too, and no mask is
    copied from the host."""
    if isinstance(like, np.ndarray):
        return batch_draw(rng, method, shape, dtype) if batch else getattr(rng, method)(tuple(shape), dtype=dtype)
    return getattr(_device_generator(rng, backend.xp(like)), method)(tuple(shape), dtype=dtype)


# host generator id -> (host generator, its device generator, array module): the global and
# the layers' generators live long; per-call generators (int seeds) make new entries, bounded
_DEVICE_GENERATORS: dict = {}


def _device_generator(rng: np.random.Generator, xp):
    ent = _DEVICE_GENERATORS.get(id(rng))
    if ent is None or ent[0] is not rng or ent[2] is not xp:
        if len(_DEVICE_GENERATORS) >= 64:
            _DEVICE_GENERATORS.clear()
        ent = (rng, xp.random.default_rng(int(rng.integers(0, 2 ** 63 - 1))), xp)
        _DEVICE_GENERATORS[id(rng)] = ent
    return ent[1]


# ---------------------------------------------------------------------------------------
# seeds
# ---------------------------------------------------------------------------------------

class SeedGenerator:
    """A stateful seed for the random functions (``keras.random.SeedGenerator``): each
    draw through it gives new numbers, and two generators built with one seed give the
    same sequence. ``seed=None`` takes a seed from ember's global generator (so
    ``ember.set_seed`` makes it reproducible).

    >>> gen = ember.random.SeedGenerator(42)
    >>> a = ember.random.normal((2, 3), seed=gen)
    >>> b = ember.random.normal((2, 3), seed=gen)   # different from a
    """

    def __init__(self, seed: Optional[int] = None, name: Optional[str] = None, **kwargs):
        if kwargs:
            raise ValueError(f"SeedGenerator: unrecognized keyword arguments. Received: {sorted(kwargs)}")
        if seed is None:
            seed = int(_rng.integers(1, 10 ** 9))
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
            raise ValueError(f"SeedGenerator: seed must be an integer. Received: seed={seed!r}")
        self.name = name
        self._initial_seed = int(seed)
        # (seed, counter) as in Keras; a plain array so it saves and restores like weights
        self.state = np.array([int(seed), 0], dtype=np.int64)

    def next(self) -> np.ndarray:
        """The current (seed, counter) pair; advances the counter."""
        out = self.state.copy()
        self.state[1] += 1
        return out

    def get_config(self) -> dict:
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "SeedGenerator":
        return cls(**config)

    def __repr__(self) -> str:
        return f"SeedGenerator(seed={self._initial_seed}, state={self.state.tolist()})"


SeedLike = Union[None, int, SeedGenerator]


def rng_from_seed(seed: SeedLike, op: str = "random") -> np.random.Generator:
    """The generator a draw with ``seed`` uses: the global one for None, a fresh one from
    ``(seed, 0)`` for an int (stateless), the next state of a SeedGenerator."""
    if seed is None:
        return _rng
    if isinstance(seed, SeedGenerator):
        return np.random.default_rng([int(v) for v in seed.next()])
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"{op}: seed must be a non-negative integer. Received: seed={seed}")
        return np.random.default_rng([int(seed), 0])
    raise ValueError(f"{op}: seed must be None, an integer or a SeedGenerator. Received: seed={seed!r}")


def _shape(shape, op: str):
    try:
        out = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    except (TypeError, ValueError):
        raise ValueError(f"{op}: shape must be a tuple of integers. Received: shape={shape!r}") from None
    if any(s < 0 for s in out):
        raise ValueError(f"{op}: shape must not have negative dimensions. Received: shape={out}")
    return out


def _float_dtype(dtype, op: str) -> np.dtype:
    dt = np.dtype("float32" if dtype is None else dtype)
    if dt.kind != "f":
        raise ValueError(f"{op}: dtype must be a float dtype. Received: dtype={dtype!r}")
    return dt


def _const(arr) -> Tensor:
    return make_op(arr, (), None, "random")


# ---------------------------------------------------------------------------------------
# draws (keras.random)
# ---------------------------------------------------------------------------------------

def normal(shape: Sequence[int], mean: float = 0.0, stddev: float = 1.0, dtype=None,
           seed: SeedLike = None) -> Tensor:
    """Samples of a normal distribution, float32 by default."""
    dt = _float_dtype(dtype, "normal")
    rng = rng_from_seed(seed, "normal")
    return _const((mean + stddev * rng.standard_normal(_shape(shape, "normal"))).astype(dt))


def uniform(shape: Sequence[int], minval: float = 0.0, maxval: float = 1.0, dtype=None,
            seed: SeedLike = None) -> Tensor:
    """Samples of a uniform distribution on [minval, maxval), float32 by default."""
    dt = _float_dtype(dtype, "uniform")
    rng = rng_from_seed(seed, "uniform")
    return _const(rng.uniform(minval, maxval, _shape(shape, "uniform")).astype(dt))


def truncated_normal(shape: Sequence[int], mean: float = 0.0, stddev: float = 1.0, dtype=None,
                     seed: SeedLike = None) -> Tensor:
    """Normal samples with every value farther than two standard deviations from the mean
    drawn again (as ``tf.random.truncated_normal``)."""
    dt = _float_dtype(dtype, "truncated_normal")
    rng = rng_from_seed(seed, "truncated_normal")
    z = rng.standard_normal(_shape(shape, "truncated_normal"))
    bad = np.abs(z) > 2
    while bad.any():  # each pass keeps ~95 % of the redrawn values
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return _const((mean + stddev * z).astype(dt))


def randint(shape: Sequence[int], minval: int, maxval: int, dtype="int32", seed: SeedLike = None) -> Tensor:
    """Integers uniform on [minval, maxval), int32 by default."""
    dt = np.dtype(dtype)
    if maxval <= minval:
        raise ValueError(f"randint: maxval must be greater than minval. Received: minval={minval}, maxval={maxval}")
    rng = rng_from_seed(seed, "randint")
    return _const(rng.integers(minval, maxval, _shape(shape, "randint")).astype(dt))


def categorical(logits, num_samples: int, dtype="int32", seed: SeedLike = None) -> Tensor:
    """Class ids drawn from the softmax of each row of ``logits`` (batch, classes):
    returns (batch, num_samples)."""
    lg = np.asarray(logits.data if isinstance(logits, Tensor) else logits, dtype=np.float64)
    if lg.ndim != 2:
        raise ValueError(f"categorical: logits must have shape (batch_size, num_classes). Received: shape={lg.shape}")
    rng = rng_from_seed(seed, "categorical")
    p = np.exp(lg - lg.max(axis=1, keepdims=True))
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    u = rng.random((lg.shape[0], int(num_samples)))
    ids = (u[:, :, None] > cdf[:, None, :]).sum(axis=2)  # inverse CDF per sample
    return _const(np.minimum(ids, lg.shape[1] - 1).astype(np.dtype(dtype)))


def gamma(shape: Sequence[int], alpha: float, dtype=None, seed: SeedLike = None) -> Tensor:
    """Samples of a gamma distribution of shape ``alpha`` and scale 1."""
    dt = _float_dtype(dtype, "gamma")
    return _const(rng_from_seed(seed, "gamma").gamma(alpha, 1.0, _shape(shape, "gamma")).astype(dt))


def binomial(shape: Sequence[int], counts, probabilities, dtype=None, seed: SeedLike = None) -> Tensor:
    """Samples of a binomial distribution (``counts`` trials of ``probabilities``), as floats."""
    dt = _float_dtype(dtype, "binomial")
    draw = rng_from_seed(seed, "binomial").binomial(np.asarray(counts), np.asarray(probabilities),
                                                   _shape(shape, "binomial"))
    return _const(draw.astype(dt))


def beta(shape: Sequence[int], alpha, beta, dtype=None, seed: SeedLike = None) -> Tensor:  # noqa: F811
    """Samples of a beta distribution."""
    dt = _float_dtype(dtype, "beta")
    draw = rng_from_seed(seed, "beta").beta(np.asarray(alpha), np.asarray(beta), _shape(shape, "beta"))
    return _const(draw.astype(dt))


def shuffle(x, axis: int = 0, seed: SeedLike = None) -> Tensor:
    """``x`` with its slices along ``axis`` in a random order (differentiable: a gather)."""
    if not isinstance(x, Tensor):
        arr = np.asarray(x)
        x = _const(arr) if arr.dtype.kind in "biu" else as_tensor(arr)  # integers stay integers
    if x.ndim == 0 or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"shuffle: axis {axis} is out of range for a tensor of shape {x.shape}")
    perm = rng_from_seed(seed, "shuffle").permutation(x.shape[axis])
    return x[(slice(None),) * (axis % x.ndim) + (perm,)]


def dropout(inputs, rate: float, noise_shape=None, seed: SeedLike = None) -> Tensor:
    """Inverted dropout: zero each element with probability ``rate`` and scale the rest by
    1 / (1 - rate). ``noise_shape`` broadcasts the mask (None entries take the input's
    size). With the global generator the mask follows ``batch_draw`` (data-parallel runs
    use one process's masks)."""
    x = as_tensor(inputs)
    if x.data.dtype.kind != "f":  # an integer tensor (ember.ops) drops out as float32, as Keras
        x = x.astype(np.float32)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1). Received: rate={rate}")
    if noise_shape is not None and len(noise_shape) != x.ndim:
        raise ValueError(f"dropout: noise_shape must have one entry per axis of the input of shape {x.shape}. "
                         f"Received: noise_shape={tuple(noise_shape)}")
    if rate == 0.0:
        return x
    return dropout_with(x, rate, noise_shape, rng_from_seed(seed, "dropout"))


def dropout_with(x: Tensor, rate: float, noise_shape, rng: np.random.Generator) -> Tensor:
    """The dropout op itself (``dropout``, ``layers.Dropout``): a validated float Tensor
    ``x``, 0 < rate < 1, ``noise_shape`` None or one entry per axis (None: the input's size),
    the mask drawn from ``rng`` on x's device."""
    shape = x.shape if noise_shape is None else tuple(x.shape[i] if s is None else int(s)
                                                      for i, s in enumerate(noise_shape))
    batch = noise_shape is None or noise_shape[0] is None  # axis 0 is the batch
    keep = draw_like(x.data, rng, "random", shape, batch=batch) >= rate
    mask = keep * x.data.dtype.type(1.0 / (1.0 - rate))
    return make_op(x.data * mask, (x,), lambda g: (g * mask,), "dropout")
