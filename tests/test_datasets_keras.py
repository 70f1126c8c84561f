"""fashion_mnist, cifar10, imdb, reuters and boston_housing ``load_data()`` as Keras: the
search order, then a hash-checked download, against a local HTTP server on 127.0.0.1 that
serves the real file formats, written small here (no internet)."""
import gzip
import hashlib
import io
import json
import pickle
import tarfile

import numpy as np
import pytest

from ember.datasets import _files, boston_housing, cifar10, fashion_mnist, imdb, reuters
from test_download import _closed_port_url, _Server


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EMBER_DATASETS", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


@pytest.fixture
def server():
    s = _Server({})
    yield s
    s.close()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _ragged(seqs) -> np.ndarray:
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = list(s)
    return out


def _serve(server, monkeypatch, module, name, body, attr="ORIGIN", hash_attr="FILE_HASH", algo="sha256"):
    server.files[name] = body
    monkeypatch.setattr(module, attr, server.url + name)
    monkeypatch.setattr(module, hash_attr, hashlib.new(algo, body).hexdigest())


# -- imdb / reuters ----------------------------------------------------------------------------
TRAIN = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10], [2, 2]]
TEST = [[3, 1], [11, 12, 13], [5]]


def _imdb_body():
    return _npz(x_train=_ragged(TRAIN), y_train=np.array([1, 0, 1, 0]), x_test=_ragged(TEST),
                y_test=np.array([0, 1, 1]))


def _keras_imdb(num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2, index_from=3):
    """Keras 3's imdb.load_data processing, step by step, on TRAIN / TEST."""
    xtr, ytr = np.array(_ragged(TRAIN)), np.array([1, 0, 1, 0])
    xte, yte = np.array(_ragged(TEST)), np.array([0, 1, 1])
    rng = np.random.RandomState(seed)
    i = np.arange(len(xtr)); rng.shuffle(i); xtr, ytr = xtr[i], ytr[i]
    i = np.arange(len(xte)); rng.shuffle(i); xte, yte = xte[i], yte[i]
    xtr = [[start_char] + [w + index_from for w in x] for x in xtr]
    xte = [[start_char] + [w + index_from for w in x] for x in xte]
    if maxlen:
        keep = [k for k, x in enumerate(xtr) if len(x) < maxlen]; xtr, ytr = [xtr[k] for k in keep], ytr[keep]
        keep = [k for k, x in enumerate(xte) if len(x) < maxlen]; xte, yte = [xte[k] for k in keep], yte[keep]
    xs = xtr + xte
    nw = num_words or max(max(x) for x in xs)
    xs = [[w if skip_top <= w < nw else oov_char for w in x] for x in xs]
    return xs[:len(xtr)], np.concatenate([ytr, yte])[:len(xtr)], xs[len(xtr):]


@pytest.mark.parametrize("kw", [{}, {"num_words": 8, "skip_top": 4}, {"maxlen": 5, "seed": 3}])
def test_imdb_download_and_keras_processing(home, server, monkeypatch, kw):
    _serve(server, monkeypatch, imdb, "imdb.npz", _imdb_body())
    (xtr, ytr), (xte, yte) = imdb.load_data(**kw)
    want_x, want_y, want_xte = _keras_imdb(**kw)
    assert xtr.dtype == object and xtr.ndim == 1 and [list(x) for x in xtr] == want_x
    assert list(ytr) == list(want_y) and [list(x) for x in xte] == want_xte and len(yte) == len(want_xte)
    assert (home / "datasets" / "imdb.npz").is_file()
    imdb.load_data(**kw)  # from the cache
    assert server.hits == {"imdb.npz": 1}


def test_imdb_word_index_and_hash_mismatch(home, server, monkeypatch):
    body = json.dumps({"the": 1, "movie": 2}).encode()
    _serve(server, monkeypatch, imdb, "imdb_word_index.json", body, "WORD_INDEX_ORIGIN", "WORD_INDEX_HASH", "md5")
    assert imdb.get_word_index() == {"the": 1, "movie": 2}
    server.files["imdb.npz"] = _imdb_body()
    monkeypatch.setattr(imdb, "ORIGIN", server.url + "imdb.npz")
    monkeypatch.setattr(imdb, "FILE_HASH", "0" * 64)
    with pytest.raises(FileNotFoundError, match="expected 0{64}"):
        imdb.load_data()
    assert not (home / "datasets" / "imdb.npz").exists()


def test_reuters_split_and_labels(home, server, monkeypatch):
    xs = [[1, 2], [3], [4, 5, 6], [7], [8, 9], [1]]
    _serve(server, monkeypatch, reuters, "reuters.npz", _npz(x=_ragged(xs), y=np.arange(6)))
    (xtr, ytr), (xte, yte) = reuters.load_data(test_split=0.5)
    idx = np.arange(6); np.random.RandomState(113).shuffle(idx)
    assert list(ytr) + list(yte) == list(idx) and len(xtr) == 3
    assert [list(x) for x in xtr] == [[1] + [w + 3 for w in xs[i]] for i in idx[:3]]
    assert len(reuters.get_label_names()) == 46


