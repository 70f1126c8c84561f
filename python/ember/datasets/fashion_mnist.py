"""Fashion-MNIST, as ``keras.datasets.fashion_mnist.load_data``.

>>> (x_train, y_train), (x_test, y_test) = ember.datasets.fashion_mnist.load_data()

The four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; gzip-compressed or not) are looked for
in ``$EMBER_DATASETS/fashion_mnist``, ``./data/fashion_mnist``, ``./fashion_mnist`` and the
cache folder ``~/.ember/datasets/fashion-mnist`` (Keras' folder name); missing ones are
downloaded from Keras' address into that folder. Keras checks no hash for these files;
ember checks each against the MD5 Zalando Research publishes for it."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..utils.file_utils import DownloadError, get_file
from . import _files
from ._paths import cache_dir, candidates
from .mnist import FILES, _find, read_idx

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
ORIGIN = _files.KERAS_ORIGIN
# zalandoresearch/fashion-mnist README: the MD5 of each original file.
FILE_HASHES = {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
               "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
               "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
               "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}
CACHE_SUBDIR = "datasets/fashion-mnist"


def _folder() -> Optional[Path]:
    for base in candidates("fashion_mnist") + [cache_dir() / "fashion-mnist"]:
        if all(_find(base, s) for s in FILES):
            return base
    return None


def load_data():
    """``(x_train, y_train), (x_test, y_test)``: uint8 images (n, 28, 28) and uint8 labels (n,)
    (``CLASS_NAMES[label]`` names a label)."""
    base = _folder()
    if base is not None:
        paths = [_find(base, s) for s in FILES]
    else:
        try:
            paths = [Path(get_file(s + ".gz", ORIGIN + s + ".gz", file_hash=FILE_HASHES[s + ".gz"],
                                   cache_subdir=CACHE_SUBDIR)) for s in FILES]
        except DownloadError as e:
            where = ", ".join(str(b) for b in candidates("fashion_mnist"))
            raise FileNotFoundError(
                f"fashion_mnist: the Fashion-MNIST files ({', '.join(s + '.gz' for s in FILES)}) were not found in "
                f"{where}, and the download failed ({e}). Put them in {cache_dir() / 'fashion-mnist'}, or in "
                "DIR/fashion_mnist and set EMBER_DATASETS=DIR.") from e
    xtr, ytr, xte, yte = (read_idx(p, images=i % 2 == 0) for i, p in enumerate(paths))
    for x, y, which in ((xtr, ytr, "training"), (xte, yte, "test")):
        if len(x) != len(y):
            raise ValueError(f"fashion_mnist: the {which} set has {len(x)} images but {len(y)} labels")
    return (xtr, ytr), (xte, yte)
