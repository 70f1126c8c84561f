"""MNIST from the original IDX files, as ``keras.datasets.mnist.load_data``.

>>> (x_train, y_train), (x_test, y_test) = ember.datasets.mnist.load_data()
>>> x_train.shape, x_train.dtype
((60000, 28, 28), dtype('uint8'))

The four files (gzip-compressed or not) are read from ``path`` when given, else from
``$EMBER_DATASETS/mnist``, else ``~/.ember/datasets/mnist``:
train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), t10k-images-idx3-ubyte(.gz),
t10k-labels-idx1-ubyte(.gz). The counts in each header are trusted (a partial training set
loads as it is). Nothing is downloaded.
"""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ._paths import candidates

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049


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


def load_data(path: Optional[str] = None) -> Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images (n, 28, 28) and labels (n,)."""
    tried = candidates("mnist", path)
    for base in tried:
        found = [_find(base, s) for s in FILES]
        if all(found):
            xtr, ytr = read_idx(found[0], True), read_idx(found[1], False)
            xte, yte = read_idx(found[2], True), read_idx(found[3], False)
            for x, y, which in ((xtr, ytr, "training"), (xte, yte, "test")):
                if len(x) != len(y):
                    raise ValueError(f"mnist: the {which} set has {len(x)} images but {len(y)} labels (in {base})")
            return (xtr, ytr), (xte, yte)
    where = ", ".join(str(b) for b in tried)
    raise FileNotFoundError(
        f"mnist: the MNIST files were not found in {where}. Put {', '.join(s + '.gz' for s in FILES)} "
        "(the original IDX files, gzip-compressed or not) in one of those folders, or pass "
        "load_data(path=...) or set $EMBER_DATASETS. ember does not download data.")
