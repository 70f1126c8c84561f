"""What fit / evaluate / predict iterate over, as Keras 3's data adapters: NumPy arrays
(ember's fast path: sliced rows, shuffled with ember's generator), Python generators and
other iterables of ``(x,)`` / ``(x, y)`` / ``(x, y, sample_weight)`` batches, a
``ember.utils.PyDataset`` (Keras' ``PyDataset`` / ``Sequence``) and, duck typed so that
neither is imported, a ``torch.utils.data.DataLoader`` (its tensors become arrays through
``.numpy()``) or a ``tf.data.Dataset`` (through ``as_numpy_iterator``).

Every adapter yields batches as Keras' ``train_step`` receives them: a tuple ``(x,)``,
``(x, y)`` or ``(x, y, sample_weight)`` whose leaves are NumPy arrays, in the structure the
user gave (one array, a list or a dict)."""
from __future__ import annotations

import math
from typing import Iterator, Optional

import numpy as np

from .. import random as erandom
from ..tensor import Tensor
from ..utils.data_utils import pack_x_y_sample_weight, unpack_x_y_sample_weight  # noqa: F401 (re-exported)
from ..utils.py_dataset import PyDataset
from . import data as D


# -- trees of arrays ----------------------------------------------------------------------
def _leaf(v, who: str, what: str, dtype):
    """One leaf as an array: torch / TensorFlow tensors through ``.numpy()`` (duck typed)."""
    if v is None or isinstance(v, np.ndarray):
        return None if v is None else D.to_array(v, who, what, dtype)
    if not isinstance(v, Tensor) and hasattr(v, "numpy") and callable(v.numpy):
        if hasattr(v, "detach"):  # torch: no autograd history, on the CPU
            v = v.detach().cpu()
        v = v.numpy()
    return D.to_array(v, who, what, dtype)


def to_tree(v, who: str, what: str, dtype=np.float32):
    """A nest of lists / tuples / dicts with array leaves (None kept)."""
    if isinstance(v, dict):
        return {k: to_tree(a, who, f"{what}[{k!r}]", dtype) for k, a in v.items()}
    if isinstance(v, (list, tuple)) and not (v and np.isscalar(v[0])):
        return [to_tree(a, who, f"{what}[{i}]", dtype) for i, a in enumerate(v)]
    return _leaf(v, who, what, dtype)


def tree_take(v, idx):
    if v is None:
        return None
    if isinstance(v, dict):
        return {k: tree_take(a, idx) for k, a in v.items()}
    if isinstance(v, (list, tuple)):
        return [tree_take(a, idx) for a in v]
    return v[idx]


def tree_leaves(v) -> list:
    if isinstance(v, dict):
        return [l for a in v.values() for l in tree_leaves(a)]
    if isinstance(v, (list, tuple)):
        return [l for a in v for l in tree_leaves(a)]
    return [] if v is None else [v]


def num_rows(v, who: str) -> int:
    rows = {a.shape[0] for a in tree_leaves(v)}
    if len(rows) != 1:
        raise ValueError(f"{who}: all inputs must have the same number of samples. Received: "
                         f"{[a.shape[0] for a in tree_leaves(v)]}")
    return rows.pop()


def class_weighted(batch, class_weight: dict):
    """The batch with Keras' class weights folded into its sample weights (one output)."""
    x, y, sw = unpack_x_y_sample_weight(batch)
    if y is None:
        raise ValueError("fit: class_weight needs targets y")
    if isinstance(y, (list, dict)):
        if len(tree_leaves(y)) != 1:
            raise ValueError("fit: class_weight is only supported for models with a single output; "
                             "pass sample_weight per output instead")
        y = tree_leaves(y)[0]
    y = np.asarray(y)
    lab = y.argmax(-1) if (y.ndim > 1 and y.shape[-1] > 1) else y.reshape(y.shape[0], -1)[:, 0]
    w = np.vectorize(lambda c: float(class_weight.get(int(c), 1.0)))(lab).astype(
        sw.dtype if isinstance(sw, np.ndarray) and sw.dtype.kind == "f" else np.float32)
    if isinstance(sw, (list, tuple)):
        sw = sw[0]
    return x, batch[1], w if sw is None else np.asarray(sw) * w


# -- adapters -----------------------------------------------------------------------------
class DataAdapter:
    """One source of batches. ``num_batches``: batches per pass (None: unknown until the
    data runs out); ``batches()``: an iterator over the next pass."""
    num_batches: Optional[int] = None

    def batches(self) -> Iterator:
        raise NotImplementedError

    def on_epoch_end(self) -> None:
        pass


