"""TextVectorization (Keras 3): strings -> token ids, multi-hot, counts or TF-IDF.

Text processing runs in Python on NumPy arrays of ``str`` (there is no string Tensor):
standardize, split, ngrams, then a dictionary lookup. The result is an ember Tensor
(int64 ids, or float32 for the bag-of-words modes). The vocabulary lives in the config,
so ``model.save`` / ``load_model`` round-trip an adapted layer.
"""
from __future__ import annotations

import re
import warnings
from collections import Counter
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..tensor import Tensor
from .base import Layer

# The punctuation class Keras strips ("lower_and_strip_punctuation" / "strip_punctuation").
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~\']')
# tf.strings.lower (what Keras calls) lowercases ASCII letters only: "É" stays "É".
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")
_MODES = ("int", "multi_hot", "count", "tf_idf")
MASK_TOKEN, OOV_TOKEN = "", "[UNK]"


def _strings(data, encoding: str, what: str) -> np.ndarray:
    """``data`` (str, list, tuple, NumPy array of str/bytes) as an object array of ``str``."""
    if isinstance(data, Tensor):
        raise ValueError(f"{what}: expected strings (a list or a NumPy array of str). "
                         f"Received: a numeric Tensor of shape {data.shape}")
    arr = np.asarray(data, dtype=object)
    flat = arr.reshape(-1)
    for i, v in enumerate(flat):
        if isinstance(v, (bytes, np.bytes_)):
            flat[i] = bytes(v).decode(encoding)
        elif not isinstance(v, str):
            raise ValueError(f"{what}: expected strings. Received: an element of type {type(v).__name__} "
                             f"({v!r}) in an input of shape {arr.shape}")
    return flat.reshape(arr.shape)


def _check_choice(value, allowed: Sequence[str], arg: str, allow_callable: bool = True):
    if value is None or (allow_callable and callable(value)) or value in allowed:
        return value
    raise ValueError(f"TextVectorization: {arg} must be one of {', '.join(map(repr, allowed))}, None"
                     f"{' or a callable' if allow_callable else ''}. Received: {arg}={value!r}")


def _ngrams(tokens: List[str], widths: Tuple[int, ...]) -> List[str]:
    """All n-grams of each width in ``widths``, grouped by width, joined by a space
    (as ``tf.strings.ngrams``)."""
    out = []
    for n in widths:
        out.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return out


