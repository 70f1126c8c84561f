"""MNIST, as ``keras.datasets.mnist.load_data``.

>>> (x_train, y_train), (x_test, y_test) = ember.datasets.mnist.load_data()
>>> x_train.shape, x_train.dtype
((60000, 28, 28), dtype('uint8'))

Looked for, in order (see ``ember.datasets._paths``): ``$EMBER_DATASETS/mnist``,
``./data/mnist``, ``./mnist``, the cache ``~/.ember/datasets/mnist`` and ``~/.ember/datasets``.
A folder holds either the four original IDX files (gzip-compressed or not:
train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), t10k-images-idx3-ubyte(.gz),
t10k-labels-idx1-ubyte(.gz); the counts in each header are trusted, so a partial training
set loads as it is) or Keras' ``mnist.npz``. When none is found, Keras' file is downloaded
from the same address as Keras, checked against the same sha256 and kept in the cache.

``load_data(path)``: a folder or an ``.npz`` file is read from there only (never
downloaded to); a bare file name is the cache name (Keras' meaning, default "mnist.npz").
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ..utils.file_utils import DownloadError, get_file
from ._paths import cache_dir, candidates

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# Keras' own copy (keras/src/datasets/mnist.py): same address, same sha256.
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049

Split = Tuple[np.ndarray, np.ndarray]


def _find(base: Path, stem: str) -> Optional[Path]:
    for name in (stem + ".gz", stem):
        p = base / name
        if p.is_file():
            return p
    return None


def _read(p: Path) -> bytes:
    with open(p, "rb") as f:
        head = f.read(2)
    if head == b"\x1f\x8b":
        with gzip.open(p, "rb") as f:
            return f.read()
    return p.read_bytes()


def read_idx(p: Path, images: bool) -> np.ndarray:
    """One IDX file as a uint8 array: (n, rows, cols) images or (n,) labels."""
    data = _read(Path(p))
    want = _IMAGES_MAGIC if images else _LABELS_MAGIC
    hdr = 16 if images else 8
    if len(data) < hdr:
        raise ValueError(f"mnist: {p} is too short to be an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[0:4], "big")
    if magic != want:
        raise ValueError(f"mnist: {p} has magic number {magic}, expected {want} "
                         f"({'images' if images else 'labels'} IDX file)")
    n = int.from_bytes(data[4:8], "big")
    shape = (n,)
    if images:
        shape = (n, int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big"))
    size = int(np.prod(shape))
    if len(data) - hdr < size:
        raise ValueError(f"mnist: {p} is truncated: the header announces {shape} but holds "
                         f"{len(data) - hdr} bytes of data")
    return np.frombuffer(data, dtype=np.uint8, count=size, offset=hdr).reshape(shape).copy()


def _checked(base, xtr, ytr, xte, yte) -> Tuple[Split, Split]:
    for x, y, which in ((xtr, ytr, "training"), (xte, yte, "test")):
        if len(x) != len(y):
            raise ValueError(f"mnist: the {which} set has {len(x)} images but {len(y)} labels (in {base})")
    return (xtr, ytr), (xte, yte)


def read_npz(p: Path) -> Tuple[Split, Split]:
    """Keras' mnist.npz (x_train, y_train, x_test, y_test as uint8 arrays)."""
    with np.load(p, allow_pickle=False) as f:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
        if missing:
            raise ValueError(f"mnist: {p} lacks the arrays {sorted(missing)} (is it Keras' mnist.npz?)")
        return _checked(p, f["x_train"], f["y_train"], f["x_test"], f["y_test"])


def _from_folder(base: Path, npz_name: str) -> Optional[Tuple[Split, Split]]:
    found = [_find(base, s) for s in FILES]
    if all(found):
        return _checked(base, read_idx(found[0], True), read_idx(found[1], False),
                        read_idx(found[2], True), read_idx(found[3], False))
    if (base / npz_name).is_file():
        return read_npz(base / npz_name)
    return None


def _not_found(where, extra: str = "") -> FileNotFoundError:
    names = ", ".join(s + ".gz" for s in FILES)
    return FileNotFoundError(
        f"mnist: the MNIST files were not found in {where}{extra}. Put {names} (the original IDX files, "
        f"gzip-compressed or not) or Keras' mnist.npz in {cache_dir() / 'mnist'}, or put them in "
        "DIR/mnist and set the variable EMBER_DATASETS=DIR (e.g. `export EMBER_DATASETS=$HOME/data`), "
        "or pass load_data(path=FOLDER).")


def load_data(path: str = "mnist.npz") -> Tuple[Split, Split]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images (n, 28, 28) and uint8 labels (n,)."""
    path = os.fspath(path)
    p = Path(path).expanduser()
    explicit = p.is_absolute() or os.sep in path or p.is_dir() or p.suffix != ".npz"
    if explicit:  # a folder or file named by the caller: read there only
        if p.is_file():
            return read_npz(p)
        got = _from_folder(p, "mnist.npz") if p.is_dir() else None
        if got is None:
            names = ", ".join(s + ".gz" for s in FILES)
            raise FileNotFoundError(
                f"mnist: the MNIST files ({names}, or Keras' mnist.npz) were not found in {p}; load_data(path=...) "
                "with a folder reads that folder only and does not download. Call load_data() without a path to "
                "search $EMBER_DATASETS, ./data/mnist and the cache and download when missing.")
        return got
    for base in candidates("mnist"):
        if base.is_dir():
            got = _from_folder(base, path)
            if got is not None:
                return got
    try:
        return read_npz(Path(get_file(path, ORIGIN, file_hash=FILE_HASH, cache_subdir="datasets")))
    except DownloadError as e:
        where = ", ".join(str(b) for b in candidates("mnist"))
        raise _not_found(where, f", and the download failed ({e})") from e
