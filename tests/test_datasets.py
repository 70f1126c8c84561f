"""Dataset loaders: MNIST IDX (gzip and raw, header counts trusted, magic validated, clear
errors) and CIFAR-10 binary, on small files written here; plus a real-MNIST smoke test."""
import gzip
import os
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.datasets import cifar10, mnist

REAL_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
if not REAL_MNIST.exists() and os.environ.get("EMBER_DATASETS"):  # as CI and the README set it
    REAL_MNIST = Path(os.environ["EMBER_DATASETS"]) / "mnist"
if not REAL_MNIST.exists() and os.environ.get("EMBER_MNIST_DIR"):  # e.g. a checkout elsewhere
    REAL_MNIST = Path(os.environ["EMBER_MNIST_DIR"])


def _idx(images: np.ndarray = None, labels: np.ndarray = None) -> bytes:
    if images is not None:
        n, r, c = images.shape
        return (2051).to_bytes(4, "big") + n.to_bytes(4, "big") + r.to_bytes(4, "big") + c.to_bytes(4, "big") + \
            images.astype(np.uint8).tobytes()
    return (2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + labels.astype(np.uint8).tobytes()


def _write_mnist(d: Path, ntr=5, nte=3, gz=True):
    rng = np.random.default_rng(0)
    data = {"train-images-idx3-ubyte": _idx(rng.integers(0, 256, (ntr, 28, 28))),
            "train-labels-idx1-ubyte": _idx(labels=rng.integers(0, 10, ntr)),
            "t10k-images-idx3-ubyte": _idx(rng.integers(0, 256, (nte, 28, 28))),
            "t10k-labels-idx1-ubyte": _idx(labels=rng.integers(0, 10, nte))}
    d.mkdir(parents=True, exist_ok=True)
    for name, raw in data.items():
        if gz:
            with gzip.open(d / (name + ".gz"), "wb") as f:
                f.write(raw)
        else:
            (d / name).write_bytes(raw)
    return data


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_idx(tmp_path, gz):
    data = _write_mnist(tmp_path, gz=gz)
    (xtr, ytr), (xte, yte) = mnist.load_data(str(tmp_path))
    assert xtr.shape == (5, 28, 28) and xtr.dtype == np.uint8 and ytr.shape == (5,) and ytr.dtype == np.uint8
    assert xte.shape == (3, 28, 28) and yte.shape == (3,)
    np.testing.assert_array_equal(xtr.reshape(-1), np.frombuffer(data["train-images-idx3-ubyte"][16:], np.uint8))
    np.testing.assert_array_equal(yte, np.frombuffer(data["t10k-labels-idx1-ubyte"][8:], np.uint8))


def test_mnist_env_and_home_lookup(tmp_path, monkeypatch):
    _write_mnist(tmp_path / "mnist", ntr=2, nte=1)
    monkeypatch.setenv("EMBER_DATASETS", str(tmp_path))
    (xtr, _), _ = ember.datasets.mnist.load_data()
    assert len(xtr) == 2
    monkeypatch.delenv("EMBER_DATASETS")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    _write_mnist(tmp_path / "home" / ".ember" / "datasets" / "mnist", ntr=4, nte=1)
    (xtr, _), _ = mnist.load_data()
    assert len(xtr) == 4


def test_mnist_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBER_DATASETS", raising=False)
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte\.gz.*does not download"):
        mnist.load_data(str(tmp_path / "nothing"))
    _write_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes((2051).to_bytes(4, "big") + bytes(12))
    with pytest.raises(ValueError, match="magic number 2051, expected 2049"):
        mnist.load_data(str(tmp_path))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes((2049).to_bytes(4, "big") + (9).to_bytes(4, "big") + bytes(3))
    with pytest.raises(ValueError, match="truncated"):
        mnist.load_data(str(tmp_path))


def test_cifar10_binary(tmp_path):
    rng = np.random.default_rng(1)
    imgs = {}
    for name, n in [(f"data_batch_{i}.bin", i) for i in range(1, 6)] + [("test_batch.bin", 2)]:
        lab = rng.integers(0, 10, n).astype(np.uint8)
        chw = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
        rec = np.concatenate([lab[:, None], chw.reshape(n, -1)], axis=1)
        (tmp_path / name).write_bytes(rec.tobytes())
        imgs[name] = (chw, lab)
    (xtr, ytr), (xte, yte) = cifar10.load_data(str(tmp_path))
    assert xtr.shape == (15, 32, 32, 3) and xtr.dtype == np.uint8 and ytr.shape == (15, 1)
    assert xte.shape == (2, 32, 32, 3) and yte.shape == (2, 1)
    chw, lab = imgs["data_batch_2.bin"]
    np.testing.assert_array_equal(xtr[1:3], chw.transpose(0, 2, 3, 1))  # NHWC, like Keras
    np.testing.assert_array_equal(ytr[1:3, 0], lab)
    (tmp_path / "test_batch.bin").write_bytes(bytes(100))
    with pytest.raises(ValueError, match="multiple of the 3073-byte record"):
        cifar10.load_data(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="data_batch_1.bin"):
        cifar10.load_data(str(tmp_path / "none"))


def test_real_mnist_smoke():
    if not (REAL_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found at {REAL_MNIST} (the repo's ../shared/data/mnist)")
    (xtr, ytr), (xte, yte) = mnist.load_data(str(REAL_MNIST))
    assert xtr.shape[1:] == (28, 28) and len(xtr) == len(ytr) >= 1000
    assert xte.shape == (10000, 28, 28) and yte.shape == (10000,)
    assert set(np.unique(yte)) == set(range(10))
    assert 20 < xte.mean() < 50  # real digits: mostly black background
    # one conv + pool pass over real digits: finite, right shape
    from ember.layers import Conv2D, MaxPooling2D
    y = MaxPooling2D()(Conv2D(8, 3, activation="relu")(xte[:16, :, :, None].astype(np.float32) / 255))
    assert y.shape == (16, 13, 13, 8) and np.isfinite(y.numpy()).all()
