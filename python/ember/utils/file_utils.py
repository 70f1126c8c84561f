"""``get_file``: download a file once into a cache folder, with a hash check (as
``keras.utils.get_file``, without archive extraction).

The cache folder is ``cache_dir`` when given, else ``$EMBER_HOME`` or ``~/.ember``, with
``cache_subdir`` ("datasets") below it; when that cannot be written, ``/tmp/.ember`` (as
Keras falls back to ``/tmp/.keras``). A download goes to a temporary file in the same
folder, ``.<fname>.part``, and is renamed into place only after its hash matched, so an
interrupted or corrupted download never leaves a file that a later call would trust. An
interrupted download keeps its part file, and the next call resumes it with an HTTP
``Range`` request (from the start when the server ignores it). The part file is locked
while a process downloads into it, so two processes asking for the same file download it
once.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

try:  # POSIX; elsewhere concurrent downloads of one file are not serialised
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

from ..fileio import fsync_folder
from .progbar import Progbar

_CHUNK = 1 << 16


class DownloadError(OSError):
    """A file could not be downloaded (no network, HTTP error) or failed its hash check."""


def ember_home() -> Path:
    """``$EMBER_HOME``, else ``~/.ember``."""
    return Path(os.environ.get("EMBER_HOME") or Path.home() / ".ember").expanduser()


def cache_folder(cache_dir=None, cache_subdir: str = "datasets") -> Path:
    """The folder ``get_file`` writes to: created if needed, ``/tmp/.ember`` when not writable."""
    base = Path(cache_dir).expanduser() if cache_dir is not None else ember_home()
    folder = base / cache_subdir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    folder = Path(tempfile.gettempdir()) / ".ember" / cache_subdir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def hash_file(path, algorithm: str = "auto") -> str:
    """The hex digest of a file; ``auto`` is sha256 (Keras' rule picks md5 only for 32-digit
    hashes, see ``validate_file``)."""
    h = hashlib.new("sha256" if algorithm == "auto" else algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _algorithm(file_hash: str, hash_algorithm: str) -> str:
    if hash_algorithm != "auto":
        return hash_algorithm
    return "md5" if len(file_hash) == 32 else "sha256"


def validate_file(path, file_hash: str, hash_algorithm: str = "auto") -> bool:
    """Whether the file's digest is ``file_hash`` (md5 for a 32-digit hash, else sha256)."""
    return hash_file(path, _algorithm(file_hash, hash_algorithm)) == file_hash.lower()


def _download(origin: str, fd: int, verbose: int, timeout: float) -> None:
    """Stream ``origin`` onto the end of the open part file ``fd`` (resuming what it holds
    with a Range request; rewriting it when the server sends the whole file), with a
    progress bar in kilobytes when verbose; fsynced."""
    have = os.fstat(fd).st_size
    headers = {"User-Agent": "ember"}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(origin, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        if have and not (resp.status == 206 and resp.headers.get("Content-Range", "").startswith(f"bytes {have}-")):
            have = 0  # the server sent the whole file
        os.ftruncate(fd, have)
        os.lseek(fd, have, os.SEEK_SET)
        total = have + int(resp.headers.get("Content-Length") or 0)
        bar = Progbar(max(total // 1024, 1), verbose, stream=sys.stderr, unit_name="kB") if verbose and total else None
        done = have
        while True:
            chunk = resp.read(_CHUNK)
            if not chunk:
                break
            os.write(fd, chunk)
            done += len(chunk)
            if bar is not None:
                bar.update(min(done // 1024, bar.target))
        if bar is not None:
            bar.finish()
    os.fsync(fd)
    if total and done < total:  # a short read at EOF is not an error to http.client
        raise ConnectionError(f"the connection closed after {done} of {total} bytes")


@contextlib.contextmanager
def _locked_part(part: Path) -> Iterator[int]:
    """The part file, opened and locked (waiting for another process downloading it)."""
    while True:
        fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(part).st_ino == os.fstat(fd).st_ino:
                break  # still the file at that name (the previous holder did not move it)
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield fd
    finally:
        os.close(fd)


def _fetch(origin: str, part: Path, fd: int, verbose: int, timeout: float) -> None:
    """Download into the locked part file; a 416 (the part is already as long as the file,
    or longer) restarts from nothing once."""
    for attempt in (0, 1):
        try:
            _download(origin, fd, verbose, timeout)
            return
        except urllib.error.HTTPError as e:
            if e.code != 416 or attempt:
                raise
            os.ftruncate(fd, 0)


def get_file(fname: Optional[str] = None, origin: Optional[str] = None, file_hash: Optional[str] = None,
             cache_subdir: str = "datasets", hash_algorithm: str = "auto", cache_dir=None,
             force_download: bool = False, verbose: int = 1, timeout: float = 60.0) -> str:
    """The local path of ``origin``'s file, downloaded into the cache folder unless a copy
    whose hash matches ``file_hash`` (sha256, or md5 for a 32-digit hash) is already there.

    Raises ``DownloadError`` naming the URL, the folder and the cause when the download
    fails (offline, HTTP error) or the downloaded bytes do not match ``file_hash``; in that
    case nothing is left in the cache."""
    if origin is None:
        raise ValueError('get_file: origin is required (the URL to download from). Received: origin=None')
    fname = fname or os.path.basename(urllib.request.urlparse(origin).path)
    if not fname:
        raise ValueError(f"get_file: cannot derive a file name from origin={origin!r}; pass fname=")
    folder = cache_folder(cache_dir, cache_subdir)
    target = folder / fname
    if target.is_file() and not force_download:
        if file_hash is None or validate_file(target, file_hash, hash_algorithm):
            return str(target)
        if verbose:
            print(f"get_file: {target} does not match the expected hash; downloading it again", file=sys.stderr)
    if verbose:
        print(f"Downloading data from {origin}", file=sys.stderr)
    part = folder / f".{fname}.part"
    with _locked_part(part) as fd:
        if not force_download and target.is_file() and os.fstat(fd).st_size == 0 and (
                file_hash is None or validate_file(target, file_hash, hash_algorithm)):
            part.unlink(missing_ok=True)  # another process downloaded it while we waited
            return str(target)
        try:
            _fetch(origin, part, fd, verbose, timeout)
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = f"HTTP {e.code} {e.reason}" if isinstance(e, urllib.error.HTTPError) else (
                getattr(e, "reason", None) or e)
            kept = os.fstat(fd).st_size
            if kept and not isinstance(e, urllib.error.HTTPError):
                reason = f"{reason}; the {kept} bytes received are kept in {part} and the next call resumes"
            else:
                part.unlink(missing_ok=True)
            raise DownloadError(f"get_file: could not download {origin} into {folder}: {reason}") from e
        if file_hash is not None:
            algo = _algorithm(file_hash, hash_algorithm)
            got = hash_file(part, algo)
            if got != file_hash.lower():
                part.unlink(missing_ok=True)
                raise DownloadError(f"get_file: the file downloaded from {origin} has {algo} {got}, expected "
                                    f"{file_hash.lower()}; it was discarded (a corrupted or changed file). "
                                    "Received: a file that does not match file_hash")
        os.replace(part, target)  # atomic: the cache holds a whole, checked file or nothing
    fsync_folder(str(folder))
    return str(target)