class ArrayDataAdapter(DataAdapter):
    """In-memory arrays: batches of ``batch_size`` rows, ``shuffle`` True (a new permutation
    each epoch, from ember's generator), "batch" (batches in order, rows shuffled within
    each, as Keras) or False; ``steps`` batches per epoch wrap around the data."""

    def __init__(self, x, y=None, sample_weight=None, batch_size: int = 32, shuffle=False,
                 steps: Optional[int] = None, who: str = "fit"):
        self.x, self.y, self.sw = x, y, sample_weight
        self.n = num_rows(x, who)
        if self.n == 0:
            raise ValueError(f"{who}: x has no samples")
        self.batch_size, self.shuffle = batch_size, shuffle
        self.num_batches = steps or math.ceil(self.n / batch_size)

    def batches(self):
        n, bs = self.n, self.batch_size
        order = erandom.generator().permutation(n) if self.shuffle and self.shuffle != "batch" else None
        for step in range(self.num_batches):
            lo = (step * bs) % n
            hi = min(lo + bs, n)
            if order is not None:
                idx = order[lo:hi]
            elif self.shuffle == "batch":
                idx = erandom.generator().permutation(hi - lo) + lo
            else:
                idx = slice(lo, hi)
            yield pack_x_y_sample_weight(tree_take(self.x, idx), tree_take(self.y, idx), tree_take(self.sw, idx))


class IterableDataAdapter(DataAdapter):
    """A generator, any iterable of batches, a torch DataLoader or a tf.data.Dataset. A
    generator is one stream over all epochs; an iterable that can be iterated again
    starts a new pass when the previous one has run out."""

    def __init__(self, data, who: str, dtype):
        self.data, self.who, self.dtype = data, who, dtype
        self._once = None if hasattr(data, "as_numpy_iterator") or iter(data) is not data else data
        try:
            self.num_batches = len(data)
        except TypeError:
            self.num_batches = None

    def batches(self):
        if self._once is not None:  # a generator: one stream for every epoch
            it = self._once
        elif hasattr(self.data, "as_numpy_iterator"):  # tf.data.Dataset
            it = iter(self.data.as_numpy_iterator())
        else:
            it = iter(self.data)
        for item in it:
            yield self._convert(item)

    def _convert(self, item):
        x, y, sw = unpack_x_y_sample_weight(item)
        return pack_x_y_sample_weight(to_tree(x, self.who, "x", self.dtype), to_tree(y, self.who, "y", self.dtype),
                                      to_tree(sw, self.who, "sample_weight", self.dtype))


class PyDatasetAdapter(IterableDataAdapter):
    """A ``PyDataset``: ``len(ds)`` batches per epoch, ``ds[i]`` loaded by ``ds.workers``
    threads ahead of the step (see ember.utils.PyDataset), ``on_epoch_end`` after each
    epoch; ``shuffle`` visits the batches in a random order (Keras)."""

    def __init__(self, data, shuffle, who: str, dtype):
        super().__init__(data, who, dtype)
        self.shuffle = bool(shuffle) and shuffle != "batch"

    def batches(self):
        n = len(self.data)
        order = erandom.generator().permutation(n) if self.shuffle else np.arange(n)
        for item in self.data._iterate([int(i) for i in order]):
            yield self._convert(item)

    def on_epoch_end(self) -> None:
        self.data.on_epoch_end()


def is_array_like(x) -> bool:
    """Arrays, Tensors, lists / dicts of them (not a dataset or a generator)."""
    if isinstance(x, (np.ndarray, Tensor)) or np.isscalar(x):
        return True
    if isinstance(x, dict):
        return all(is_array_like(v) for v in x.values())
    if isinstance(x, list) and x and all(isinstance(v, tuple) for v in x):
        return False  # a list of (x, y) batches
    if isinstance(x, (list, tuple)):
        return all(v is None or is_array_like(v) or (isinstance(v, (list, tuple)) and not v) for v in x) \
            or (bool(x) and np.isscalar(x[0]))
    return hasattr(x, "__array__") or (hasattr(x, "shape") and hasattr(x, "dtype") and not hasattr(x, "__next__"))


def get_data_adapter(x, who: str, dtype, shuffle=False) -> DataAdapter:
    """The adapter for a dataset ``x`` that is not arrays."""
    if isinstance(x, PyDataset):
        return PyDatasetAdapter(x, shuffle, who, dtype)
    if hasattr(x, "__iter__") or hasattr(x, "__next__") or hasattr(x, "as_numpy_iterator"):
        return IterableDataAdapter(x, who, dtype)
    raise TypeError(f"{who}: x must be arrays, a generator / iterable of batches, a PyDataset, a "
                    f"torch DataLoader or a tf.data.Dataset. Received: {type(x).__name__}")
