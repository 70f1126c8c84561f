"""CIFAR-10 from the binary version, as ``keras.datasets.cifar10.load_data``.

>>> (x_train, y_train), (x_test, y_test) = ember.datasets.cifar10.load_data()

Keras downloads the "python version", whose batches are pickles; unpickling a file runs
whatever code it names, so ember reads the "binary version" instead: the same images and
labels as fixed-size records, from its official address
(https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz) checked against the MD5 the
dataset's authors publish. The archive's six batch files are read straight out of it (by
exact name; nothing is extracted to disk, so no archive path can escape the cache).

Reads data_batch_1.bin .. data_batch_5.bin and test_batch.bin (each record: 1 label byte,
then 3072 bytes of a 32x32 image as 1024 red, 1024 green, 1024 blue values) from ``path``,
else ``$EMBER_DATASETS/cifar10``, ``./data/cifar10``, ``./cifar10`` or the cache
``~/.ember/datasets/cifar10`` (the search order of ``_paths``), as loose files or as the
downloaded archive cifar-10-binary.tar.gz; else the archive is downloaded into the cache.
Returns uint8 images (n, 32, 32, 3) (channels last, as Keras) and uint8 labels (n, 1).
"""
from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ..utils.file_utils import DownloadError, get_file
from ._paths import candidates

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
FILE_HASH = "c32a1d4ab5d03f1284b67883e8d87530"  # md5, from https://www.cs.toronto.edu/~kriz/cifar.html
ARCHIVE = "cifar-10-binary.tar.gz"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
RECORD = 1 + 3072


def read_batch(p, data: Optional[bytes] = None) -> Tuple[np.ndarray, np.ndarray]:
    """One binary batch file (or its ``data``): (images (n, 32, 32, 3) uint8, labels (n, 1) uint8)."""
    raw = np.fromfile(p, dtype=np.uint8) if data is None else np.frombuffer(data, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD:
        raise ValueError(f"cifar10: {p} has {raw.size} bytes, not a positive multiple of the {RECORD}-byte record")
    rec = raw.reshape(-1, RECORD)
    labels = rec[:, :1].copy()
    if labels.max() > 9:
        raise ValueError(f"cifar10: {p} has a label {int(labels.max())} outside 0..9 (is it the binary version?)")
    x = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return x, labels


def read_archive(p: Path):
    """The six batches of cifar-10-binary.tar.gz, read by exact member name."""
    names = [f"cifar-10-batches-bin/{f}" for f in TRAIN_FILES + (TEST_FILE,)]
    try:
        with tarfile.open(p, "r:gz") as tf:
            parts = []
            for n in names:
                member = tf.getmember(n)
                if not member.isfile():
                    raise ValueError(f"cifar10: {p}: {n} is not a regular file")
                parts.append(read_batch(f"{p}:{n}", tf.extractfile(member).read()))
    except KeyError as e:
        raise ValueError(f"cifar10: {p} lacks {e} (is it the CIFAR-10 binary version?)") from None
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ValueError(f"cifar10: {p} is not a readable tar.gz archive ({e})") from None
    return _join(parts)


def _join(parts):
    xtr = np.concatenate([q[0] for q in parts[:-1]])
    ytr = np.concatenate([q[1] for q in parts[:-1]])
    return (xtr, ytr), parts[-1]


def load_data(path: Optional[str] = None) -> Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 (n, 32, 32, 3) and (n, 1). ``path``
    (not in Keras): a folder to read from only, never downloading."""
    tried = candidates("cifar10", path)
    for base in tried:
        if (base / ARCHIVE).is_file():
            return read_archive(base / ARCHIVE)
        if base.is_dir() and (base / "cifar-10-batches-bin").is_dir():
            base = base / "cifar-10-batches-bin"
        files = [base / f for f in TRAIN_FILES + (TEST_FILE,)]
        if all(f.is_file() for f in files):
            return _join([read_batch(f) for f in files])
    where = ", ".join(str(b) for b in tried)
    if path is None:
        try:
            return read_archive(Path(get_file(ARCHIVE, ORIGIN, file_hash=FILE_HASH, cache_subdir="datasets")))
        except DownloadError as e:
            where += f", and the download failed ({e})"
    raise FileNotFoundError(
        f"cifar10: the CIFAR-10 binary files were not found in {where}. Put {', '.join(TRAIN_FILES)} and "
        f"{TEST_FILE} (the 'CIFAR-10 binary version') or {ARCHIVE} in one of those folders, or pass "
        "load_data(path=...) or set $EMBER_DATASETS.")
