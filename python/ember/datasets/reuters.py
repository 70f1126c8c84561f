"""Reuters newswire topics, as ``keras.datasets.reuters`` (same file, same processing).

>>> (x_train, y_train), (x_test, y_test) = ember.datasets.reuters.load_data(num_words=10000)

Keras' ``reuters.npz`` (11,228 newswires over 46 topics) is looked for in
``$EMBER_DATASETS/reuters``, ``./data/reuters``, ``./reuters`` and the cache, else downloaded
from Keras' address and checked against Keras' sha256; read without running pickled code."""
from __future__ import annotations

import json
from typing import Optional

import numpy as np

from . import _files

ORIGIN = _files.KERAS_ORIGIN + "reuters.npz"
FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_ORIGIN = _files.KERAS_ORIGIN + "reuters_word_index.json"
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"  # md5, as Keras
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog",
    "lead",
)


def load_data(path: str = "reuters.npz", num_words: Optional[int] = None, skip_top: int = 0,
              maxlen: Optional[int] = None, test_split: float = 0.2, seed: int = 113,
              start_char: Optional[int] = 1, oov_char: Optional[int] = 2, index_from: int = 3):
    """``(x_train, y_train), (x_test, y_test)``: x as 1-D object arrays of word-index lists,
    y as int topic indices (0..45); the last ``test_split`` of the shuffled newswires is the
    test set. The other arguments as ``imdb.load_data``."""
    p = _files.locate("reuters", path, ORIGIN, FILE_HASH)
    f = _files.load_npz(p)
    xs, labels = _files.require(f, ("x", "y"), p, "reuters")
    xs, labels = _files.shuffled(np.random.RandomState(seed), xs, labels)
    xs, labels = _files.encode_sequences(xs, labels, maxlen, start_char, index_from)
    xs = _files.limit_words(xs, num_words, skip_top, oov_char)
    idx = int(len(xs) * (1 - test_split))
    return ((_files.object_array(xs[:idx]), np.array(labels[:idx])),
            (_files.object_array(xs[idx:]), np.array(labels[idx:])))


def get_word_index(path: str = "reuters_word_index.json") -> dict:
    """{word: frequency rank (from 1)}; add ``index_from`` (3) to match ``load_data``."""
    p = _files.locate("reuters", path, WORD_INDEX_ORIGIN, WORD_INDEX_HASH)
    with open(p, encoding="utf-8") as fh:
        return json.load(fh)


def get_label_names() -> tuple:
    """The 46 topic names, indexed by label."""
    return LABEL_NAMES