class TextVectorization(Layer):
    """Maps a batch of strings to token ids (``output_mode="int"``) or to bag-of-words
    vectors ("multi_hot", "count", "tf_idf"), with Keras 3's arguments and semantics.

    Steps: ``standardize`` (lowercase and/or strip ASCII punctuation, or a callable on the
    NumPy array of strings), ``split`` ("whitespace", "character", None, or a callable on a
    1-D array of strings returning one token list per string), ``ngrams`` (an int n for
    1..n-grams, or a tuple of widths), then lookup. In "int" mode index 0 is padding ("")
    and 1 the out-of-vocabulary token "[UNK]"; in the other modes index 0 is "[UNK]".
    ``output_sequence_length`` pads with 0 / truncates at the end; without it each batch
    is padded to its longest sequence. ``max_tokens`` counts the special tokens.

    ``adapt(data)`` learns the vocabulary: tokens by decreasing frequency, ties broken by
    decreasing token order (as Keras' ``StringLookup``); for "tf_idf" also the weights
    ``log(1 + documents / (1 + documents containing the token))``, "[UNK]" getting their mean.

    >>> layer = TextVectorization(max_tokens=5000, output_sequence_length=4)
    >>> layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    >>> layer([["foo qux bar"], ["qux baz"]]).numpy()
    array([[4, 1, 3, 0],
           [1, 2, 0, 0]])
    """

    def __init__(self, max_tokens: Optional[int] = None,
                 standardize: Union[str, Callable, None] = "lower_and_strip_punctuation",
                 split: Union[str, Callable, None] = "whitespace", ngrams=None, output_mode: str = "int",
                 output_sequence_length: Optional[int] = None, pad_to_max_tokens: bool = False,
                 vocabulary=None, idf_weights=None, sparse: bool = False, ragged: bool = False,
                 encoding: str = "utf-8", **kwargs):
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        kwargs.pop("vocabulary_size", None)  # derived; present in Keras configs
        super().__init__(**kwargs)
        self.standardize = _check_choice(standardize, _STANDARDIZE, "standardize")
        self.split = _check_choice(split, _SPLIT, "split")
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        self.output_mode = _check_choice(output_mode, _MODES, "output_mode", allow_callable=False)
        if self.output_mode is None:
            raise ValueError("TextVectorization: output_mode must not be None. Received: output_mode=None")
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (ngrams is None or (isinstance(ngrams, int) and ngrams >= 1) or
                (isinstance(ngrams, tuple) and ngrams and all(isinstance(n, int) and n >= 1 for n in ngrams))):
            raise ValueError(f"TextVectorization: ngrams must be None, a positive integer, or a tuple of them. "
                             f"Received: ngrams={ngrams!r}")
        self.ngrams = ngrams
        self._widths = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        if output_sequence_length is not None:
            if self.output_mode != "int":
                raise ValueError("TextVectorization: output_sequence_length must not be set if output_mode is not "
                                 f"'int'. Received: output_sequence_length={output_sequence_length!r}")
            if not isinstance(output_sequence_length, (int, np.integer)) or output_sequence_length < 1:
                raise ValueError("TextVectorization: output_sequence_length must be None or a positive integer. "
                                 f"Received: output_sequence_length={output_sequence_length!r}")
            output_sequence_length = int(output_sequence_length)
        self.output_sequence_length = output_sequence_length
        if max_tokens is not None and (not isinstance(max_tokens, (int, np.integer)) or max_tokens <= 1):
            raise ValueError(f"TextVectorization: max_tokens must be None or an integer greater than 1. "
                             f"Received: max_tokens={max_tokens!r}")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        if self.pad_to_max_tokens and self.output_mode != "int" and self.max_tokens is None:
            raise ValueError("TextVectorization: pad_to_max_tokens=True needs max_tokens. Received: max_tokens=None")
        if sparse or ragged:
            raise ValueError("TextVectorization: sparse and ragged outputs need TensorFlow tensors, which ember "
                             f"does not have. Received: sparse={sparse}, ragged={ragged}")
        self.encoding = encoding
        self._token_start = 2 if self.output_mode == "int" else 1
        self._tokens: List[str] = []
        self._index: dict = {}
        self._idf: Optional[np.ndarray] = None
        self._has_input_vocabulary = False
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ValueError("TextVectorization: idf_weights needs a vocabulary. Received: vocabulary=None")
        self._has_input_vocabulary = bool(has_input_vocabulary)
        self.built = True

    # -- vocabulary ---------------------------------------------------------------------
    def _special(self) -> List[str]:
        return [MASK_TOKEN, OOV_TOKEN] if self.output_mode == "int" else [OOV_TOKEN]

    def get_vocabulary(self, include_special_tokens: bool = True) -> List[str]:
        """The vocabulary; with the special tokens a term's position is its index."""
        return (self._special() if include_special_tokens else []) + list(self._tokens)

    def vocabulary_size(self) -> int:
        """Size of the vocabulary, special tokens included."""
        return self._token_start + len(self._tokens)

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Replace the vocabulary (a list / array of terms or the path of a text file with
        one term a line). Leading special tokens ("" and "[UNK]" in "int" mode, "[UNK]"
        otherwise) are accepted and dropped. "tf_idf" needs ``idf_weights``, one per term
        (then "[UNK]" gets their mean) or one per index."""
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding=self.encoding) as f:
                vocabulary = f.read().split("\n")
        vocab = [str(v) for v in _strings(vocabulary, self.encoding, "TextVectorization.set_vocabulary").reshape(-1)]
        special = self._special()
        if vocab[:len(special)] == special:
            vocab = vocab[len(special):]
        bad = sorted({v for v in vocab if v in (MASK_TOKEN, OOV_TOKEN)})
        dupes = sorted(v for v, n in Counter(vocab).items() if n > 1)
        if bad or dupes:
            raise ValueError(f"TextVectorization layer '{self.name}': the vocabulary must not repeat terms or hold "
                             f"the reserved tokens '' and '[UNK]' after the leading special tokens. "
                             f"Received: repeated={dupes}, reserved={bad}")
        if self.max_tokens is not None and len(vocab) + self._token_start > self.max_tokens:
            raise ValueError(f"TextVectorization layer '{self.name}': a vocabulary of {len(vocab)} terms plus "
                             f"{self._token_start} special tokens exceeds max_tokens={self.max_tokens}.")
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError(f"TextVectorization layer '{self.name}': output_mode='tf_idf' needs idf_weights "
                                 "with the vocabulary. Received: idf_weights=None")
            w = np.asarray(idf_weights, dtype=np.float64).reshape(-1)
            if len(w) == len(vocab):
                w = np.concatenate([[w.mean() if len(w) else 0.0], w])
            elif len(w) != len(vocab) + 1 and not (self.pad_to_max_tokens and len(w) == self.max_tokens):
                raise ValueError(f"TextVectorization layer '{self.name}': idf_weights must have one weight per "
                                 f"term ({len(vocab)}) or per index ({len(vocab) + 1}). Received: {len(w)} weights")
            self._idf = w[:len(vocab) + 1]
        elif idf_weights is not None:
            raise ValueError(f"TextVectorization layer '{self.name}': idf_weights is only for output_mode='tf_idf'. "
                             f"Received: output_mode={self.output_mode!r}")
        self._set_tokens(vocab)
        self._has_input_vocabulary = True

    def _set_tokens(self, tokens: List[str]) -> None:
        self._tokens = list(tokens)
        self._index = {t: i + self._token_start for i, t in enumerate(self._tokens)}

    def adapt(self, data, batch_size=None, steps: Optional[int] = None) -> None:
        """Learn the vocabulary (and IDF weights) from ``data``: a list / array of strings
        (one document each), or any iterable of such batches (``steps`` of them at most)."""
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static vocabulary via the "
                             "vocabulary argument or set_vocabulary().")
        if isinstance(data, (str, bytes)):
            batches: Iterable = [[data]]
        elif isinstance(data, (list, tuple, np.ndarray)):
            batches = [data]
        elif hasattr(data, "__iter__"):
            batches = data
        else:
            raise ValueError(f"TextVectorization.adapt: data must be strings, a list / array of them, or an "
                             f"iterable of batches. Received: {type(data).__name__}")
        counts, doc_counts, n_docs = Counter(), Counter(), 0
        for i, batch in enumerate(batches):
            if steps is not None and i >= steps:
                break
            if isinstance(batch, tuple) and len(batch) in (2, 3) and not isinstance(batch[0], str):
                batch = batch[0]  # (x, y) batches of a labelled dataset
            for doc in self._documents(batch, "TextVectorization.adapt"):
                counts.update(doc)
                if self.output_mode == "tf_idf":
                    doc_counts.update(set(doc))
                    n_docs += 1
        for special in (MASK_TOKEN, OOV_TOKEN):
            counts.pop(special, None)
        ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        if self.max_tokens is not None:
            ranked = ranked[:self.max_tokens - self._token_start]
        tokens = [t for t, _ in ranked]
        if self.output_mode == "tf_idf":
            idf = np.log(1.0 + n_docs / (1.0 + np.array([doc_counts[t] for t in tokens], dtype=np.float64)))
            self._idf = np.concatenate([[idf.mean() if len(idf) else 0.0], idf])
        self._set_tokens(tokens)

    # -- processing ---------------------------------------------------------------------
    def _standardized(self, arr: np.ndarray) -> np.ndarray:
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            arr = np.vectorize(lambda s: s.translate(_ASCII_LOWER), otypes=[object])(arr) if arr.size else arr
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            arr = np.vectorize(lambda s: _PUNCTUATION.sub("", s), otypes=[object])(arr) if arr.size else arr
        if callable(self.standardize):
            arr = _strings(self.standardize(arr), self.encoding, f"TextVectorization layer '{self.name}' standardize")
        return arr

    def _documents(self, data, what: str) -> List[List[str]]:
        """One token list per document (after standardize, split and ngrams)."""
        arr = self._standardized(_strings(data, self.encoding, what))
        if self.split is None:
            if arr.ndim == 0:
                arr = arr.reshape(1, 1)
            elif arr.ndim == 1:
                arr = arr.reshape(-1, 1)
            docs = [list(row) for row in arr.reshape(-1, arr.shape[-1])]
        else:
            if arr.ndim == 0:
                arr = arr.reshape(1)
            elif arr.ndim > 1:
                if arr.shape[-1] != 1 or arr.ndim > 2:
                    raise ValueError(f"{what}: to split strings the input must be 1-D (batch,) or 2-D (batch, 1). "
                                     f"Received: inputs.shape={arr.shape}")
                arr = arr[:, 0]
            if self.split == "whitespace":
                docs = [s.split() for s in arr]
            elif self.split == "character":
                docs = [list(s) for s in arr]
            else:
                docs = [[str(t) for t in np.asarray(d, dtype=object).reshape(-1)] for d in self.split(arr)]
        if self._widths is not None:
            docs = [_ngrams(d, self._widths) for d in docs]
        return docs

    def _ids(self, doc: List[str]) -> List[int]:
        get, oov = self._index.get, self._token_start - 1
        mask = self.output_mode == "int"
        return [0 if (mask and t == MASK_TOKEN) else get(t, oov) for t in doc]

    def __call__(self, inputs, *args, training=None, mask=None, **kwargs):
        from ..symbolic import SymbolicTensor
        if isinstance(inputs, SymbolicTensor):
            out = super().__call__(inputs, *args, training=training, mask=mask, **kwargs)
            # The graph is probed with empty strings, which yield no tokens: take the declared
            # shape instead, (batch, output_sequence_length or None) in "int" mode.
            out.shape = (None,) + tuple(self.compute_output_shape(inputs.shape)[1:])
            return out
        return self.call(inputs)

    def call(self, inputs):
        docs = self._documents(inputs, f"TextVectorization layer '{self.name}'")
        ids = [self._ids(d) for d in docs]
        if self.output_mode == "int":
            width = self.output_sequence_length
            if width is None:
                width = max((len(r) for r in ids), default=0)
            out = np.zeros((len(ids), width), dtype=np.int64)
            for i, r in enumerate(ids):
                r = r[:width]
                out[i, :len(r)] = r
            return Tensor(out)  # ember Tensors are floating: ids as float32 (exact below 2**24)
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        if not self.pad_to_max_tokens and not self._tokens and not self._has_input_vocabulary:
            raise RuntimeError(f"When using output_mode={self.output_mode!r} and pad_to_max_tokens=False, you must "
                               "set the layer's vocabulary before calling it. Either pass a vocabulary argument to "
                               "the layer, or call adapt with some sample data.")
        out = np.zeros((len(ids), depth), dtype=np.float32)
        for i, r in enumerate(ids):
            np.add.at(out[i], np.asarray(r, dtype=np.int64), 1.0)
        if self.output_mode == "multi_hot":
            out = np.minimum(out, 1.0)
        elif self.output_mode == "tf_idf":
            idf = np.zeros(depth)
            idf[:len(self._idf)] = self._idf[:depth]
            out = (out * idf).astype(np.float32)
        return Tensor(out)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        return (input_shape[0], self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size())

    # -- config -------------------------------------------------------------------------
    def _callable_entry(self, arg: str, fn):
        if fn is None or isinstance(fn, str):
            return fn
        warnings.warn(f"TextVectorization layer '{self.name}': {arg}={fn!r} is a callable and cannot be written "
                      "into the config; rebuilding the layer from it will fail until you pass it again",
                      RuntimeWarning, stacklevel=3)
        return {"callable": getattr(fn, "__name__", repr(fn))}

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(max_tokens=self.max_tokens, standardize=self._callable_entry("standardize", self.standardize),
                   split=self._callable_entry("split", self.split),
                   ngrams=list(self.ngrams) if isinstance(self.ngrams, tuple) else self.ngrams,
                   output_mode=self.output_mode, output_sequence_length=self.output_sequence_length,
                   pad_to_max_tokens=self.pad_to_max_tokens, sparse=False, ragged=False,
                   vocabulary=list(self._tokens) if (self._tokens or self._has_input_vocabulary) else None,
                   idf_weights=None if self._idf is None else [float(w) for w in self._idf],
                   encoding=self.encoding, vocabulary_size=self.vocabulary_size(),
                   has_input_vocabulary=self._has_input_vocabulary)
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "TextVectorization":
        config = dict(config)
        for arg in ("standardize", "split"):
            if isinstance(config.get(arg), dict):
                raise ValueError(f"TextVectorization.from_config: {arg} was the custom callable "
                                 f"{config[arg].get('callable')!r}, which a config cannot hold. Rebuild the layer "
                                 f"with TextVectorization({arg}=<your function>) and set_vocabulary().")
        has_input = config.pop("has_input_vocabulary", config.get("vocabulary") is not None)
        vocab, idf = config.pop("vocabulary", None), config.pop("idf_weights", None)
        layer = cls(**config)
        if vocab is not None:
            layer.set_vocabulary(vocab, idf)
        layer._has_input_vocabulary = bool(has_input)
        return layer
