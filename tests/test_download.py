"""``ember.utils.get_file`` and ``mnist.load_data()``'s download, against a local HTTP
server on 127.0.0.1 serving real-format files written here (IDX gzip, Keras' npz layout):
download, cache hit, hash mismatch, offline error. Nothing here touches the internet."""
import gzip
import hashlib
import http.server
import io
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from ember.datasets import mnist
from ember.utils import file_utils
from ember.utils.file_utils import DownloadError, get_file


def _idx_images(n: int, seed: int = 0) -> bytes:
    imgs = np.random.default_rng(seed).integers(0, 256, (n, 28, 28)).astype(np.uint8)
    raw = (2051).to_bytes(4, "big") + n.to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")
    return gzip.compress(raw + imgs.tobytes())


class _Server:
    """Serves ``files`` (name -> bytes) and counts the requests per name."""

    def __init__(self, files):
        self.files, self.hits, self.ranges = files, {}, []
        self.honour_ranges, self.cut_after = True, None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                outer.hits[name] = outer.hits.get(name, 0) + 1
                outer.ranges.append(self.headers.get("Range"))
                body = outer.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and outer.honour_ranges:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if outer.cut_after is not None:  # the connection drops part-way, once
                    self.wfile.write(body[start:start + outer.cut_after])
                    outer.cut_after = None
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty ember home (the cache) and working directory, no $EMBER_DATASETS."""
    monkeypatch.setenv("EMBER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EMBER_DATASETS", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


@pytest.fixture
def server():
    s = _Server({})
    yield s
    s.close()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there once the socket is closed


def test_download_then_cache_hit(home, server, capsys):
    body = _idx_images(3)
    server.files["train-images-idx3-ubyte.gz"] = body
    sha = hashlib.sha256(body).hexdigest()
    p = get_file("train-images-idx3-ubyte.gz", server.url + "train-images-idx3-ubyte.gz", file_hash=sha)
    assert Path(p) == home / "datasets" / "train-images-idx3-ubyte.gz" and Path(p).read_bytes() == body
    assert mnist.read_idx(Path(p), images=True).shape == (3, 28, 28)
    assert "Downloading data from" in capsys.readouterr().err
    # second call: the checked copy in the cache, no request
    assert get_file("train-images-idx3-ubyte.gz", server.url + "train-images-idx3-ubyte.gz", file_hash=sha) == p
    assert server.hits == {"train-images-idx3-ubyte.gz": 1}
    # an md5 (32 digits) works too; a corrupted cached copy is downloaded again
    Path(p).write_bytes(b"corrupt")
    md5 = hashlib.md5(body).hexdigest()
    assert get_file("train-images-idx3-ubyte.gz", server.url + "train-images-idx3-ubyte.gz", file_hash=md5,
                    verbose=0) == p
    assert Path(p).read_bytes() == body and server.hits["train-images-idx3-ubyte.gz"] == 2


def test_hash_mismatch_leaves_nothing(home, server):
    server.files["t10k-labels-idx1-ubyte.gz"] = gzip.compress((2049).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"\x07")
    with pytest.raises(DownloadError, match=r"has sha256 [0-9a-f]{64}, expected 0{64}; it was discarded"):
        get_file(origin=server.url + "t10k-labels-idx1-ubyte.gz", file_hash="0" * 64, verbose=0)
    assert list((home / "datasets").iterdir()) == []  # no partial or unchecked file left


def test_offline_and_http_errors(home, server):
    url = _closed_port_url() + "mnist.npz"
    with pytest.raises(DownloadError, match=r"could not download http://127\.0\.0\.1:\d+/mnist\.npz into .*datasets"):
        get_file("mnist.npz", url, verbose=0, timeout=5)
    with pytest.raises(DownloadError, match="404"):
        get_file("missing.gz", server.url + "missing.gz", verbose=0)
    assert list((home / "datasets").iterdir()) == []
    with pytest.raises(ValueError, match="origin is required"):
        get_file("x")


def _npz_bytes() -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    np.savez(buf, x_train=rng.integers(0, 256, (6, 28, 28)).astype(np.uint8),
             y_train=rng.integers(0, 10, 6).astype(np.uint8),
             x_test=rng.integers(0, 256, (2, 28, 28)).astype(np.uint8), y_test=np.array([3, 4], np.uint8))
    return buf.getvalue()


def test_mnist_load_data_downloads_once(home, server, monkeypatch):
    body = _npz_bytes()
    server.files["mnist.npz"] = body
    monkeypatch.setattr(mnist, "ORIGIN", server.url + "mnist.npz")
    monkeypatch.setattr(mnist, "FILE_HASH", hashlib.sha256(body).hexdigest())
    (xtr, ytr), (xte, yte) = mnist.load_data()
    assert xtr.shape == (6, 28, 28) and xtr.dtype == np.uint8 and ytr.shape == (6,) and list(yte) == [3, 4]
    assert (home / "datasets" / "mnist.npz").is_file()
    (xtr2, _), _ = mnist.load_data()  # from the cache
    np.testing.assert_array_equal(xtr, xtr2)
    assert server.hits == {"mnist.npz": 1}


def test_mnist_offline_message_names_folder_and_variable(home, monkeypatch):
    monkeypatch.setattr(mnist, "ORIGIN", _closed_port_url() + "mnist.npz")
    with pytest.raises(FileNotFoundError) as e:
        mnist.load_data()
    msg = str(e.value)
    assert str(home / "datasets" / "mnist") in msg and "EMBER_DATASETS" in msg and "the download failed" in msg
    assert "train-images-idx3-ubyte.gz" in msg


def test_mnist_local_folder_wins_over_download(home, tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "ORIGIN", _closed_port_url() + "mnist.npz")  # would fail if tried
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    (tmp_path / "data" / "mnist" / "mnist.npz").write_bytes(_npz_bytes())
    (xtr, _), _ = mnist.load_data()
    assert xtr.shape == (6, 28, 28)


def test_cache_folder_falls_back_when_not_writable(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(file_utils.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    assert file_utils.cache_folder(blocker, "datasets") == tmp_path / "tmp" / ".ember" / "datasets"


@pytest.mark.parametrize("honour_ranges", [True, False])
def test_an_interrupted_download_resumes(home, server, honour_ranges):
    body = bytes(np.random.default_rng(2).integers(0, 256, 300_000, dtype=np.uint8))
    server.files["big.bin"] = body
    server.honour_ranges, server.cut_after = honour_ranges, 100_000
    sha = hashlib.sha256(body).hexdigest()
    with pytest.raises(DownloadError, match=r"the 100000 bytes received are kept in .*\.big\.bin\.part"):
        get_file("big.bin", server.url + "big.bin", file_hash=sha, verbose=0, timeout=5)
    assert (home / "datasets" / ".big.bin.part").stat().st_size == 100_000
    p = get_file("big.bin", server.url + "big.bin", file_hash=sha, verbose=0, timeout=5)
    assert Path(p).read_bytes() == body
    assert server.ranges == [None, "bytes=100000-"]  # the second request asked for the rest
    assert sorted(f.name for f in (home / "datasets").iterdir()) == ["big.bin"]  # part file gone


def test_a_waiting_process_finds_the_file_downloaded(home, server):
    """Two calls for one file: the second waits on the part file's lock, then finds the
    file in the cache instead of downloading it again."""
    import fcntl
    body = b"x" * 1000
    server.files["f.bin"] = body
    sha = hashlib.sha256(body).hexdigest()
    folder = home / "datasets"
    folder.mkdir(parents=True)
    part = folder / ".f.bin.part"
    results = []
    with open(part, "wb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # "another process" is downloading
        t = threading.Thread(target=lambda: results.append(
            get_file("f.bin", server.url + "f.bin", file_hash=sha, verbose=0)))
        t.start()
        t.join(0.3)
        assert t.is_alive()  # waiting for the lock
        (folder / "f.bin").write_bytes(body)  # the other process finished ...
        part.unlink()  # ... and moved its part file into place
    t.join(10)
    assert results == [str(folder / "f.bin")] and server.hits == {}
    assert sorted(f.name for f in folder.iterdir()) == ["f.bin"]
