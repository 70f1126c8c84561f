"""Crash-safe file writes, shared by everything in ember that writes a file a user keeps
(models, weights, downloads).

``atomic_write(path, write)`` writes into a temporary file beside ``path``, fsyncs it,
moves it over ``path`` with ``os.replace`` and fsyncs the folder, so a reader (or a process
restarted after a crash or a power cut) sees the old file or the new one, never a torn one.

A process killed mid-write cannot delete its temporary file. Each writer therefore holds
an exclusive ``flock`` on its temporary file while it writes; the kernel drops the lock
when the process dies, whatever killed it. Before writing, a save removes the temporaries
of the same target whose lock it can take: they belong to dead writers. A live concurrent
writer's file stays locked and is left alone. So a target never has more than one stale
temporary beside it, however many saves were killed.
"""
from __future__ import annotations

import glob
import os
import tempfile
from typing import BinaryIO, Callable

try:  # POSIX; on Windows a killed save leaves its temporary (there is no flock to test)
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms CI runs
    fcntl = None

__all__ = ["atomic_write", "fsync_folder", "temp_prefix"]


def temp_prefix(path: str) -> str:
    """The prefix of the temporary files written for ``path`` (hidden, beside it)."""
    return f".{os.path.basename(path)}.tmp-"


def _remove_dead_temporaries(folder: str, prefix: str) -> None:
    if fcntl is None:
        return
    for stale in glob.glob(os.path.join(glob.escape(folder), glob.escape(prefix) + "*")):
        try:
            fd = os.open(stale, os.O_RDWR)
        except OSError:
            continue  # gone already, or not ours to open
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # locked: a live writer is using it
            continue
        try:
            os.unlink(stale)
        except OSError:
            pass
        finally:
            os.close(fd)


def fsync_folder(folder: str) -> None:
    """fsync a folder, so a rename inside it survives a power cut (where the OS allows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _locked_temp(folder: str, prefix: str):
    """A new temporary file, created and locked. Between creation and lock another save's
    cleaner may take it for a dead writer's and unlink it: then the name no longer leads to
    our file, and we make another."""
    for _ in range(100):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix)
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                return fd, tmp
        except FileNotFoundError:
            pass
        os.close(fd)
    raise OSError(f"atomic_write: could not keep a temporary file in {folder!r} (another process removes them)")


def atomic_write(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` atomically: ``write(f)`` fills a binary file object.

    >>> atomic_write("w.bin", lambda f: f.write(b"data"))
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    prefix = temp_prefix(path)
    _remove_dead_temporaries(folder, prefix)
    fd, tmp = _locked_temp(folder, prefix)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            # Replace while the lock is held, so a concurrent cleaner never sees this
            # file unlocked under its temporary name.
            os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_folder(folder)
