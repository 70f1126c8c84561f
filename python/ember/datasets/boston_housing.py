"""Boston housing prices, as ``keras.datasets.boston_housing`` (same file, same split).

Keras' ``boston_housing.npz`` (506 rows of 13 attributes, median prices in k$) is looked for
in ``$EMBER_DATASETS/boston_housing``, ``./data/boston_housing``, ``./boston_housing`` and the
cache, else downloaded from Keras' address and checked against Keras' sha256.
Keras' warning stands: the "B" attribute encodes a racial assumption; use the set only to
illustrate such problems."""
from __future__ import annotations

import numpy as np

from . import _files

ORIGIN = _files.KERAS_ORIGIN + "boston_housing.npz"
FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113):
    """``(x_train, y_train), (x_test, y_test)``: float64 (n, 13) and (n,), the rows shuffled
    by ``seed`` and the last ``test_split`` of them the test set."""
    if not 0 <= test_split < 1:
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 (exclusive of 1).")
    p = _files.locate("boston_housing", path, ORIGIN, FILE_HASH)
    try:
        with np.load(p, allow_pickle=False) as f:
            x, y = _files.require(dict(f), ("x", "y"), p, "boston_housing")
    except ValueError as e:
        raise ValueError(f"boston_housing: {p} cannot be read: {e}") from None
    x, y = _files.shuffled(np.random.RandomState(seed), x, y)
    n = int(len(x) * (1 - test_split))
    return (np.array(x[:n]), np.array(y[:n])), (np.array(x[n:]), np.array(y[n:]))
