"""Keras' batch helpers: ``unpack_x_y_sample_weight`` and ``pack_x_y_sample_weight``."""
from __future__ import annotations


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch ``(x,)``, ``(x, y)``, ``(x, y, sw)`` or ``x``
    (``keras.utils.unpack_x_y_sample_weight``)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError("Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`. "
                     f"Received: a tuple of {len(data)} elements")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The batch Keras builds: ``x``, ``(x,)`` (x a list), ``(x, y)`` or ``(x, y, sample_weight)``."""
    if y is None:  # one array needs no tuple (Keras); a list of inputs does
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return x, y
    return x, y, sample_weight
