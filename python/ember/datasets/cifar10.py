"""CIFAR-10 from the binary version, as ``keras.datasets.cifar10.load_data``.

>>> (x_train, y_train), (x_test, y_test) = ember.datasets.cifar10.load_data("/data/cifar-10-batches-bin")

Reads data_batch_1.bin .. data_batch_5.bin and test_batch.bin (each record: 1 label byte,
then 3072 bytes of a 32x32 image as 1024 red, 1024 green, 1024 blue values) from ``path``,
else ``$EMBER_DATASETS/cifar10``, ``./data/cifar10``, ``./cifar10`` or the cache
``~/.ember/datasets/cifar10`` (the search order of ``_paths``). Returns uint8 images
(n, 32, 32, 3) (channels last, as Keras) and uint8 labels (n, 1). Nothing is downloaded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ._paths import candidates

TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
RECORD = 1 + 3072


def read_batch(p: Path) -> Tuple[np.ndarray, np.ndarray]:
    """One binary batch file: (images (n, 32, 32, 3) uint8, labels (n, 1) uint8)."""
    raw = np.fromfile(p, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD:
        raise ValueError(f"cifar10: {p} has {raw.size} bytes, not a positive multiple of the {RECORD}-byte record")
    rec = raw.reshape(-1, RECORD)
    labels = rec[:, :1].copy()
    if labels.max() > 9:
        raise ValueError(f"cifar10: {p} has a label {int(labels.max())} outside 0..9 (is it the binary version?)")
    x = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return x, labels


def load_data(path: Optional[str] = None) -> Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 (n, 32, 32, 3) and (n, 1)."""
    tried = candidates("cifar10", path)
    for base in tried:
        if base.is_dir() and (base / "cifar-10-batches-bin").is_dir():
            base = base / "cifar-10-batches-bin"
        files = [base / f for f in TRAIN_FILES + (TEST_FILE,)]
        if all(f.is_file() for f in files):
            parts = [read_batch(f) for f in files[:-1]]
            xtr = np.concatenate([p[0] for p in parts])
            ytr = np.concatenate([p[1] for p in parts])
            xte, yte = read_batch(files[-1])
            return (xtr, ytr), (xte, yte)
    where = ", ".join(str(b) for b in tried)
    raise FileNotFoundError(
        f"cifar10: the CIFAR-10 binary files were not found in {where}. Put {', '.join(TRAIN_FILES)} and "
        f"{TEST_FILE} (the 'CIFAR-10 binary version') in one of those folders, or pass load_data(path=...) "
        "or set $EMBER_DATASETS. ember does not download data.")
