"""Finding (or downloading) a dataset file, and reading Keras' dataset .npz files safely.

``locate`` looks for a file in the search order of ``_paths`` (``$EMBER_DATASETS/<name>``,
``./data/<name>``, ``./<name>``, the cache) and downloads it with ``get_file`` (hash
checked) only when it is found nowhere.

Keras' imdb.npz and reuters.npz hold ragged sequences as NumPy object arrays, which NumPy
stores as pickles. ``load_npz`` reads numeric members with pickling disabled and object
members with an unpickler that can build NumPy arrays and plain Python values only (any
other global, such as a function to call, is refused), as Keras' own ``npz_utils`` does:
a crafted file cannot run code."""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..utils.file_utils import DownloadError, get_file
from ._paths import cache_dir, candidates

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_ALLOWED_GLOBALS = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                              ("numpy._core.multiarray", "_reconstruct")})


def locate(dataset: str, fname: str, origin: str, file_hash: Optional[str], cache_subdir: str = "datasets") -> Path:
    """``fname`` from the first search folder that has it, else downloaded into the cache."""
    for base in candidates(dataset):
        p = base / fname
        if p.is_file():
            return p
    try:
        return Path(get_file(fname, origin, file_hash=file_hash, cache_subdir=cache_subdir))
    except DownloadError as e:
        where = ", ".join(str(b) for b in candidates(dataset))
        raise FileNotFoundError(
            f"{dataset}: {fname} was not found in {where}, and the download failed ({e}). Put the file in "
            f"{cache_dir() / dataset}, or in DIR/{dataset} and set EMBER_DATASETS=DIR.") from e


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file: only NumPy arrays "
                                     "are read (the file is corrupted or malicious)")


def _read_member(raw: bytes, where: str) -> np.ndarray:
    fp = io.BytesIO(raw)
    try:
        return np.lib.format.read_array(fp, allow_pickle=False)
    except ValueError:
        pass
    fp.seek(0)
    version = np.lib.format.read_magic(fp)
    if version[0] == 1:
        np.lib.format.read_array_header_1_0(fp)
    elif version[0] in (2, 3):  # 3.0 differs from 2.0 only in the header's text encoding
        np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"{where}: unsupported .npy version {version}")
    try:
        out = _RestrictedUnpickler(fp).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError) as e:
        raise ValueError(f"{where}: cannot read it as a NumPy array: {e}") from None
    if not isinstance(out, np.ndarray):
        raise ValueError(f"{where}: holds a {type(out).__name__}, not a NumPy array")
    return out


def load_npz(path) -> Dict[str, np.ndarray]:
    """Every array of an .npz file (object arrays through the restricted unpickler)."""
    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if name.endswith(".npy"):
                    out[name[:-4]] = _read_member(zf.read(name), f"{path}:{name}")
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is not an .npz file (not a zip archive)") from None
    return out


def require(arrays: dict, names: Sequence[str], path, dataset: str) -> List[np.ndarray]:
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ValueError(f"{dataset}: {path} lacks the arrays {missing} (is it Keras' {dataset} file?)")
    return [arrays[n] for n in names]


def shuffled(rng: np.random.RandomState, *arrays) -> Tuple[np.ndarray, ...]:
    """The arrays in one shared order drawn as Keras draws it (``RandomState.shuffle``)."""
    idx = np.arange(len(arrays[0]))
    rng.shuffle(idx)
    return tuple(a[idx] for a in arrays)


def encode_sequences(xs, labels, maxlen, start_char, index_from):
    """Keras' first steps for imdb / reuters: shift the word indices by ``index_from``,
    prepend ``start_char``, drop the sequences of ``maxlen`` words or more."""
    if start_char is not None:
        xs = [[start_char] + [int(w) + index_from for w in x] for x in xs]
    else:
        xs = [[int(w) + index_from for w in x] for x in xs]
    labels = np.asarray(labels)
    if maxlen:
        keep = [i for i, x in enumerate(xs) if len(x) < maxlen]
        xs, labels = [xs[i] for i in keep], labels[keep]
    return xs, labels


def limit_words(xs, num_words, skip_top, oov_char):
    """Words outside ``[skip_top, num_words)`` become ``oov_char`` (dropped when it is None)."""
    if not num_words:
        num_words = max((max(x) for x in xs if x), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def object_array(xs) -> np.ndarray:
    """A 1-D object array of lists (Keras' return type), also when the lists have equal length."""
    out = np.empty(len(xs), dtype=object)
    for i, x in enumerate(xs):
        out[i] = x
    return out
