"""Utilities (Keras names): ``to_categorical``, ``normalize``, ``set_random_seed``, ``get_file``,
``Progbar``, ``plot_history``, ``pad_sequences``, ``plot_model``, ``array_to_img`` /
``img_to_array`` / ``load_img`` / ``save_img``, ``PyDataset`` (``Sequence``), ``unpack_x_y_sample_weight``."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..random import set_seed as set_random_seed  # noqa: F401
from .file_utils import get_file  # noqa: F401
from .image import array_to_img, img_to_array, load_img, save_img  # noqa: F401
from .model_visualization import model_to_dot, plot_model  # noqa: F401
from .plotting import plot_history  # noqa: F401
from .progbar import Progbar  # noqa: F401
from .sequence import pad_sequences  # noqa: F401
from .py_dataset import PyDataset, Sequence  # noqa: F401
from .data_utils import pack_x_y_sample_weight, unpack_x_y_sample_weight  # noqa: F401


def clear_session() -> None:
    """As ``keras.utils.clear_session``: the automatic layer names start again
    (the next Dense is ``dense``). Models already built keep their names."""
    from ..layers.base import reset_names
    reset_names()


def to_categorical(y, num_classes: Optional[int] = None, dtype="float32") -> np.ndarray:
    """Integer class labels (any shape; a trailing axis of size 1 is dropped) to one-hot
    rows of length ``num_classes`` (default max(y) + 1).

    >>> ember.utils.to_categorical([0, 2, 1], 3)
    array([[1., 0., 0.], [0., 0., 1.], [0., 1., 0.]], dtype=float32)
    """
    a = np.asarray(y)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical: labels must be integers. Received: dtype={a.dtype}")
    if a.dtype.kind == "f" and not np.all(np.mod(a, 1) == 0):
        raise ValueError("to_categorical: labels must be integer class indices")
    a = a.astype(np.int64)
    if a.ndim > 1 and a.shape[-1] == 1:
        a = a[..., 0]
    if not num_classes:  # None or 0: from the labels, as Keras
        num_classes = int(a.max()) + 1 if a.size else 0
    if a.size and (a.min() < 0 or a.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}). "
                         f"Received: min={a.min()}, max={a.max()}")
    out = np.zeros(a.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, a[..., None], 1, axis=-1)
    return out


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """Scale ``x`` to unit ``order``-norm along ``axis``."""
    x = np.asarray(x)
    n = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(n == 0, 1, n)