def test_npz_object_member_cannot_run_code(home, tmp_path, monkeypatch):
    """A pickle that names a function to call is refused; NumPy arrays and lists load."""
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    raw = io.BytesIO()
    np.lib.format.write_array(raw, np.array([Evil()], dtype=object), allow_pickle=True)
    bad = io.BytesIO()
    import zipfile
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("x_train.npy", raw.getvalue())
    (tmp_path / "data" / "imdb").mkdir(parents=True)
    (tmp_path / "data" / "imdb" / "imdb.npz").write_bytes(bad.getvalue())
    with pytest.raises(ValueError, match="refusing to load builtins.print"):
        imdb.load_data()
    assert pickle.loads(pickle.dumps(1)) == 1  # (the unpickler is ours, pickle itself untouched)


# -- boston_housing ----------------------------------------------------------------------------
def test_boston_housing(home, server, monkeypatch):
    x = np.arange(10 * 13, dtype=np.float64).reshape(10, 13)
    y = np.arange(10, dtype=np.float64)
    _serve(server, monkeypatch, boston_housing, "boston_housing.npz", _npz(x=x, y=y))
    (xtr, ytr), (xte, yte) = boston_housing.load_data()
    idx = np.arange(10); np.random.RandomState(113).shuffle(idx)
    np.testing.assert_array_equal(xtr, x[idx[:8]]); np.testing.assert_array_equal(yte, y[idx[8:]])
    assert xtr.shape == (8, 13) and xte.shape == (2, 13)
    with pytest.raises(ValueError, match="test_split"):
        boston_housing.load_data(test_split=1.0)


def test_local_copy_wins_and_offline_error(home, tmp_path, monkeypatch):
    monkeypatch.setattr(boston_housing, "ORIGIN", _closed_port_url() + "boston_housing.npz")
    with pytest.raises(FileNotFoundError, match=r"boston_housing\.npz was not found in .*EMBER_DATASETS"):
        boston_housing.load_data()
    (tmp_path / "ds" / "boston_housing").mkdir(parents=True)
    (tmp_path / "ds" / "boston_housing" / "boston_housing.npz").write_bytes(
        _npz(x=np.ones((5, 13)), y=np.zeros(5)))
    monkeypatch.setenv("EMBER_DATASETS", str(tmp_path / "ds"))
    (xtr, _), (xte, _) = boston_housing.load_data()
    assert len(xtr) + len(xte) == 5


# -- fashion_mnist -----------------------------------------------------------------------------
def _idx(arr: np.ndarray, images: bool) -> bytes:
    head = (2051 if images else 2049).to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return gzip.compress(head + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_download(home, server, monkeypatch):
    rng = np.random.default_rng(0)
    xtr, ytr = rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 10, 5)
    xte, yte = rng.integers(0, 256, (2, 28, 28)), rng.integers(0, 10, 2)
    bodies = {"train-images-idx3-ubyte.gz": _idx(xtr, True), "train-labels-idx1-ubyte.gz": _idx(ytr, False),
              "t10k-images-idx3-ubyte.gz": _idx(xte, True), "t10k-labels-idx1-ubyte.gz": _idx(yte, False)}
    server.files.update(bodies)
    monkeypatch.setattr(fashion_mnist, "ORIGIN", server.url)
    monkeypatch.setattr(fashion_mnist, "FILE_HASHES", {k: hashlib.md5(v).hexdigest() for k, v in bodies.items()})
    (a, b), (c, d) = fashion_mnist.load_data()
    assert a.dtype == np.uint8 and a.shape == (5, 28, 28) and b.shape == (5,)
    np.testing.assert_array_equal(a, xtr); np.testing.assert_array_equal(d, yte)
    assert (home / "datasets" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    fashion_mnist.load_data()
    assert all(n == 1 for n in server.hits.values()) and len(server.hits) == 4


# -- cifar10 -----------------------------------------------------------------------------------
def _cifar_archive(n=2) -> bytes:
    rng = np.random.default_rng(5)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in cifar10.TRAIN_FILES + (cifar10.TEST_FILE,):
            rec = np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 256, (n, 3072))], axis=1)
            data = rec.astype(np.uint8).tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_cifar10_downloads_the_binary_archive(home, server, monkeypatch):
    _serve(server, monkeypatch, cifar10, "cifar-10-binary.tar.gz", _cifar_archive(), algo="md5")
    (xtr, ytr), (xte, yte) = cifar10.load_data()
    assert xtr.shape == (10, 32, 32, 3) and ytr.shape == (10, 1) and xte.shape == (2, 32, 32, 3)
    assert xtr.dtype == np.uint8 and ytr.max() <= 9
    cifar10.load_data()
    assert server.hits == {"cifar-10-binary.tar.gz": 1}
    assert not (home / "datasets" / "cifar-10-batches-bin").exists()  # read from the archive, nothing extracted


def test_cifar10_offline_and_bad_archive(home, tmp_path, monkeypatch):
    monkeypatch.setattr(cifar10, "ORIGIN", _closed_port_url() + "cifar-10-binary.tar.gz")
    with pytest.raises(FileNotFoundError, match="the download failed"):
        cifar10.load_data()
    (tmp_path / "data" / "cifar10").mkdir(parents=True)
    (tmp_path / "data" / "cifar10" / "cifar-10-binary.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ValueError, match="not a readable tar.gz"):
        cifar10.load_data()


def test_load_npz_reads_numeric_without_pickle(tmp_path):
    p = tmp_path / "a.npz"
    p.write_bytes(_npz(a=np.arange(3), b=_ragged([[1], [2, 3]])))
    got = _files.load_npz(p)
    assert list(got["a"]) == [0, 1, 2] and [list(x) for x in got["b"]] == [[1], [2, 3]]
