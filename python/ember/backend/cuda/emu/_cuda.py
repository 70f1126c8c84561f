"""``fakecupy.cuda``: the stream/event/device/pinned-memory subset of ``cupy.cuda``.

Emulated launches run synchronously on the calling thread, so a stream orders nothing and
``synchronize`` has nothing to wait for; these objects exist so the GPU backend's code paths
(asynchronous batch copies, timing with events) run unchanged in emulation.
"""
from __future__ import annotations

import time

from .array import Device

__all__ = ["Device", "Stream", "Event", "get_elapsed_time", "alloc_pinned_memory",
           "is_available", "runtime", "get_current_stream"]


class Stream:
    null = None

    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.ptr = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def use(self):
        return self

    def synchronize(self):
        return None

    def wait_event(self, event):
        """Later work on this stream waits for ``event`` (emulated work is already done)."""
        return None

    @property
    def done(self):
        return True


Stream.null = Stream(null=True)


def get_current_stream(device_id=None):
    return Stream.null


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self._t = None

    def record(self, stream=None):
        self._t = time.perf_counter()

    def synchronize(self):
        return None

    @property
    def done(self):
        return True


def get_elapsed_time(start: Event, end: Event) -> float:
    """Milliseconds between two recorded events."""
    return (end._t - start._t) * 1e3


def alloc_pinned_memory(size: int) -> bytearray:
    """Host memory for asynchronous copies (``numpy.frombuffer`` views it, as CuPy's)."""
    return bytearray(size)


def is_available() -> bool:
    return True


class _Runtime:
    @staticmethod
    def getDeviceCount() -> int:
        return 1

    @staticmethod
    def deviceSynchronize() -> None:
        return None

    @staticmethod
    def getDevice() -> int:
        return 0


runtime = _Runtime()
