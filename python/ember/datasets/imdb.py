"""IMDB movie-review sentiment, as ``keras.datasets.imdb`` (same file, same processing).

>>> (x_train, y_train), (x_test, y_test) = ember.datasets.imdb.load_data(num_words=10000)

Keras' ``imdb.npz`` (25,000 training and 25,000 test reviews as word-index lists) is looked
for in ``$EMBER_DATASETS/imdb``, ``./data/imdb``, ``./imdb`` and the cache, else downloaded
from Keras' address and checked against Keras' sha256. Its ragged arrays are read without
running pickled code (``_files.load_npz``)."""
from __future__ import annotations

import json
from typing import Optional

import numpy as np

from . import _files

ORIGIN = _files.KERAS_ORIGIN + "imdb.npz"
FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_ORIGIN = _files.KERAS_ORIGIN + "imdb_word_index.json"
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"  # md5, as Keras


def load_data(path: str = "imdb.npz", num_words: Optional[int] = None, skip_top: int = 0,
              maxlen: Optional[int] = None, seed: int = 113, start_char: Optional[int] = 1,
              oov_char: Optional[int] = 2, index_from: int = 3, **kwargs):
    """``(x_train, y_train), (x_test, y_test)``: x as 1-D object arrays of lists of word
    indices (a word's index is its frequency rank + ``index_from``; each review starts with
    ``start_char``), y as int arrays of 0 / 1. ``num_words`` keeps the most frequent words,
    ``skip_top`` drops the most frequent ones (both become ``oov_char``); ``maxlen`` drops
    reviews of that many words or more; ``seed`` shuffles as Keras does."""
    if kwargs:
        raise TypeError(f"imdb.load_data: unrecognized keyword arguments: {sorted(kwargs)}")
    p = _files.locate("imdb", path, ORIGIN, FILE_HASH)
    f = _files.load_npz(p)
    x_train, y_train, x_test, y_test = _files.require(f, ("x_train", "y_train", "x_test", "y_test"), p, "imdb")
    rng = np.random.RandomState(seed)  # one generator for both orders, as Keras
    x_train, y_train = _files.shuffled(rng, x_train, y_train)
    x_test, y_test = _files.shuffled(rng, x_test, y_test)
    x_train, y_train = _files.encode_sequences(x_train, y_train, maxlen, start_char, index_from)
    x_test, y_test = _files.encode_sequences(x_test, y_test, maxlen, start_char, index_from)
    if maxlen and (not x_train or not x_test):
        raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
                         "Increase maxlen.")
    xs = _files.limit_words(x_train + x_test, num_words, skip_top, oov_char)
    n = len(x_train)
    labels = np.concatenate([y_train, y_test])
    return (_files.object_array(xs[:n]), labels[:n]), (_files.object_array(xs[n:]), labels[n:])


def get_word_index(path: str = "imdb_word_index.json") -> dict:
    """{word: frequency rank (from 1)}; add ``index_from`` to match ``load_data``'s indices."""
    p = _files.locate("imdb", path, WORD_INDEX_ORIGIN, WORD_INDEX_HASH)
    with open(p, encoding="utf-8") as fh:
        return json.load(fh)
